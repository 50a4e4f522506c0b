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

