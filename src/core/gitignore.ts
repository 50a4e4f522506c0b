/**
 * .gitignore patterns with git's own semantics (gitignore(5), dir.c and wildmatch.c), so that the
 * files synced are the files `git ls-files --others --exclude-standard` lists.
 */

interface Pattern {
  re: RegExp;
  negated: boolean;
  dirOnly: boolean;
  /** Without a slash, a pattern matches the last path component at any depth. */
  basename: boolean;
}

export type Verdict = 'ignored' | 'included' | undefined;

/** The patterns of one .gitignore (or info/exclude) file; they apply to paths relative to its directory. */
export class IgnoreFile {
  private readonly patterns: Pattern[] = [];

  constructor(text: string) {
    for (const raw of text.replace(/^\uFEFF/, '').split('\n')) {
      let line = trimTrailingSpaces(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
      if (line === '' || line.startsWith('#')) continue;
      const negated = line.startsWith('!');
      if (negated) line = line.slice(1);
      const dirOnly = line.endsWith('/');
      if (dirOnly) line = line.slice(0, -1);
      if (line === '') continue;
      const basename = !line.includes('/');
      if (line.startsWith('/')) line = line.slice(1);
      this.patterns.push({ re: new RegExp(`^${wildmatchSource(line)}$`, 's'), negated, dirOnly, basename });
    }
  }

  /** What the last pattern matching `relPath` (slash-separated) says, if any matches. */
  verdict(relPath: string, isDir: boolean): Verdict {
    const name = relPath.slice(relPath.lastIndexOf('/') + 1);
    for (let i = this.patterns.length - 1; i >= 0; i--) {
      const p = this.patterns[i];
      if (p.dirOnly && !isDir) continue;
      if (p.re.test(p.basename ? name : relPath)) return p.negated ? 'included' : 'ignored';
    }
    return undefined;
  }
}

/** Trailing spaces are dropped unless escaped with a backslash. */
function trimTrailingSpaces(line: string): string {
  let end = line.length;
  while (end > 0 && line[end - 1] === ' ') {
    let backslashes = 0;
    for (let i = end - 2; i >= 0 && line[i] === '\\'; i--) backslashes++;
    if (backslashes % 2 === 1) break;
    end--;
  }
  return line.slice(0, end);
}

const CLASSES: Record<string, string> = {
  alnum: 'A-Za-z0-9', alpha: 'A-Za-z', blank: ' \\t', cntrl: '\\x00-\\x1f\\x7f', digit: '0-9', graph: '\\x21-\\x7e',
  lower: 'a-z', print: '\\x20-\\x7e', punct: '!-\\/:-@\\[-`{-~', space: ' \\t\\n\\r\\f\\v', upper: 'A-Z', xdigit: '0-9A-Fa-f',
};

const escapeChar = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

/** A regular expression for a wildmatch pattern with WM_PATHNAME: wildcards other than `**` stop at slashes. */
function wildmatchSource(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      let j = i;
      while (pattern[j + 1] === '*') j++;
      const double = j > i;
      const atStart = i === 0 || pattern[i - 1] === '/';
      const next = pattern[j + 1];
      i = j;
      if (double && atStart && next === '/') {
        out += '(?:.*/)?';
        i++;
      } else if (double && atStart && (next === undefined || (next === '\\' && pattern[j + 2] === '/'))) {
        out += '.*';
      } else {
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '\\') {
      // A trailing backslash matches nothing.
      if (i + 1 >= pattern.length) return '(?!)';
      out += escapeChar(pattern[++i]);
    } else if (c === '[') {
      const parsed = bracket(pattern, i);
      if (!parsed) return '(?!)';
      out += parsed.source;
      i = parsed.end;
    } else {
      out += escapeChar(c);
    }
  }
  return out;
}

/** A bracket expression starting at `start`, as wildmatch reads it; undefined when unterminated (git then matches nothing). */
function bracket(pattern: string, start: number): { source: string; end: number } | undefined {
  let i = start + 1;
  let negated = false;
  if (pattern[i] === '!' || pattern[i] === '^') {
    negated = true;
    i++;
  }
  let set = '';
  let prev: string | undefined;
  // The first character is part of the set even when it is ']'.
  for (let first = true; first || pattern[i] !== ']'; first = false, i++) {
    let c = pattern[i];
    if (c === undefined) return undefined;
    if (c === '\\') {
      c = pattern[++i];
      if (c === undefined) return undefined;
      set += escapeChar(c);
      prev = c;
    } else if (c === '-' && prev !== undefined && pattern[i + 1] !== undefined && pattern[i + 1] !== ']') {
      let hi = pattern[++i];
      if (hi === '\\') {
        hi = pattern[++i];
        if (hi === undefined) return undefined;
      }
      // A reversed range matches nothing, but the set's other members still count.
      if (hi >= prev) set += `${escapeChar(prev)}-${escapeChar(hi)}`;
      prev = undefined;
    } else if (c === '[' && pattern[i + 1] === ':') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) return undefined;
      if (close - 1 < i + 2 || pattern[close - 1] !== ':') {
        // No ":]": the '[' is an ordinary member.
        set += '\\[';
        prev = c;
        continue;
      }
      const members = CLASSES[pattern.slice(i + 2, close - 1)];
      if (members === undefined) return undefined;
      set += members;
      i = close;
      prev = undefined;
    } else {
      set += escapeChar(c);
      prev = c;
    }
  }
  // The set never matches a slash.
  return { source: set === '' ? (negated ? '[^/]' : '(?!)') : `(?!/)[${negated ? '^' : ''}${set}]`, end: i };
}
