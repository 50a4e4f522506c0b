/** A top-level function of a Python module, as the CodeLens shows it. */
export interface TopLevelFunction {
  name: string;
  /** Zero-based line of its `def`. */
  line: number;
}

/**
 * Finds top-level `def`s without a language server: a `def` at column 0, outside any
 * triple-quoted string. Good enough for lenses; the instance does the real import.
 */
export function findTopLevelFunctions(source: string): TopLevelFunction[] {
  const found: TopLevelFunction[] = [];
  let openQuote: string | undefined;
  source.split(/\r?\n/).forEach((text, line) => {
    if (!openQuote) {
      const m = /^(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(/.exec(text);
      if (m) found.push({ name: m[1], line });
    }
    // Track triple-quoted strings so a `def` inside a docstring is not taken for code.
    for (const q of text.match(/"""|'''/g) ?? []) {
      if (!openQuote) openQuote = q;
      else if (openQuote === q) openQuote = undefined;
    }
  });
  return found;
}
