import { NodeCommand } from '../cloud/ports';

/** Quotes one word for a POSIX shell: every command line sent to an instance is built with this. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_\-.,:/=@%+]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(words: string[]): string {
  return words.map(shellQuote).join(' ');
}

/**
 * `env NAME=value… node… args…`, every word quoted: how a Node.js command of an instance is run.
 * Through env(1), not the shell's `NAME=value cmd`, so that it can follow `exec`.
 */
export function nodeCommandLine(node: NodeCommand, args: string[]): string {
  const env = Object.entries(node.env).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not an environment variable name: ${JSON.stringify(name)}`);
    return `${name}=${shellQuote(value)}`;
  });
  return [...(env.length ? ['env', ...env] : []), shellCommand([...node.command, ...args])].join(' ');
}
