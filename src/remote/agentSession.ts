import { Duplex } from 'stream';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { EnvironmentEvent } from '../core/deployment';
import { MeadowrunError } from '../core/errors';
import { Logger, logFailure, SILENT } from '../core/logger';
import { ReadyInstance } from '../cloud/ports';
import { agentBundle, agentSocketPath } from './agentBundle';
import { exitStatus, SshConnection } from './connection';
import {
  AgentMessage,
  ClientMessage,
  encodeFrame,
  FrameDecoder,
  HELLO_ID,
  HELLO_TIMEOUT_MS,
  isMessage,
  JobOutcome,
  replyKey,
  REQUEST_TIMEOUT_MS,
  RunRequest,
  StreamName,
} from './protocol';
import { nodeCommandLine, shellCommand, shellQuote } from './shellQuote';

/** The start command's exit code when the instance does not have this agent build yet. */
const AGENT_MISSING = 97;

export interface JobHandlers {
  /** The job's environment is being built, was built, or was reused (before onStarted). */
  onEnvironment?(event: EnvironmentEvent): void;
  /** `commit`: the commit a job with code from git runs. */
  onStarted?(pid: number, logPath: string, commit?: string): void;
  /** Returning a promise says "slow down": nothing more is read from the instance until it settles. */
  onOutput?(stream: StreamName, data: Buffer): void | Promise<unknown>;
  /** A map worker took these tasks. */
  onClaimed?(tasks: number[]): void;
  /** Where a result too large to travel inline is saved (default: a private folder in the temporary directory). */
  resultDir?: string;
}

export interface SessionOptions {
  log?: Logger;
  /** How long a request waits for its reply (default REQUEST_TIMEOUT_MS; the greeting HELLO_TIMEOUT_MS). */
  requestTimeoutMs?: number;
}

/** What the session speaks over: an SSH channel (exec or forwarded socket), or any duplex stream. */
export type AgentChannel = Duplex & { stderr?: NodeJS.ReadableStream };

interface PendingJob extends JobHandlers {
  resolve(outcome: JobOutcome): void;
  reject(e: Error): void;
}

/**
 * The client's end of the resident agent: one channel per connection, kept open, over which every
 * job's spec, output and result travel as frames. A job costs no new SSH session.
 */
export class AgentSession {
  private readonly jobs = new Map<string, PendingJob>();
  private readonly requests = new Map<number, { resolve(m: AgentMessage): void; reject(e: Error): void }>();
  private nextId = 1;
  private stderr = '';
  private closed = false;
  /** Output handlers still writing out what they were given: the channel is paused meanwhile. */
  private slowReaders = 0;
  /** The exit code of an exec'd agent (a forwarded socket has none). */
  private get exitCode(): number | undefined {
    return exitStatus(this.channel)?.code ?? undefined;
  }

  private readonly log: Logger;
  private readonly requestTimeoutMs: number;

  /** Speaks to an agent over `channel`; `forwarded` when it is a socket (which closes on the agent's EOF). */
  constructor(
    readonly connection: SshConnection,
    private readonly channel: AgentChannel,
    readonly instanceId: string,
    forwarded: boolean,
    options: SessionOptions = {},
  ) {
    this.log = options.log ?? SILENT;
    this.requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    const decoder = new FrameDecoder();
    channel.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      let messages: unknown[];
      try {
        messages = decoder.push(chunk);
      } catch (e) {
        return this.broken(`sent ${(e as Error).message}`);
      }
      for (const m of messages) {
        if (!isMessage(m)) return this.broken(`sent something that is not a message: ${JSON.stringify(m).slice(0, 60)}`);
        try {
          this.onMessage(m as AgentMessage);
        } catch (e) {
          // A handler's bug (an output callback that throws) must not take the channel, or the extension, down.
          logFailure(this.log, `Handling "${m.t}" from the agent on ${instanceId}`, e, 'error');
        }
      }
    });
    channel.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    channel.on('close', () => this.onClose());
    // A forwarded socket is half-closed when the agent goes: answer the EOF so the channel closes.
    // (An exec channel closes by itself, after its exit status.)
    if (forwarded) {
      channel.on('end', () => {
        this.onClose();
        channel.end();
      });
    }
  }

  get isOpen(): boolean {
    return !this.closed && this.connection.isOpen;
  }

  /**
   * Connects to the instance's resident agent through its Unix socket, starting the daemon when
   * none answers, and copying the agent to the instance first when it lacks this exact build. A
   * warm instance costs one forwarded channel: no session, no process start.
   */
  static async start(connection: SshConnection, instance: ReadyInstance, log: Logger = SILENT, provider?: string): Promise<AgentSession> {
    const options = { log };
    // Each cloud's instances get the agent bundle with its adapters (agentBundleName).
    const bundle = agentBundle(provider);
    const remoteAgent = path.posix.join(instance.workDir, `agent-${bundle.hash}.js`);
    const socketPath = agentSocketPath(instance.workDir, provider);
    // The agent learns its table, queues and instance from the config its provider wrote at launch.
    const agentCommand = (mode: string[]) =>
      `test -s ${shellQuote(remoteAgent)} || exit ${AGENT_MISSING}; cd ${shellQuote(instance.workDir)} && exec ` +
      nodeCommandLine(instance.nodeCommand, [remoteAgent, ...mode]);
    const upload = async () => {
      await connection.exec(shellCommand(['mkdir', '-p', instance.workDir]));
      await connection.upload(bundle.path, remoteAgent);
    };

    // A private agent on this session's own channel, for when the resident one can't be reached.
    const onChannel = async (): Promise<AgentSession> => {
      for (let attempt = 0; ; attempt++) {
        const session = new AgentSession(connection, await connection.channel(agentCommand(['serve'])), instance.id, false, options);
        try {
          return await session.greet();
        } catch (e) {
          if (session.exitCode !== AGENT_MISSING || attempt > 0) throw e;
        }
        log.info(`Copying the agent to ${instance.id}`);
        await upload();
      }
    };

    // Unix socket paths are limited to ~107 bytes.
    if (Buffer.byteLength(socketPath) >= 100) {
      log.debug(`${instance.id}: the agent's socket path is too long to forward; using a private agent`);
      return onChannel();
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        return await new AgentSession(connection, await connection.streamLocal(socketPath), instance.id, true, options).greet();
      } catch (e) {
        log.debug(`${instance.id}: no resident agent answers on its socket (${(e as Error)?.message ?? e})`);
        if (attempt > 0) break;
      }
      log.debug(`${instance.id}: starting the resident agent`);
      let started = await connection.exec(agentCommand(['daemon', '--socket', socketPath]));
      if (started.exitCode === AGENT_MISSING) {
        log.info(`Copying the agent to ${instance.id}`);
        await upload();
        started = await connection.exec(agentCommand(['daemon', '--socket', socketPath]));
      }
      if (started.exitCode === null && !started.signal && attempt === 0) {
        // The session that started it went away without a word (a dropped connection); the
        // detached daemon may well be up: look for it on its socket once more.
        log.info(`${instance.id}: the session starting the agent ended without an exit status; looking for the agent again`);
        continue;
      }
      if (started.exitCode !== 0) {
        // With nothing on stderr, how it ended is all there is to say (a signal, a dropped session).
        const ended = started.signal ? `killed by ${started.signal}` : started.exitCode === null ? 'its session ended without an exit status' : `exit code ${started.exitCode}`;
        const why = started.stderr.toString().trim().split('\n').pop() || ended;
        throw new MeadowrunError(`Cannot start the agent on instance ${instance.id}${why ? `: ${why}` : ''}`, 'agent-lost');
      }
    }
    // The agent runs but its socket is out of reach: the SSH server may refuse socket forwarding
    // (AllowStreamLocalForwarding no).
    log.info(`${instance.id}: the resident agent's socket can't be reached (is stream-local forwarding off?); using a private agent`);
    return onChannel();
  }

  /** Waits for the agent's greeting; closes the channel when none comes. */
  async greet(): Promise<AgentSession> {
    try {
      await this.request({ t: 'hello' }, Math.min(HELLO_TIMEOUT_MS, this.requestTimeoutMs));
      return this;
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * Sends a request and waits for the agent's reply to it (matched by id); an error reply to it
   * rejects it alone, and so does no reply within `timeoutMs`.
   */
  request(message: ClientMessage & { t: 'hello' | 'sync' | 'sync-put' }, timeoutMs = this.requestTimeoutMs): Promise<AgentMessage> {
    return new Promise((resolve, reject) => {
      if (!this.isOpen) return reject(this.lostError());
      const id = replyKey(message).id!;
      const timer = setTimeout(() => {
        if (this.requests.get(id)?.reject !== fail) return;
        this.requests.delete(id);
        fail(new MeadowrunError(`Instance ${this.instanceId}: the agent did not answer "${message.t}" within ${timeoutMs / 1000} s`, 'timeout', { instanceId: this.instanceId }));
      }, timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        reject(e);
      };
      this.requests.set(id, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: fail,
      });
      this.send(message, fail);
    });
  }

  /** Writes a frame; one too large to send fails `onError` alone, the channel goes on. */
  private send(message: ClientMessage, onError: (e: Error) => void): void {
    let frame: Buffer;
    try {
      frame = encodeFrame(message);
    } catch (e) {
      if ('id' in message || message.t === 'hello') this.requests.delete(replyKey(message).id!);
      if ('jobId' in message) this.jobs.delete(message.jobId);
      return onError(new MeadowrunError(`Cannot send to instance ${this.instanceId}: ${(e as Error).message}`, 'protocol', { instanceId: this.instanceId, cause: e }));
    }
    this.channel.write(frame);
  }

  newRequestId(): number {
    return this.nextId++;
  }

  runJob(request: RunRequest, handlers: JobHandlers): Promise<JobOutcome> {
    return new Promise((resolve, reject) => {
      if (!this.isOpen) return reject(this.lostError());
      this.jobs.set(request.jobId, { ...handlers, resolve, reject });
      this.send(request, reject);
    });
  }

  cancel(jobId: string): void {
    if (this.isOpen) this.send({ t: 'cancel', jobId }, (e) => logFailure(this.log, `Cancelling ${jobId}`, e));
  }

  close(): void {
    this.closed = true;
    this.channel.end();
  }

  private onMessage(m: AgentMessage): void {
    switch (m.t) {
      case 'hello':
        return this.settle(HELLO_ID, m);
      case 'sync-need':
      case 'sync-done':
        return this.settle(m.id, m);
      case 'error': {
        const error = new MeadowrunError(`Instance ${this.instanceId}: ${m.message}`, 'agent-error', { instanceId: this.instanceId });
        if (m.id !== undefined) {
          const pending = this.requests.get(m.id);
          this.requests.delete(m.id);
          if (pending) return pending.reject(error);
        } else if (m.jobId !== undefined) {
          const job = this.jobs.get(m.jobId);
          this.jobs.delete(m.jobId);
          if (job) return job.reject(error);
        } else {
          // It answers nothing in particular: the agent gave up on this channel.
          return this.broken(`closed the channel: ${m.message}`);
        }
        return this.log.warn(`The agent on ${this.instanceId} reported an error for a request no longer waiting: ${m.message}`);
      }
      case 'environment':
        return this.jobs.get(m.jobId)?.onEnvironment?.(m.event);
      case 'started':
        return this.jobs.get(m.jobId)?.onStarted?.(m.pid, m.logPath, m.commit);
      case 'out': {
        const writing = this.jobs.get(m.jobId)?.onOutput?.(m.stream, Buffer.from(m.data, 'base64'));
        if (!(writing instanceof Promise)) return;
        // Backpressure: a paused channel stops taking data from the SSH window, so the agent's
        // writes wait, and the job's output waits on the instance (in its capped log), not here.
        if (this.slowReaders++ === 0) this.channel.pause();
        void writing.finally(() => {
          if (--this.slowReaders === 0) this.channel.resume();
        });
        return;
      }
      case 'map-claimed':
        return this.jobs.get(m.jobId)?.onClaimed?.(m.tasks);
      case 'done': {
        const job = this.jobs.get(m.jobId);
        this.jobs.delete(m.jobId);
        if (!job) return;
        const outcome = m.outcome ? Promise.resolve(m.outcome) : this.fetchOutcome(m.outcomePath!);
        return void outcome.then((o) => this.fetchPickle(m.jobId, o, job.resultDir)).then(job.resolve, (e: Error) =>
          job.reject(new MeadowrunError(`Cannot fetch the result of job ${m.jobId} from instance ${this.instanceId}: ${e.message}`, 'result-lost')),
        );
      }
    }
  }

  /** A large outcome (say, a map's many arguments) waits in a file on the instance: fetch it and remove it. */
  private async fetchOutcome(remotePath: string): Promise<JobOutcome> {
    const sftp = await this.connection.sftp();
    const text = await new Promise<Buffer>((resolve, reject) => sftp.readFile(remotePath, (e, data) => (e ? reject(e) : resolve(data))));
    await new Promise<void>((resolve) => sftp.unlink(remotePath, () => resolve()));
    return JSON.parse(text.toString('utf8')) as JobOutcome;
  }

  /** A large pickled value is streamed from its file on the instance to a local one, never held whole. */
  private async fetchPickle(jobId: string, outcome: JobOutcome, resultDir = defaultResultDir()): Promise<JobOutcome> {
    if (outcome.status !== 'succeeded' || !outcome.value?.pickleFile) return outcome;
    const remotePath = outcome.value.pickleFile;
    fs.mkdirSync(resultDir, { recursive: true, mode: 0o700 });
    const localPath = path.join(resultDir, `${jobId}.pickle`);
    await this.connection.download(remotePath, localPath);
    fs.chmodSync(localPath, 0o600);
    const sftp = await this.connection.sftp();
    await new Promise<void>((resolve) => sftp.unlink(remotePath, () => resolve()));
    return { ...outcome, value: { ...outcome.value, pickleFile: localPath } };
  }

  private settle(id: number, m: AgentMessage): void {
    const pending = this.requests.get(id);
    this.requests.delete(id);
    pending?.resolve(m);
  }

  /** The agent broke the protocol: every request and job on this channel fails with `why`, and the channel is closed. */
  private broken(why: string): void {
    const error = new MeadowrunError(`The agent on instance ${this.instanceId} ${why}; the connection to it is closed`, 'protocol', { instanceId: this.instanceId });
    this.log.error(error.message);
    this.failAll(error);
    this.close();
  }

  private onClose(): void {
    this.failAll(this.lostError());
  }

  private failAll(error: MeadowrunError): void {
    this.closed = true;
    for (const r of this.requests.values()) r.reject(error);
    for (const j of this.jobs.values()) j.reject(error);
    this.requests.clear();
    this.jobs.clear();
  }

  private lostError(): MeadowrunError {
    // A crashed Node ends with its version banner; the error line before it says more.
    const why = this.stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^Node\.js v\d/.test(l)).find((l) => /Error\b/.test(l)) ?? this.stderr.trim().split('\n').pop();
    return new MeadowrunError(`Lost the agent on instance ${this.instanceId}${why ? `: ${why}` : ''}`, 'agent-lost');
  }
}

/** Large results land here unless the caller names a folder: private to this user. */
export function defaultResultDir(): string {
  return path.join(os.tmpdir(), `meadowrun-results-${os.userInfo().uid}`);
}
