// Waiting for a new instance: whether its SSH server answers yet, and a sleep that a cancelled
// launch cuts short. Shared by the clouds' providers.
import * as net from 'net';
import { cancellation } from '../core/errors';

/** Whether an SSH server answers at host:port (its banner), within a few seconds. */
export function sshAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(3000, () => done(false));
    socket.once('data', (d) => done(d.toString().startsWith('SSH-')));
    socket.once('error', () => done(false));
  });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancellation());
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancellation());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}


/**
 * The ed25519 host key an instance published in its row of the allocation table, when it has (and
 * it is one); a failed read is no error: the caller looks again on its next poll, or at the console.
 */
export async function publishedEd25519Key(read: ((id: string) => Promise<string | undefined>) | undefined, id: string): Promise<string | undefined> {
  const key = await read?.(id).catch(() => undefined);
  return key && isEd25519Blob(key) ? key : undefined;
}

/** An OpenSSH ed25519 public key blob in base64: the string "ssh-ed25519", then 32 bytes of key. */
export function isEd25519Blob(b64: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return false;
  const blob = Buffer.from(b64, 'base64');
  const name = 'ssh-ed25519';
  return blob.length === 4 + name.length + 4 + 32 && blob.readUInt32BE(0) === name.length && blob.toString('latin1', 4, 4 + name.length) === name && blob.readUInt32BE(4 + name.length) === 32;
}
