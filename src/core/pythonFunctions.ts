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
  const lines = source.split(/\r?\n/);
  const logical = logicalLines(lines);
  const found: TopLevelFunction[] = [];
  let decoratorsFrom: number | undefined;
  for (const l of logical) {
    if (!l.shape) continue; // blank or comment-only: decorators may be separated from their def by these
    if (l.indent === 0 && l.shape.startsWith('@')) {
      decoratorsFrom ??= l.line;
      continue;
    }
    const m = /^(async\s+)?def\s+([A-Za-z_]\w*)\s*\(/.exec(l.shape);
    const close = m && l.indent === 0 ? matchingParen(l.shape, m[0].length - 1) : -1;
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

interface LogicalLine {
  /** Zero-based physical line where it starts. */
  line: number;
  indent: number;
  /** The code, comments dropped and continuation lines joined with a space. */
  text: string;
  /** `text` with the insides of string literals turned to spaces: same length, safe to scan for brackets. */
  shape: string;
}

/** Joins physical lines into logical ones (open brackets, backslashes, multi-line strings). */
function logicalLines(lines: string[]): LogicalLine[] {
  const out: LogicalLine[] = [];
  let current: LogicalLine | undefined;
  let depth = 0;
  let quote: string | undefined; // the delimiter of a string still open
  const emit = (code: string, inString: boolean) => {
    current!.text += code;
    current!.shape += inString ? ' '.repeat(code.length) : code;
  };
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n];
    if (!current) current = { line: n, indent: raw.length - raw.trimStart().length, text: '', shape: '' };
    let i = 0;
    let continued = false;
    while (i < raw.length) {
      const c = raw[i];
      if (quote) {
        if (raw.startsWith(quote, i)) {
          emit(quote, false);
          i += quote.length;
          quote = undefined;
        } else {
          const step = c === '\\' ? 2 : 1;
          emit(raw.slice(i, i + step), true);
          i += step;
        }
        continue;
      }
      if (c === '#') break;
      if (c === '\\' && i === raw.length - 1) {
        continued = true;
        break;
      }
      const str = /^[rRbBuUfF]{0,2}("""|\'\'\'|"|')/.exec(raw.slice(i));
      if (str && (i === 0 || !/\w/.test(raw[i - 1]))) {
        quote = str[1];
        emit(str[0], false);
        i += str[0].length;
        continue;
      }
      if ('([{'.includes(c)) depth++;
      else if (')]}'.includes(c)) depth = Math.max(0, depth - 1);
      emit(c, false);
      i++;
    }
    // A one-quote string cannot span lines without a backslash: close it, so one bad line
    // does not swallow the rest of the file.
    if (quote && quote.length === 1 && !continued) quote = undefined;
    if (quote || depth > 0 || continued) {
      emit(' ', Boolean(quote));
      continue;
    }
    out.push(trimmed(current));
    current = undefined;
  }
  if (current) out.push(trimmed(current));
  return out;
}

function trimmed(l: LogicalLine): LogicalLine {
  const end = l.shape.trimEnd().length;
  const start = l.shape.length - l.shape.trimStart().length;
  return { ...l, text: l.text.slice(start, end), shape: l.shape.slice(start, end) };
}

/** Index of the bracket closing the one at `open` (-1 when it is not closed). */
function matchingParen(shape: string, open: number): number {
  let depth = 0;
  for (let i = open; i < shape.length; i++) {
    if ('([{'.includes(shape[i])) depth++;
    else if (')]}'.includes(shape[i]) && --depth === 0) return i;
  }
  return -1;
}

/** Whether a parameter list accepts one positional argument. */
function takesPositional(shape: string): boolean {
  const first = shape.split(',')[0]?.trim();
  // Commas inside brackets only occur after a first name, so the first piece is that name whole.
  if (!first) return false;
  // A bare `*` starts keyword-only parameters, `**kw` takes keywords only.
  return first !== '*' && !first.startsWith('**');
}
