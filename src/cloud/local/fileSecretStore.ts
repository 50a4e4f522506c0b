import * as fs from 'fs';
import * as path from 'path';
import { checkSecretName, checkSecretValue } from '../../core/secrets';
import { readUserSecret, userSecretsDir } from './userSecrets';
import { generateSshKeyPair } from '../sshKeys';
import { SecretStore, SshKeyPair } from '../ports';

/**
 * The client's SSH key pair in a directory only the user can read, and the user's secrets in its
 * `user` subdirectory, one 0600 file each (the local instances read them there: they run as the user).
 */
export class FileSecretStore implements SecretStore {
  private cached?: SshKeyPair;

  constructor(private readonly dir: string) {}

  /** Where user secrets live; the name is checked first, so no name leads out of it. */
  private userFile(name: string): string {
    return path.join(userSecretsDir(this.dir), checkSecretName(name));
  }

  async putSecret(name: string, value: string): Promise<void> {
    const file = this.userFile(name);
    checkSecretValue(name, value);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Whole or not at all: a reader never sees half a value.
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      fs.writeFileSync(tmp, value, { mode: 0o600, flag: 'wx' });
      fs.renameSync(tmp, file);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  async getSecret(name: string): Promise<string | undefined> {
    return readUserSecret(this.dir, name);
  }

  async listSecrets(): Promise<string[]> {
    let names: string[];
    try {
      names = fs.readdirSync(userSecretsDir(this.dir));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return names.filter((n) => !n.endsWith('.tmp')).sort();
  }

  async deleteSecret(name: string): Promise<boolean> {
    const file = this.userFile(name);
    const existed = fs.existsSync(file);
    fs.rmSync(file, { force: true });
    return existed;
  }

  async getSshKeyPair(): Promise<SshKeyPair> {
    if (this.cached) return this.cached;
    const privatePath = path.join(this.dir, 'id_ed25519');
    const publicPath = `${privatePath}.pub`;
    try {
      this.cached = { privateKey: fs.readFileSync(privatePath, 'utf8'), publicKey: fs.readFileSync(publicPath, 'utf8').trim() };
      return this.cached;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const pair = generateSshKeyPair();
    // Write under a temporary name first so a concurrent first use never sees half a key,
    // and exclusively so two first uses can't end up with different keys.
    const tmp = `${privatePath}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, pair.privateKey, { mode: 0o600 });
    fs.writeFileSync(publicPath + `.${process.pid}.tmp`, pair.publicKey + '\n', { mode: 0o600 });
    try {
      fs.linkSync(tmp, privatePath);
      fs.renameSync(publicPath + `.${process.pid}.tmp`, publicPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      fs.rmSync(publicPath + `.${process.pid}.tmp`, { force: true });
      // Another process won; wait for its public half.
      for (let i = 0; i < 100 && !fs.existsSync(publicPath); i++) await new Promise((r) => setTimeout(r, 20));
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    return this.getSshKeyPair();
  }
}

