// `meadowrun secret set|list|delete`: the user's secrets in the cloud's secret store (an index's
// credentials, a git key), which jobs name and the instance reads. A value comes from stdin or a
// file, never from the command line (where `ps` and shell history would show it), and is never printed.
import { Command } from 'commander';
import * as fs from 'fs';
import { MeadowrunError } from '../core/errors';
import { checkSecretName } from '../core/secrets';
import { Cloud } from '../cloud/ports';

export function addSecretCommands(program: Command, getCloud: () => Promise<Cloud>, printJson: (v: unknown) => void): void {
  const secret = program
    .command('secret')
    .description("secrets jobs use on the instance (--index-secret, --git-secret), kept in the cloud's secret store");
  secret
    .command('set')
    .description('create or replace a secret; its value is read from stdin (typed without echo at a terminal) or --file, never from the command line')
    .argument('<name>', 'letters, digits, - and _')
    .option('--file <path>', 'read the value from this file (an SSH private key, say), as it is')
    .action(async (name: string, flags: { file?: string }) => {
      checkSecretName(name);
      const value = flags.file ? readFile(flags.file) : await readStdin(`Value for secret ${name}: `);
      const cloud = await getCloud();
      await cloud.secrets.putSecret(name, value);
      process.stderr.write(`Secret ${name} set (${Buffer.byteLength(value)} bytes) on the ${cloud.provider.name} cloud (${cloud.location})\n`);
    });
  secret
    .command('list')
    .description('list the names of the secrets (never their values)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const names = await (await getCloud()).secrets.listSecrets();
      if (flags.json) return printJson(names);
      process.stdout.write(names.length ? names.map((n) => `${n}\n`).join('') : 'No secrets. `meadowrun secret set NAME` makes one.\n');
    });
  secret
    .command('delete')
    .description('delete a secret')
    .argument('<name>')
    .action(async (name: string) => {
      checkSecretName(name);
      if (!(await (await getCloud()).secrets.deleteSecret(name))) throw new MeadowrunError(`There is no secret ${name}`, 'not-found');
      process.stderr.write(`Deleted secret ${name}\n`);
    });
}

function readFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new MeadowrunError(`Cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'bad-secret');
  }
}

/** All of stdin; at a terminal, one line typed without echo. */
function readStdin(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      stdin.on('data', (c: Buffer) => chunks.push(c));
      stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      stdin.on('error', reject);
    });
  }
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (e?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (e) reject(e);
      else resolve(value);
    };
    const onData = (text: string) => {
      for (const ch of text) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new MeadowrunError('Cancelled', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
