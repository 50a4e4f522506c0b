import * as fs from 'fs';
import * as path from 'path';
import { generateSshKeyPair } from '../sshKeys';
import { SecretStore, SshKeyPair } from '../ports';

/** The client's SSH key pair in a directory only the user can read. */
export class FileSecretStore implements SecretStore {
  private cached?: SshKeyPair;

  constructor(private readonly dir: string) {}

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
