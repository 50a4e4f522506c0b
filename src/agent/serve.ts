import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { AllocationTable, TaskQueues } from '../cloud/ports';
import { MapWorkerLoop } from './mapWorker';
import { AgentMessage, ClientMessage, encodeFrame, FrameDecoder, INLINE_LIMIT, JobOutcome, PROTOCOL_VERSION, RunRequest, StreamName } from '../remote/protocol';
import { CodeStore } from './codeStore';
import { ForkServer, ForkServerEvent } from './forkServer';
import { removePidFile, writePidFile } from './pidFiles';
import forkServerSource from './python/forkserver.py';

export interface ServeOptions {
  workDir: string;
  instanceId: string;
  table: AllocationTable;
  /** For map workers. */
  queues?: TaskQueues;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
}

interface Job {
  request: RunRequest;
  log: fs.WriteStream;
  pid?: number;
  streams: Map<string, net.Socket>;
  ended: number;
  result: Buffer[];
  exit?: { code?: number; signal?: string };
  cancelled: boolean;
  killTimer?: NodeJS.Timeout;
  finishing: boolean;
  /** A map worker's outcome, decided by its loop rather than by the process's exit. */
  mapOutcome?: Promise<JobOutcome | undefined>;
}

/**
 * The resident agent: one per client connection, speaking the framed protocol on stdin/stdout.
 * Every job runs in its own process, forked from a warm Python; this process writes the job's PID
 * file, streams its output, logs it, and frees its allocation when it ends normally.
 */
export class AgentServer {
  private readonly jobs = new Map<string, Job>();
  private readonly forkServers = new Map<string, ForkServer>();
  private readonly code: CodeStore;
  private readonly socketPath: string;
  private socketInTempDir = false;
  private readonly socketServer: net.Server;
  private readonly scriptPath: string;
  private readonly logDir: string;

  constructor(private readonly o: ServeOptions) {
    this.code = new CodeStore(o.workDir);
    this.logDir = path.join(o.workDir, 'logs');
    fs.mkdirSync(this.logDir, { recursive: true });
    const hash = crypto.createHash('sha256').update(forkServerSource).digest('hex').slice(0, 12);
    this.scriptPath = path.join(o.workDir, `forkserver-${hash}.py`);
    if (!fs.existsSync(this.scriptPath)) {
      const tmp = `${this.scriptPath}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, forkServerSource);
      fs.renameSync(tmp, this.scriptPath);
    }
    this.socketPath = this.makeSocketPath();
    this.socketServer = net.createServer((s) => this.onJobSocket(s));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.socketServer.once('error', reject);
      this.socketServer.listen(this.socketPath, resolve);
    });
    fs.chmodSync(this.socketPath, 0o600);
    const decoder = new FrameDecoder();
    this.o.input.on('data', (chunk: Buffer) => {
      for (const message of decoder.push(chunk)) {
        this.handle(message as ClientMessage).catch((e) => this.send({ t: 'error', message: String(e?.message ?? e) }));
      }
    });
    this.o.input.on('end', () => this.shutdown());
    // Warm the default interpreter now so the first job doesn't pay for Python's start-up.
    this.forkServer('python3');
  }

  private send(message: AgentMessage): void {
    this.o.output.write(encodeFrame(message));
  }

  private async handle(m: ClientMessage): Promise<void> {
    switch (m.t) {
      case 'hello':
        return this.send({ t: 'hello', version: PROTOCOL_VERSION, pid: process.pid });
      case 'sync':
        // Until the job's own process exists, this agent stands for it in the PID file.
        writePidFile(this.o.workDir, m.jobId, process.pid);
        return this.send({ t: 'sync-need', id: m.id, paths: this.code.needed(m.project, m.files) });
      case 'sync-put':
        try {
          await this.code.apply(m.project, m.files, m.tarPath ?? (m.tarBase64 ? Buffer.from(m.tarBase64, 'base64') : undefined));
          return this.send({ t: 'sync-done', id: m.id });
        } catch (e) {
          return this.send({ t: 'error', id: m.id, message: `could not unpack the project: ${(e as Error).message}` });
        }
      case 'run':
        return this.run(m);
      case 'cancel':
        return this.cancel(m.jobId);
    }
  }

  private forkServer(interpreter: string): ForkServer {
    let server = this.forkServers.get(interpreter);
    if (!server || !server.isAlive) {
      server = new ForkServer(interpreter, this.scriptPath, this.socketPath, this.o.workDir, (e) => this.onForkServerEvent(e), (why) => {
        for (const job of this.jobs.values()) {
          if (job.request.interpreter === interpreter && !job.exit) {
            job.exit = { signal: 'SIGKILL' };
            job.log.write(`\n[meadowrun] ${why}\n`);
            this.maybeFinish(job, true);
          }
        }
      });
      this.forkServers.set(interpreter, server);
    }
    return server;
  }

  private async run(request: RunRequest): Promise<void> {
    const logPath = path.join(this.logDir, `${request.jobId}.log`);
    const job: Job = {
      request,
      log: fs.createWriteStream(logPath, { flags: 'a' }),
      streams: new Map(),
      ended: 0,
      result: [],
      cancelled: false,
      finishing: false,
    };
    this.jobs.set(request.jobId, job);
    const cwd = this.code.projectDir(request.project);
    fs.mkdirSync(cwd, { recursive: true });
    try {
      await this.forkServer(request.interpreter).start({ jobId: request.jobId, cwd, env: request.env, spec: request.spec });
    } catch (e) {
      this.jobs.delete(request.jobId);
      job.log.end();
      // Nothing ran: free the allocation so the client's error leaves nothing behind.
      await this.o.table.deallocateJob(this.o.instanceId, request.jobId);
      removePidFile(this.o.workDir, request.jobId);
      this.send({
        t: 'done',
        jobId: request.jobId,
        outcome: { status: 'rejected', code: 'interpreter', message: `Python interpreter "${request.interpreter}" on the instance: ${(e as Error).message}` },
      });
    }
  }

  private onForkServerEvent(e: ForkServerEvent): void {
    if ('started' in e) {
      const job = this.jobs.get(e.started);
      if (!job) return;
      job.pid = e.pid;
      writePidFile(this.o.workDir, e.started, e.pid);
      this.send({ t: 'started', jobId: e.started, pid: e.pid, logPath: job.log.path as string });
      if (job.cancelled) this.signalJob(job, 'SIGINT');
    } else {
      const job = this.jobs.get(e.exited);
      if (!job) return;
      job.exit = { code: e.code, signal: e.signal };
      this.maybeFinish(job);
      // A child killed before it connected all its streams never will: stop waiting for them.
      setTimeout(() => this.maybeFinish(job, true), 200).unref();
    }
  }

  private onJobSocket(socket: net.Socket): void {
    // A job that dies mid-write resets its sockets; 'close' follows and says all that matters.
    socket.on('error', () => undefined);
    let header = '';
    let job: Job | undefined;
    let stream = '';
    socket.on('data', (chunk: Buffer) => {
      if (!job) {
        header += chunk.toString('latin1');
        const newline = header.indexOf('\n');
        if (newline < 0) return;
        [, stream] = header.slice(0, newline).split(' ');
        job = this.jobs.get(header.slice(0, newline).split(' ')[0]);
        if (!job) return void socket.destroy();
        job.streams.set(stream, socket);
        chunk = Buffer.from(header.slice(newline + 1), 'latin1');
        if (stream === 'result' && job.request.spec.kind === 'map') {
          this.startMapWorker(job, socket, chunk);
          return;
        }
        if (!chunk.length) return;
      }
      if (stream === 'result' && job.request.spec.kind === 'map') return; // the loop reads it
      if (stream === 'result') job.result.push(chunk);
      else this.output(job, stream as StreamName, chunk);
    });
    const ended = () => {
      if (!job) return;
      job.ended++;
      this.maybeFinish(job);
    };
    socket.once('close', ended);
  }

  /** A map worker's channel is connected: the loop takes tasks from the queue until shutdown. */
  private startMapWorker(job: Job, socket: net.Socket, early: Buffer): void {
    const spec = job.request.spec;
    if (spec.kind !== 'map') return;
    if (!this.o.queues) {
      job.mapOutcome = Promise.resolve({ status: 'rejected', code: 'no-queues', message: 'this agent was started without task queues' });
      socket.destroy();
      return;
    }
    const { jobId } = job.request;
    const loop = new MapWorkerLoop(jobId, socket, this.o.queues, spec, (tasks) => this.send({ t: 'map-claimed', jobId, tasks }));
    if (early.length) socket.emit('data', early);
    job.mapOutcome = loop.run(() => job.cancelled).then(
      (outcome) => {
        // Told to stop: end the worker's Python by closing its channel.
        socket.end();
        return outcome;
      },
      () => undefined, // the worker died; its exit says how
    );
  }

  private output(job: Job, stream: StreamName, chunk: Buffer): void {
    job.log.write(chunk);
    this.send({ t: 'out', jobId: job.request.jobId, stream, data: chunk.toString('base64') });
  }

  private maybeFinish(job: Job, stopWaitingForStreams = false): void {
    if (job.finishing || !job.exit) return;
    const allConnected = job.streams.size === 3 || stopWaitingForStreams;
    if (!allConnected || job.ended < job.streams.size) return;
    job.finishing = true;
    void this.finish(job);
  }

  private async finish(job: Job): Promise<void> {
    const { jobId } = job.request;
    clearTimeout(job.killTimer);
    const outcome = (job.mapOutcome && (await job.mapOutcome)) || this.outcomeOf(job);
    this.jobs.delete(jobId);
    await new Promise((resolve) => job.log.end(resolve));
    // A crash is left to the deallocation sweep, the one authority on processes that died
    // abnormally; every other end is normal and frees its allocation here and now. A map worker
    // is freed either way: its tasks come back through the queue, and a replacement needs room.
    if (outcome.status !== 'crashed' || job.request.spec.kind === 'map') {
      await this.o.table.deallocateJob(this.o.instanceId, jobId);
      removePidFile(this.o.workDir, jobId);
    }
    const text = JSON.stringify(outcome);
    if (text.length <= INLINE_LIMIT) return this.send({ t: 'done', jobId, outcome });
    const outcomePath = path.join(this.o.workDir, 'results', `${jobId}.json`);
    fs.mkdirSync(path.dirname(outcomePath), { recursive: true });
    fs.writeFileSync(outcomePath, text, { mode: 0o600 });
    this.send({ t: 'done', jobId, outcomePath });
  }

  private outcomeOf(job: Job): JobOutcome {
    const text = Buffer.concat(job.result).toString('utf8');
    if (text) {
      const reported = JSON.parse(text) as JobOutcome;
      return job.cancelled && reported.status !== 'succeeded' ? { status: 'cancelled' } : reported;
    }
    const { code, signal } = job.exit!;
    if (job.cancelled) return { status: 'cancelled' };
    if (signal) return { status: 'crashed', signal, message: `the job's process (pid ${job.pid}) was killed by ${signal}` };
    if (job.request.spec.kind === 'command') return { status: 'exited', exitCode: code ?? 0 };
    return { status: 'crashed', exitCode: code, message: `Python exited with code ${code} before the function returned` };
  }

  private cancel(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (!job || job.cancelled) return;
    job.cancelled = true;
    if (job.pid) this.signalJob(job, 'SIGINT');
  }

  /** Ctrl-C first, so the user's code can clean up; then no more waiting. */
  private signalJob(job: Job, signal: NodeJS.Signals): void {
    try {
      process.kill(-job.pid!, signal);
    } catch {
      // Already gone.
    }
    if (signal === 'SIGINT') job.killTimer = setTimeout(() => this.signalJob(job, 'SIGKILL'), 3000);
  }

  /** The client is gone: nobody will read the results, so stop the jobs and free what they held. */
  private shutdown(): void {
    for (const job of this.jobs.values()) {
      job.cancelled = true;
      if (job.pid) this.signalJob(job, 'SIGKILL');
    }
    const waitForJobs = setInterval(() => {
      if (this.jobs.size > 0) return;
      clearInterval(waitForJobs);
      for (const s of this.forkServers.values()) s.stop();
      this.socketServer.close();
      fs.rmSync(this.socketPath, { force: true });
      if (this.socketInTempDir) fs.rmSync(path.dirname(this.socketPath), { recursive: true, force: true });
      process.exit(0);
    }, 20);
  }

  private makeSocketPath(): string {
    const dir = path.join(this.o.workDir, 'run');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const candidate = path.join(dir, `agent-${process.pid}.sock`);
    // Unix socket paths are limited to ~107 bytes; fall back to a private temporary directory.
    if (Buffer.byteLength(candidate) < 100) return candidate;
    this.socketInTempDir = true;
    return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-')), 'agent.sock');
  }
}
