import { codeShape, splitTopLevel } from './pythonLexing';

/** What a Python function accepts, enough to check a call's arity before anything runs. */
export interface Signature {
  /** Parameters that may be passed by position, in order (positional-only ones included). */
  positional: { name: string; optional: boolean }[];
  /** How many of `positional` are positional-only (before a `/`). */
  positionalOnly: number;
  /** `*args`: any number of further positional arguments. */
  varargs: boolean;
  keywordOnly: { name: string; optional: boolean }[];
  /** `**kwargs`: any further keyword arguments. */
  varkw: boolean;
}

/** Reads a parameter list as written between a def's parentheses: "a, b=2, *rest, n, **kw". */
export function parseParameters(parameters: string): Signature {
  const sig: Signature = { positional: [], positionalOnly: 0, varargs: false, keywordOnly: [], varkw: false };
  const { text, shape } = codeShape(parameters);
  let keywordOnly = false;
  for (const [a, b] of splitTopLevel(shape)) {
    const param = text.slice(a, b).trim();
    const paramShape = shape.slice(a, b).trim();
    if (param === '/') {
      sig.positionalOnly = sig.positional.length;
    } else if (param.startsWith('**')) {
      sig.varkw = true;
    } else if (param.startsWith('*')) {
      sig.varargs = param !== '*';
      keywordOnly = true;
    } else {
      const name = /^[A-Za-z_]\w*/.exec(param)?.[0] ?? param;
      const optional = /=/.test(paramShape.replace(/[=!<>]=/g, ''));
      (keywordOnly ? sig.keywordOnly : sig.positional).push({ name, optional });
    }
  }
  return sig;
}

/** Why calling a function of this signature with these arguments would fail, or undefined if it would not. */
export function arityProblem(name: string, sig: Signature, positional: number, keywords: string[]): string | undefined {
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const max = sig.positional.length;
  if (positional > max && !sig.varargs) {
    return `${name}() takes ${plural(max, 'positional argument')} but ${positional} ${positional === 1 ? 'was' : 'were'} given`;
  }
  const byPosition = sig.positional.slice(0, positional);
  for (const k of keywords) {
    const at = sig.positional.findIndex((p) => p.name === k);
    if (at >= 0 && at < sig.positionalOnly) return `${name}() got positional-only argument '${k}' passed as a keyword`;
    if (byPosition.some((p) => p.name === k)) return `${name}() got multiple values for argument '${k}'`;
    if (at < 0 && !sig.keywordOnly.some((p) => p.name === k) && !sig.varkw) return `${name}() got an unexpected keyword argument '${k}'`;
  }
  const missing = [...sig.positional.slice(positional), ...sig.keywordOnly].filter((p) => !p.optional && !keywords.includes(p.name));
  if (missing.length) {
    return `${name}() is missing ${plural(missing.length, 'required argument')}: ${missing.map((p) => `'${p.name}'`).join(', ')}`;
  }
  return undefined;
}
