// Just enough of Python's lexical structure for the editor's own scans (lenses, signatures,
// argument text): comments, every form of string literal, brackets and line continuations.

export interface LogicalLine {
  /** Zero-based physical line where it starts. */
  line: number;
  indent: number;
  /** The code, comments dropped and continuation lines joined with a space. */
  text: string;
  /** `text` with the insides of string literals turned to spaces: same length, safe to scan for brackets. */
  shape: string;
}

/** Joins physical lines into logical ones (open brackets, backslashes, multi-line strings). */
export function logicalLines(lines: string[]): LogicalLine[] {
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
        } else if (c === '\\' && i === raw.length - 1) {
          // A backslash at the end of the line continues even a one-quote string onto the next.
          continued = true;
          break;
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
export function matchingBracket(shape: string, open: number): number {
  let depth = 0;
  for (let i = open; i < shape.length; i++) {
    if ('([{'.includes(shape[i])) depth++;
    else if (')]}'.includes(shape[i]) && --depth === 0) return i;
  }
  return -1;
}


/**
 * One expression as code: `text` without comments or surrounding space, `shape` the same with the
 * insides of string literals turned to spaces (same length), and what is wrong with its brackets
 * or strings, if anything.
 */
export function codeShape(source: string): { text: string; shape: string; problem?: string } {
  const lines = logicalLines(source.split(/\r?\n/)).filter((l) => l.shape);
  const text = lines.map((l) => l.text).join(' ');
  const shape = lines.map((l) => l.shape).join(' ');
  if (lines.length > 1) return { text, shape, problem: 'more than one line of code' };
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  for (const c of shape) {
    if ('([{'.includes(c)) stack.push(c);
    else if (c in pairs && stack.pop() !== pairs[c]) return { text, shape, problem: `unbalanced "${c}"` };
  }
  if (stack.length) return { text, shape, problem: `"${stack[stack.length - 1]}" is never closed` };
  // A string left open runs to the end of the text: its closing quote is missing.
  const quotes = /^[rRbBuUfF]{0,2}("""|\'\'\'|"|')/;
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === ' ' || !quotes.test(shape.slice(i)) || (i > 0 && /\w/.test(shape[i - 1]))) continue;
    const q = quotes.exec(shape.slice(i))!;
    const close = shape.indexOf(q[1], i + q[0].length);
    if (close < 0) return { text, shape, problem: 'a string is never closed' };
    i = close + q[1].length - 1;
  }
  return { text, shape };
}

/** Splits at commas outside brackets; returns [start, end) ranges into `shape`. */
export function splitTopLevel(shape: string, from = 0, to = shape.length): [number, number][] {
  const parts: [number, number][] = [];
  let depth = 0;
  let start = from;
  for (let i = from; i < to; i++) {
    if ('([{'.includes(shape[i])) depth++;
    else if (')]}'.includes(shape[i])) depth--;
    else if (shape[i] === ',' && depth === 0) {
      parts.push([start, i]);
      start = i + 1;
    }
  }
  parts.push([start, to]);
  return parts.filter(([a, b]) => shape.slice(a, b).trim());
}
