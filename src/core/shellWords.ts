import { MeadowrunError } from './errors';

/**
 * Splits a command line into words the way a POSIX shell does for quoting: 'single', "double"
 * (with \" \\ \$ \` escapes) and backslash escapes; no variables, globs or substitutions, since
 * the words go to the script as they are, never through a shell.
 */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw unclosed("'");
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      word ??= '';
      for (i++; ; i++) {
        if (i >= line.length) throw unclosed('"');
        if (line[i] === '"') break;
        if (line[i] === '\\' && '"\\$`'.includes(line[i + 1] ?? '')) i++;
        word += line[i];
      }
    } else if (c === '\\') {
      word = (word ?? '') + (line[i + 1] ?? '');
      i++;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

function unclosed(quote: string): MeadowrunError {
  return new MeadowrunError(`Script arguments: a ${quote} quote is never closed`, 'bad-arguments');
}
