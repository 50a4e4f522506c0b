// User secrets: values a job's deployment needs on the instance (an index password, a git key),
// kept in the cloud's secret store under a name, apart from Meadowrun's own SSH key. Names are
// checked here, once, so every store accepts the same ones.

import { MeadowrunError } from './errors';

/** Letters, digits, `-` and `_`, starting with a letter or digit: valid as a file name and in every cloud's secret store. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Secrets Manager's limit for a value, and Key Vault's is larger: the smaller one holds everywhere. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** Throws a one-line error for a name no store would take the same way. */
export function checkSecretName(name: string): string {
  if (!NAME.test(name)) {
    throw new MeadowrunError(
      `"${name}" is not a secret name: use 1 to 64 letters, digits, - and _, starting with a letter or digit`,
      'bad-secret',
    );
  }
  return name;
}

export function checkSecretValue(name: string, value: string): string {
  if (!value) throw new MeadowrunError(`The value for secret ${name} is empty`, 'bad-secret');
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_SECRET_BYTES) throw new MeadowrunError(`The value for secret ${name} is ${bytes} bytes; a secret holds at most ${MAX_SECRET_BYTES}`, 'bad-secret');
  return value;
}

/**
 * Index credentials as a secret holds them: `user:password`, or a bare token (sent as the password
 * of the user `__token__`, as PyPI-style indexes and GitLab take it). Surrounding whitespace (a
 * newline from `echo`) is dropped.
 */
export function parseIndexCredentials(secretName: string, value: string): { login: string; password: string } {
  const text = value.trim();
  const colon = text.indexOf(':');
  const [login, password] = colon < 0 ? ['__token__', text] : [text.slice(0, colon), text.slice(colon + 1)];
  if (!login || !password) {
    throw new MeadowrunError(`Secret ${secretName} is not index credentials: it should hold user:password, or a token`, 'bad-secret');
  }
  return { login, password };
}

/**
 * A netrc file giving `login`/`password` for each host: what pip (through requests, $NETRC) sends
 * to an index that asks, so the credentials are never in a URL pip could print. A token with
 * whitespace, quotes or backslashes is quoted (netrc as Python 3.11+ reads it); others are written
 * plain, which older Pythons read too.
 */
export function netrcText(hosts: string[], login: string, password: string): string {
  const token = (v: string) => (/[\s"\\]/.test(v) ? `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"` : v);
  return [...new Set(hosts)].map((h) => `machine ${h} login ${token(login)} password ${token(password)}\n`).join('');
}
