import { logicalLines, matchingBracket } from './pythonLexing';

/** A top-level function of a Python module, as the CodeLens shows it. */
export interface TopLevelFunction {
  name: string;
  /** Zero-based line of its `def`. */
  line: number;
  /** Zero-based line of its first decorator (its `def` line when it has none): where a lens belongs. */
  firstLine: number;
  /** `async def`: the instance runs it to completion with asyncio. */
  async: boolean;
  /** The parameter list as written, without the parentheses, on one line: "a, b=2, *rest". */
  parameters: string;
  /** Whether it takes a positional argument, so a map can call it with one. */
  takesPositional: boolean;
}

/**
 * Finds top-level `def`s without a language server. A small lexical pass that knows comments,
 * every kind of string literal (so a `'''` inside a string or a `"""` in a comment cannot hide the
 * rest of the file) and bracket depth (so multi-line signatures and decorators are read whole).
 * Good enough for lenses; the instance does the real import.
 */
export function findTopLevelFunctions(source: string): TopLevelFunction[] {
  const logical = logicalLines(source.split(/\r?\n/));
  const found: TopLevelFunction[] = [];
  let decoratorsFrom: number | undefined;
  for (const l of logical) {
    if (!l.shape) continue; // blank or comment-only: decorators may be separated from their def by these
    if (l.indent === 0 && l.shape.startsWith('@')) {
      decoratorsFrom ??= l.line;
      continue;
    }
    const m = /^(async\s+)?def\s+([A-Za-z_]\w*)\s*\(/.exec(l.shape);
    const close = m && l.indent === 0 ? matchingBracket(l.shape, m[0].length - 1) : -1;
    if (m && close > 0) {
      const parameters = l.text.slice(m[0].length, close).replace(/\s+/g, ' ').trim().replace(/,$/, '');
      found.push({
        name: m[2],
        line: l.line,
        firstLine: decoratorsFrom ?? l.line,
        async: Boolean(m[1]),
        parameters,
        takesPositional: takesPositional(l.shape.slice(m[0].length, close)),
      });
    }
    decoratorsFrom = undefined;
  }
  return found;
}

/** Whether a parameter list accepts one positional argument. */
function takesPositional(shape: string): boolean {
  const first = shape.split(',')[0]?.trim();
  // Commas inside brackets only occur after a first name, so the first piece is that name whole.
  if (!first) return false;
  // A bare `*` starts keyword-only parameters, `**kw` takes keywords only.
  return first !== '*' && !first.startsWith('**');
}
