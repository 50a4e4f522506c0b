// Waiting for a new instance: until it runs, has published its host key and its SSH server
// answers, with a sleep that a cancelled launch cuts short. Shared by the clouds' providers.
import * as net from 'net';
import { cancellation, MeadowrunError } from '../core/errors';
import { hostKeyFromConsole, setupFailure } from './cloudInit';

/** What a provider tells of one instance while it boots. */
export interface BootProbe {
  /** Its public address (and zone, when known) once it runs; undefined before. Throws when it ended or failed. */
  address(): Promise<{ host: string; zone?: string } | undefined>;
  /** Its console (serial) output so far: '' while there is none. */
  console(): Promise<string>;
}

export interface ReachOptions {
  pollMs: number;
  signal?: AbortSignal;
  /** Reads the host key the instance wrote in its row of the allocation table. */
  publishedHostKey?: (id: string) => Promise<string | undefined>;
  onPhase?: (id: string, phase: 'running' | 'host-key' | 'ssh', detail?: 'row' | 'console') => void;
}

/**
 * Waits until the instance runs, has published its host key (in its row, else on its console: both
 * read through the cloud, so it is the instance's own) and its sshd answers; `what` names it in
 * errors ("Instance", "VM"). A setup that failed on the instance ends the wait with its reason.
 */
export async function waitUntilReachable(id: string, what: string, probe: BootProbe, o: ReachOptions): Promise<{ host: string; hostKey: string; zone?: string }> {
  let host: string | undefined;
  let zone: string | undefined;
  let hostKey: string | undefined;
  for (;;) {
    if (o.signal?.aborted) throw cancellation();
    if (!host) {
      const running = await probe.address();
      if (running) {
        ({ host, zone } = running);
        o.onPhase?.(id, 'running');
      }
    }
    if (host && !hostKey) {
      // The row first: written as the setup ends, before cloud-init prints the key, and one read.
      hostKey = await publishedEd25519Key(o.publishedHostKey, id);
      if (hostKey) o.onPhase?.(id, 'host-key', 'row');
    }
    if (host && !hostKey) {
      const text = await probe.console();
      const failed = setupFailure(text);
      if (failed) throw new MeadowrunError(`${what} ${id} could not be set up: ${failed}`, 'launch', { instanceId: id });
      hostKey = hostKeyFromConsole(text);
      if (hostKey) o.onPhase?.(id, 'host-key', 'console');
    }
    if (host && hostKey && (await sshAnswers(host, 22))) {
      o.onPhase?.(id, 'ssh');
      return { host, hostKey, ...(zone !== undefined && { zone }) };
    }
    await sleep(o.pollMs, o.signal);
  }
}

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
