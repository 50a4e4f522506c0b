import { MeadowrunError } from './errors';
import { codeShape, matchingBracket, splitTopLevel } from './pythonLexing';

/** A function call's arguments, as the engine takes them: Python literal (or JSON) texts. */
export interface CallArguments {
  /** A list literal: "[1, 2]". */
  args: string;
  /** A dict literal: '{"n": 3}'. */
  kwargs: string;
  positional: number;
  keywords: string[];
}

export const CALL_ARGUMENTS_HELP = 'e.g. 2, 3   or   2, 3, n=4   or   [2, 3], {"n": 4}';

/**
 * Reads what a user typed as a function's arguments. Accepted, all as Python literals or JSON:
 * - the arguments as between a call's parentheses: `2, 3, n=4` (or the whole call: `add(2, 3, n=4)`);
 * - a list (or tuple) of positional arguments, optionally followed by a dict of keyword ones:
 *   `[2, 3]`, `[2, 3], {"n": 4}` — what earlier versions took, and what the CLI's --args takes.
 * The values themselves are checked by Python later (locally before anything launches).
 */
export function parseCallArguments(input: string): CallArguments {
  const bad = (why: string): never => {
    throw new MeadowrunError(`Arguments: ${why} (${CALL_ARGUMENTS_HELP})`, 'bad-arguments');
  };
  const { text, shape, problem } = codeShape(input);
  if (problem) bad(problem);
  if (!text) return { args: '[]', kwargs: '{}', positional: 0, keywords: [] };

  // The whole call, `name(…)`: keep what is between the parentheses.
  const call = /^[A-Za-z_][\w.]*\s*\(/.exec(shape);
  if (call && shape.endsWith(')') && matchingBracket(shape, call[0].length - 1) === shape.length - 1) {
    return callStyle(text.slice(call[0].length, -1), shape.slice(call[0].length, -1), bad);
  }
  const parts = splitTopLevel(shape);
  const isSeq = ([a, b]: [number, number]) => /^[[(][\s\S]*[\])]$/.test(shape.slice(a, b).trim()) && !hasKeyword(shape.slice(a + 1, b - 1));
  const isDict = ([a, b]: [number, number]) => /^\{[\s\S]*\}$/.test(shape.slice(a, b).trim());
  if ((parts.length === 1 && isSeq(parts[0])) || (parts.length === 2 && isSeq(parts[0]) && isDict(parts[1]))) {
    const [first, second] = parts;
    const seq = text.slice(first[0], first[1]).trim();
    const inner = shape.slice(first[0], first[1]).trim().slice(1, -1);
    const kwargs = second ? text.slice(second[0], second[1]).trim() : '{}';
    const kwShape = second ? shape.slice(second[0], second[1]).trim() : '{}';
    return { args: seq, kwargs, positional: splitTopLevel(inner).length, keywords: dictKeys(kwargs, kwShape) };
  }
  return callStyle(text, shape, bad);
}

function callStyle(text: string, shape: string, bad: (why: string) => never): CallArguments {
  const positional: string[] = [];
  const keywords: [string, string][] = [];
  for (const [a, b] of splitTopLevel(shape)) {
    const piece = text.slice(a, b).trim();
    const kw = /^([A-Za-z_]\w*)\s*=(?!=)/.exec(shape.slice(a, b).trim());
    if (kw) {
      if (keywords.some(([k]) => k === kw[1])) bad(`keyword argument ${kw[1]} is given twice`);
      keywords.push([kw[1], piece.slice(kw[0].length).trim()]);
    } else {
      if (keywords.length) bad('a positional argument follows a keyword argument');
      if (piece.startsWith('*')) bad('* and ** unpacking are not supported; write the values out');
      positional.push(piece);
    }
  }
  return {
    args: `[${positional.join(', ')}]`,
    kwargs: `{${keywords.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(', ')}}`,
    positional: positional.length,
    keywords: keywords.map(([k]) => k),
  };
}

function hasKeyword(innerShape: string): boolean {
  return splitTopLevel(innerShape).some(([a, b]) => /^[A-Za-z_]\w*\s*=(?!=)/.test(innerShape.slice(a, b).trim()));
}

/** The string keys of a dict literal, as far as they can be read without evaluating it. */
function dictKeys(text: string, shape: string): string[] {
  const keys: string[] = [];
  for (const [a, b] of splitTopLevel(shape, 1, shape.length - 1)) {
    const m = /^\s*(['"])(.*?)\1\s*:/.exec(text.slice(a, b));
    if (m) keys.push(m[2]);
  }
  return keys;
}
