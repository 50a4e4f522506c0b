import { Client, ClientChannel, SFTPWrapper } from 'ssh2';
import { MeadowrunError } from '../core/errors';
import { SshEndpoint } from '../cloud/ports';

export interface ExecResult {
  exitCode: number | null;
  signal?: string;
  stdout: Buffer;
  stderr: Buffer;
}

export interface ConnectOptions {
  /** Names the instance in error messages. */
  instanceId: string;
  endpoint: SshEndpoint;
  privateKey: string;
  attempts?: number;
  timeoutMs?: number;
}

class HostKeyMismatch extends Error {}

const exits = new WeakMap<object, { code: number | null; signal?: string }>();

/** How a command started with SshConnection.channel ended, once its exit status (or signal) has come. */
export function exitStatus(channel: object): { code: number | null; signal?: string } | undefined {
  return exits.get(channel);
}

/** One SSH connection to an instance, host key pinned to the one recorded at launch. */
export class SshConnection {
  private closed = false;
  private sftpSession?: Promise<SFTPWrapper>;

  private constructor(readonly instanceId: string, private readonly client: Client) {
    client.on('close', () => (this.closed = true));
    client.on('error', () => (this.closed = true));
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  onClose(listener: () => void): void {
    this.client.once('close', listener);
  }

  /** Connects with bounded retries; the last failure becomes one clear error naming the instance. */
  static async open(o: ConnectOptions): Promise<SshConnection> {
    const attempts = o.attempts ?? 3;
    let last: Error | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        return new SshConnection(o.instanceId, await connectOnce(o));
      } catch (e) {
        last = e as Error;
        if (e instanceof HostKeyMismatch) {
          throw new MeadowrunError(
            `Refusing to connect to instance ${o.instanceId}: its host key is not the one recorded when it was launched.`,
            'host-key',
          );
        }
        if (attempt < attempts) await new Promise((r) => setTimeout(r, 300 * 2 ** (attempt - 1)));
      }
    }
    throw new MeadowrunError(
      `Cannot reach instance ${o.instanceId} at ${o.endpoint.host}:${o.endpoint.port} after ${attempts} attempts: ${last?.message}`,
      'unreachable',
    );
  }

  /** Runs a command in a new session, collecting its output. */
  async exec(command: string): Promise<ExecResult> {
    const channel = await this.channel(command);
    return new Promise((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      channel.on('data', (d: Buffer) => stdout.push(d));
      channel.stderr.on('data', (d: Buffer) => stderr.push(d));
      channel.on('error', reject);
      // ssh2 also passes the exit status to 'close' (code, or null and the signal).
      channel.on('close', (code?: number | null, signal?: string) => {
        const exit = exitStatus(channel) ?? { code: code ?? null, signal };
        resolve({ exitCode: exit.code, signal: exit.signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) });
      });
    });
  }

  /** Opens a channel to a Unix socket on the instance: no new session, no process started. */
  streamLocal(socketPath: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.openssh_forwardOutStreamLocal(socketPath, (err, channel) => (err ? reject(err) : resolve(channel)));
    });
  }

  /** Starts a command and hands back its channel, for a long-lived conversation; exitStatus(channel) tells how it ended. */
  channel(command: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, channel) => {
        if (err) return reject(this.lost(err));
        // Listened to here, in ssh2's callback: a quick command's exit status can come in the same
        // read as the exec's acknowledgement, and ssh2 emits 'exit' at once, before the caller's
        // await resumes; a listener added then would miss it (seen as "ended without an exit status").
        channel.on('exit', (code: number | null, signal?: string) => exits.set(channel, { code, signal }));
        resolve(channel);
      });
    });
  }

  sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((err, sftp) => (err ? reject(this.lost(err)) : resolve(sftp)));
    });
    this.sftpSession.catch(() => (this.sftpSession = undefined));
    return this.sftpSession;
  }

  /** Uploads a file, publishing it under its final name only once complete. */
  async upload(localPath: string, remotePath: string): Promise<void> {
    const sftp = await this.sftp();
    const tmp = `${remotePath}.${process.pid}.part`;
    await new Promise<void>((resolve, reject) => sftp.fastPut(localPath, tmp, (e) => (e ? reject(e) : resolve())));
    await new Promise<void>((resolve, reject) => sftp.ext_openssh_rename(tmp, remotePath, (e) => (e ? reject(e) : resolve())));
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) => sftp.fastGet(remotePath, localPath, (e) => (e ? reject(e) : resolve())));
  }

  close(): void {
    this.closed = true;
    this.client.end();
  }

  private lost(err: Error): MeadowrunError {
    return new MeadowrunError(`Lost the connection to instance ${this.instanceId}: ${err.message}`, 'unreachable');
  }
}

function connectOnce(o: ConnectOptions): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let mismatch = false;
    client.once('ready', () => {
      // Jobs are small request/response frames: Nagle's algorithm would hold each one back
      // waiting for the peer's (delayed) ACK.
      client.setNoDelay(true);
      client.removeAllListeners('error');
      client.on('error', () => undefined);
      resolve(client);
    });
    // `on`, not `once`: a refused connection can report a second error ("Connection lost before
    // handshake"), which would otherwise be thrown as uncaught.
    client.on('error', (e) => {
      client.end();
      reject(mismatch ? new HostKeyMismatch() : e);
    });
    client.connect({
      host: o.endpoint.host,
      port: o.endpoint.port,
      username: o.endpoint.user,
      privateKey: o.privateKey,
      readyTimeout: o.timeoutMs ?? 10_000,
      keepaliveInterval: 15_000,
      hostVerifier: (key: Buffer) => {
        mismatch = key.toString('base64') !== o.endpoint.hostKey;
        return !mismatch;
      },
    });
  });
}
