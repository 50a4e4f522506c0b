// Runs one command over SSH with ssh2 (for tests that log into an instance themselves): resolves
// with its stdout when it exits 0, rejects with its output otherwise. `hostKey` (base64) pins the key.
import { Client } from 'ssh2';

export interface SshLogin {
  host: string;
  port?: number;
  username: string;
  privateKey: string | Buffer;
  hostKey?: string;
  readyTimeout?: number;
}

export function sshExec(login: SshLogin, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on('error', reject);
    c.on('ready', () =>
      c.exec(command, (err, stream) => {
        if (err) return reject(err);
        let out = '';
        let errOut = '';
        stream.on('data', (d: Buffer) => (out += d.toString()));
        stream.stderr.on('data', (d: Buffer) => (errOut += d.toString()));
        stream.on('close', (code: number) => {
          c.end();
          if (code === 0) resolve(out);
          else reject(new Error(`exit ${code}: ${errOut}${out}`));
        });
      }),
    );
    const { hostKey, readyTimeout = 10_000, port = 22, ...rest } = login;
    c.connect({ ...rest, port, readyTimeout, ...(hostKey && { hostVerifier: (key: Buffer) => key.toString('base64') === hostKey }) });
  });
}
