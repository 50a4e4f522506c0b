// Where the local cloud keeps user secrets, and reading one: shared by the client's store and the
// instances' agent, which must not carry the store's SSH key code (agent.js stays small).
import * as fs from 'fs';
import * as path from 'path';
import { checkSecretName } from '../../core/secrets';

export const userSecretsDir = (dir: string) => path.join(dir, 'user');

/** A user secret of the store in `dir`, or undefined (also what a local instance's agent reads). */
export function readUserSecret(dir: string, name: string): string | undefined {
  try {
    return fs.readFileSync(path.join(userSecretsDir(dir), checkSecretName(name)), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
