import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { AllocationTable, PayloadStore, TaskQueues } from '../cloud/ports';
import { MapWorkerLoop } from './mapWorker';
import { Writable } from 'stream';
import { AgentMessage, ClientMessage, DEFAULT_LOG_CAP_BYTES, encodeFrame, FrameDecoder, INLINE_LIMIT, isMessage, JobOutcome, PROTOCOL_VERSION, replyKey, RunRequest, StreamName } from '../remote/protocol';
import { lineLogger, Logger, logFailure } from '../core/logger';
import type { EnvironmentEvent } from '../core/deployment';
import { CodeStore } from './codeStore';
import { Containers, ImageError } from './containers';
import { dockerRunArgs } from '../core/containers';
import { EnvironmentBuildError, Environments } from './environments';
import { ForkServer, ForkServerEvent } from './forkServer';
import { GitCode, GitCodeError } from './gitCode';
import { resolveDeployment } from '../jobs/deployment';
import type { EnvironmentSpec } from '../core/deployment';
import { JobLog } from './jobLog';
import { removePidFile, writePidFile } from './pidFiles';
import forkServerSource from './python/forkserver.py';

export interface ServeOptions {
  workDir: string;
  instanceId: string;
  table: AllocationTable;
  /** For map workers. */
  queues?: TaskQueues;
  payloads?: PayloadStore;
  /** The agent's own log (default: its stderr, a file beside its socket for the daemon). */
  log?: Logger;
  /** The instance's Docker engine (DOCKER_HOST) for jobs in containers, when not the default socket. */
  dockerHost?: string;
  /** How this instance installs Docker when a job needs it and it lacks it (AgentConfig's docker.install, through sudo). */
  installDocker?: string[];
  /** A named secret's value, read with the instance's identity (registry, index and git credentials). */
  secret?: (name: string) => Promise<string | undefined>;
}

/** A job's output waits (and the job with it) while more than this is queued for its client. */
const CLIENT_BACKLOG = 1 << 20;
/** … and while more than this waits to be written to its log. */
const LOG_BACKLOG = 4 << 20;
/** A result message is small (large values go to files): more than this is not one. */
const RESULT_MESSAGE_LIMIT = 2 * INLINE_LIMIT;

/** One connected client: its replies go back on its own stream, and its jobs end when it goes. */
interface Client {
  send(message: AgentMessage): void;
  /** Whether more than CLIENT_BACKLOG bytes wait to be sent to the client. */
  backlogged(): boolean;
  /** Resolves once the client's connection has room again (at once if it has, or it is gone). */
  drained(): Promise<void>;
  gone: boolean;
  /** Jobs synced for but not yet started: this agent holds their PID files. */
  pending: Set<string>;
  /** Result files waiting on the instance for this client to fetch (and remove). */
  results: Set<string>;
}

interface Job {
  client: Client;
  request: RunRequest;
  /** The Python that runs it: the request's, or its environment's. */
  interpreter: string;
  /** Its environment: the request's, or the one its repository's files name (`git`). */
  environment?: EnvironmentSpec;
  /** The commit of its code from git. */
  commit?: string;
  log: JobLog;
  pid?: number;
  streams: Map<string, net.Socket>;
  ended: number;
  result: Buffer[];
  resultBytes: number;
  /** The job's output on its way to the log and the client; the job's streams are paused meanwhile. */
  output: Promise<void>;
  exit?: { code?: number; signal?: string };
  cancelled: boolean;
  killTimer?: NodeJS.Timeout;
  finishing: boolean;
  /** A map worker's outcome, decided by its loop rather than by the process's exit. */
  mapOutcome?: Promise<JobOutcome | undefined>;
  mapLoop?: MapWorkerLoop;
  /** A job in a container: its own job starter, run by `docker run` (pid: that process's). */
  container?: ForkServer;
}

/**
 * The resident agent, speaking the framed protocol with each client attached to it: one client on
 * stdin/stdout (`serve`), or every client that connects to its Unix socket (`daemon`). Every job
 * runs in its own process, forked from a warm Python; this process writes the job's PID file,
 * streams its output, logs it, and frees its allocation when it ends normally.
 */
export class AgentServer {
  private readonly jobs = new Map<string, Job>();
  private readonly clients = new Set<Client>();
  private readonly forkServers = new Map<string, ForkServer>();
  private readonly code: CodeStore;
  private readonly environments: Environments;
  private readonly git: GitCode;
  private readonly containers: Containers;
  private readonly socketPath: string;
  private socketInTempDir = false;
  private readonly socketServer: net.Server;
  private readonly scriptPath: string;
  private readonly logDir: string;
  private readonly resultsDir: string;

  private readonly log: Logger;

  constructor(private readonly o: ServeOptions) {
    this.log = o.log ?? agentLog;
    this.code = new CodeStore(o.workDir);
    this.environments = new Environments(o.workDir, o.secret);
    this.git = new GitCode(o.workDir, o.secret);
    this.containers = new Containers({ workDir: o.workDir, dockerHost: o.dockerHost, secret: o.secret, installDocker: o.installDocker });
    this.logDir = path.join(o.workDir, 'logs');
    this.resultsDir = path.join(o.workDir, 'results');
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
    // Warm the default interpreter now so the first job doesn't pay for Python's start-up.
    this.forkServer('python3');
  }

  get idle(): boolean {
    return this.clients.size === 0 && this.jobs.size === 0;
  }

  /** Serves one client on a pair of streams; `onGone` runs once it left and its jobs have ended. */
  attach(input: NodeJS.ReadableStream, output: Writable, onGone?: () => void): void {
    let draining: Promise<void> | undefined;
    const client: Client = {
      send: (m) => void (client.gone || output.write(encodeFrame(m))),
      backlogged: () => !client.gone && output.writableLength > CLIENT_BACKLOG,
      drained: () => {
        if (!client.backlogged()) return Promise.resolve();
        draining ??= new Promise<void>((resolve) => {
          const done = () => {
            output.off('drain', done);
            output.off('close', done);
            draining = undefined;
            resolve();
          };
          output.on('drain', done);
          output.on('close', done);
        });
        return draining;
      },
      gone: false,
      pending: new Set(),
      results: new Set(),
    };
    this.clients.add(client);
    const decoder = new FrameDecoder();
    // Garbage on the wire: this client can't be understood any more (but the others can). It is
    // told why, with no id (it answers nothing in particular), and its channel is closed.
    const refuse = (why: string) => {
      this.log.warn(`A client sent ${why}: closing its connection`);
      client.send({ t: 'error', message: `the client sent ${why}` });
      leave();
      output.end();
    };
    input.on('data', (chunk: Buffer) => {
      if (left) return;
      let messages: unknown[];
      try {
        messages = decoder.push(chunk);
      } catch (e) {
        return refuse((e as Error).message);
      }
      for (const message of messages) {
        if (!isMessage(message)) return refuse(`something that is not a message: ${JSON.stringify(message).slice(0, 60)}`);
        const m = message as ClientMessage;
        // A failed request is answered with its own id (or job id): the client rejects that one alone.
        this.handle(client, m).catch((e) => {
          logFailure(this.log, `Handling "${m.t}"`, e, 'error');
          client.send({ t: 'error', ...replyKey(m), message: String(e?.message ?? e) });
        });
      }
    });
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      void this.detach(client).then(onGone, (e) => {
        logFailure(this.log, 'Detaching a client', e, 'error');
        onGone?.();
      });
    };
    input.on('end', leave);
    input.on('close', leave);
    input.on('error', leave);
  }

  private async handle(client: Client, m: ClientMessage): Promise<void> {
    switch (m.t) {
      case 'hello':
        return client.send({ t: 'hello', version: PROTOCOL_VERSION, pid: process.pid });
      case 'sync':
        // Until the job's own process exists, this agent stands for it in the PID file.
        writePidFile(this.o.workDir, m.jobId, process.pid);
        client.pending.add(m.jobId);
        return client.send({ t: 'sync-need', id: m.id, ...this.code.needed(m.project, m.files), uploadPath: this.code.uploadPath(m.project, m.jobId) });
      case 'sync-put':
        try {
          await this.code.apply(m.project, m.files, m.tarPath ?? (m.tarBase64 ? Buffer.from(m.tarBase64, 'base64') : undefined));
          return client.send({ t: 'sync-done', id: m.id });
        } catch (e) {
          return client.send({ t: 'error', id: m.id, message: `sync: could not unpack the project: ${(e as Error).message}` });
        }
      case 'run':
        client.pending.delete(m.jobId);
        return this.run(client, m);
      case 'cancel':
        return this.cancel(m.jobId);
    }
  }

  private forkServer(interpreter: string): ForkServer {
    let server = this.forkServers.get(interpreter);
    if (!server || !server.isAlive) {
      server = new ForkServer(interpreter, this.scriptPath, this.socketPath, this.o.workDir, (e) => this.onForkServerEvent(e), (why) => {
        for (const job of this.jobs.values()) {
          if (job.interpreter === interpreter && !job.exit) {
            job.exit = { signal: 'SIGKILL' };
            job.log.append(`\n[meadowrun] ${why}\n`);
            this.maybeFinish(job, true);
          }
        }
      });
      this.forkServers.set(interpreter, server);
    }
    return server;
  }

  private async run(client: Client, request: RunRequest): Promise<void> {
    let job: Job | undefined;
    let interpreterStarted = true;
    try {
      const logPath = path.join(this.logDir, `${request.jobId}.log`);
      job = {
        client,
        request,
        interpreter: request.interpreter,
        log: new JobLog(logPath, request.logCapBytes ?? DEFAULT_LOG_CAP_BYTES),
        streams: new Map(),
        ended: 0,
        result: [],
        resultBytes: 0,
        output: Promise.resolve(),
        cancelled: false,
        finishing: false,
      };
      this.jobs.set(request.jobId, job);
      let cwd: string;
      let environment = request.environment;
      if (request.git) {
        const log = job.log;
        const checkout = await this.git.checkout(request.git, (line) => log.append(`${line}\n`));
        cwd = checkout.dir;
        job.commit = checkout.commit;
        // The libraries named by the repository's own files, read here (the client has not seen them).
        if (!environment && request.deployment) environment = await environmentOfRepository(cwd, request.deployment);
      } else {
        cwd = this.code.projectDir(request.project);
        fs.mkdirSync(cwd, { recursive: true });
      }
      interpreterStarted = false;
      if (request.image) return await this.runInContainer(job, cwd);
      if (environment) {
        job.environment = environment;
        job.interpreter = await this.environmentOf(job, environment);
        // Cancelled while it waited for the build (which goes on, for the cache): nothing to start.
        if (job.cancelled) throw new CancelledBeforeStart();
      }
      await this.forkServer(job.interpreter).start({ jobId: request.jobId, cwd, env: request.env, spec: request.spec, resultsDir: this.resultsDir });
    } catch (e) {
      this.jobs.delete(request.jobId);
      await job?.log.close();
      // Nothing ran: free the allocation so the client's error leaves nothing behind.
      await this.o.table.deallocateJob(this.o.instanceId, request.jobId);
      removePidFile(this.o.workDir, request.jobId);
      const message = (e as Error).message;
      client.send({
        t: 'done',
        jobId: request.jobId,
        outcome:
          e instanceof CancelledBeforeStart
            ? { status: 'cancelled' }
            : e instanceof GitCodeError
            ? { status: 'rejected', code: 'git', message }
            : e instanceof RepositoryDeploymentError
            ? { status: 'rejected', code: 'environment', message }
            : e instanceof EnvironmentBuildError
            ? { status: 'rejected', code: 'environment', message: `${(job?.environment ?? request.environment)?.source}: ${message}` }
            : e instanceof ImageError
            ? { status: 'rejected', code: 'environment', message: `Container image ${request.image?.ref}: ${message}` }
            : interpreterStarted
              ? { status: 'crashed', message: `the agent could not start the job: ${message}` }
              : { status: 'rejected', code: 'interpreter', message: `Python interpreter "${job?.interpreter ?? request.interpreter}" on the instance: ${message}` },
      });
    }
  }

  /**
   * Runs the job in its image: pulled first if the instance lacks it, then a container of its own
   * whose job starter connects back to this agent. The job's PID file names `docker run`, which
   * lives exactly as long as the container: the sweep frees the job when it is gone.
   */
  private async runInContainer(job: Job, cwd: string): Promise<void> {
    const { jobId } = job.request;
    const image = job.request.image!;
    const say = (event: EnvironmentEvent) => job.client.send({ t: 'environment', jobId, event });
    const { pulledS } = await this.containers.prepare(image, jobId, {
      installing: () => {
        job.log.append('[meadowrun] Installing Docker on this instance (first time)\n');
        say({ kind: 'installing-docker' });
      },
      installed: (seconds) => {
        job.log.append(`[meadowrun] Docker installed in ${seconds.toFixed(1)} s\n`);
        say({ kind: 'docker-installed', seconds });
      },
      pulling: () => {
        job.log.append(`[meadowrun] Pulling image ${image.ref} (first time on this instance)\n`);
        say({ kind: 'pulling', image: image.ref });
      },
      line: (line) => {
        job.log.append(`${line}\n`);
        say({ kind: 'log', line });
      },
    });
    if (pulledS !== undefined) say({ kind: 'pulled', image: image.ref, seconds: pulledS });
    if (job.cancelled) throw new CancelledBeforeStart();
    const mounts = [this.o.workDir, path.dirname(this.socketPath)];
    const args = dockerRunArgs({
      jobId,
      image: image.ref,
      interpreter: job.request.interpreter,
      script: this.scriptPath,
      socketPath: this.socketPath,
      mounts,
      cwd,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
    });
    const starter = new ForkServer(
      job.request.interpreter,
      this.scriptPath,
      this.socketPath,
      cwd,
      (e) => this.onForkServerEvent(e),
      (why) => {
        // Only a job that started is finished here: one that didn't is answered by its start's error.
        if (job.pid === undefined || job.exit) return;
        job.exit = { signal: 'SIGKILL' };
        job.log.append(`\n[meadowrun] ${why}\n`);
        this.maybeFinish(job, true);
      },
      this.containers.spawnRun(args, cwd),
    );
    job.container = starter;
    try {
      await starter.start({ jobId, cwd, env: job.request.env, spec: job.request.spec, resultsDir: this.resultsDir });
    } catch (e) {
      throw new ImageError(`docker run failed: ${(e as Error).message}`);
    }
  }

  /** The job's environment's Python, built first if this instance lacks it; its progress goes to the client and the job's log. */
  private environmentOf(job: Job, spec: NonNullable<RunRequest['environment']>): Promise<string> {
    const { jobId } = job.request;
    return this.environments.interpreterFor(job.request.interpreter, spec, (event) => {
      if (event.kind === 'log') job.log.append(`${event.line}\n`);
      else if (event.kind === 'building') job.log.append(`[meadowrun] Building environment ${event.hash} from ${event.source} (first time on this instance)\n`);
      else if (event.kind === 'built') job.log.append(`[meadowrun] Environment ${event.hash} built in ${event.seconds.toFixed(1)} s\n`);
      job.client.send({ t: 'environment', jobId, event });
    });
  }

  private onForkServerEvent(e: ForkServerEvent): void {
    if ('started' in e) {
      const job = this.jobs.get(e.started);
      if (!job) return;
      // A pid in a container's namespace means nothing here: `docker run`'s stands for the job.
      job.pid = job.container ? job.container.pid! : e.pid;
      try {
        writePidFile(this.o.workDir, e.started, job.pid);
      } catch (err) {
        logFailure(this.log, `Writing the PID file of ${e.started}`, err, 'error');
      }
      job.client.send({ t: 'started', jobId: e.started, pid: job.pid, logPath: job.log.path, ...(job.commit && { commit: job.commit }) });
      if (job.cancelled) this.signalJob(job, 'SIGINT');
    } else {
      const job = this.jobs.get(e.exited);
      if (!job) return;
      job.exit = { code: e.code, signal: e.signal };
      // The container's job starter ends (and its container with it) once its stdin closes.
      job.container?.stop();
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
      if (stream === 'result') {
        job.resultBytes += chunk.length;
        if (job.resultBytes <= RESULT_MESSAGE_LIMIT) job.result.push(chunk);
        return;
      }
      this.output(job, socket, stream as StreamName, chunk);
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
    if (!this.o.queues || !this.o.payloads) {
      job.mapOutcome = Promise.resolve({ status: 'rejected', code: 'no-queues', message: 'this agent was started without task queues' });
      socket.destroy();
      return;
    }
    const { jobId } = job.request;
    const loop = new MapWorkerLoop(jobId, socket, this.o.queues, this.o.payloads, spec, (tasks) => job.client.send({ t: 'map-claimed', jobId, tasks }), this.log);
    if (early.length) socket.emit('data', early);
    job.mapLoop = loop;
    if (job.cancelled) loop.stop();
    job.mapOutcome = loop.run().then(
      (outcome) => {
        // Told to stop: end the worker's Python by closing its channel.
        socket.end();
        return outcome;
      },
      () => undefined, // the worker died; its exit says how
    );
  }

  /**
   * Logs a piece of a job's output and sends it on. When the disk or the client falls behind, the
   * job's stream is paused until they catch up: the job waits, as it would on a full pipe, and
   * memory stays bounded here and at the client.
   */
  private output(job: Job, socket: net.Socket, stream: StreamName, chunk: Buffer): void {
    job.log.append(chunk);
    job.client.send({ t: 'out', jobId: job.request.jobId, stream, data: chunk.toString('base64') });
    if (job.log.backlog <= LOG_BACKLOG && !job.client.backlogged()) return;
    socket.pause();
    job.output = job.output
      .then(async () => void (await Promise.all([job.log.flushed(), job.client.drained()])))
      .catch((e) => logFailure(this.log, `Output of ${job.request.jobId}`, e, 'error'))
      .finally(() => socket.resume());
  }

  private maybeFinish(job: Job, stopWaitingForStreams = false): void {
    if (job.finishing || !job.exit) return;
    const allConnected = job.streams.size === 3 || stopWaitingForStreams;
    if (!allConnected || job.ended < job.streams.size) return;
    job.finishing = true;
    this.finish(job).catch((e) => {
      // Whatever went wrong, the client hears of its job, and the agent goes on serving.
      logFailure(this.log, `Finishing ${job.request.jobId}`, e, 'error');
      this.jobs.delete(job.request.jobId);
      job.client.send({ t: 'done', jobId: job.request.jobId, outcome: { status: 'crashed', message: `the agent could not finish the job: ${(e as Error)?.message ?? e}` } });
    });
  }

  private async finish(job: Job): Promise<void> {
    const { jobId } = job.request;
    clearTimeout(job.killTimer);
    const mapOutcome = job.mapOutcome && (await job.mapOutcome);
    const { outcome, outcomePath } = mapOutcome ? { outcome: mapOutcome, outcomePath: undefined } : this.outcomeOf(job);
    this.jobs.delete(jobId);
    // What the function raised is the first thing anyone opening the log looks for.
    if (outcome.status === 'failed') job.log.append(outcome.error.traceback);
    await job.output;
    await job.log.close();
    // A crash is left to the deallocation sweep, the one authority on processes that died
    // abnormally; every other end is normal and frees its allocation here and now. A map worker
    // is freed either way: its tasks come back through the queue, and a replacement needs room.
    if (outcome.status !== 'crashed' || job.request.spec.kind === 'map') {
      await this.o.table.deallocateJob(this.o.instanceId, jobId);
      removePidFile(this.o.workDir, jobId);
    }
    if (outcomePath) {
      job.client.results.add(outcomePath);
      return job.client.send({ t: 'done', jobId, outcomePath });
    }
    if (outcome.status === 'succeeded' && outcome.value?.pickleFile) job.client.results.add(outcome.value.pickleFile);
    job.client.send({ t: 'done', jobId, outcome });
  }

  /** The outcome the job reported (or, when large, the file holding it), else what its exit says. */
  private outcomeOf(job: Job): { outcome: JobOutcome; outcomePath?: string } {
    const text = job.resultBytes <= RESULT_MESSAGE_LIMIT ? Buffer.concat(job.result).toString('utf8') : '';
    let reported: (JobOutcome & { outcomeFile?: string }) | undefined;
    try {
      reported = text ? JSON.parse(text) : undefined;
    } catch {
      // Something else wrote to the result channel: judge the job by its exit.
    }
    if (reported) {
      if (job.cancelled && reported.status !== 'succeeded') {
        if (reported.outcomeFile) fs.rmSync(reported.outcomeFile, { force: true });
        return { outcome: { status: 'cancelled' } };
      }
      if (reported.outcomeFile) return { outcome: reported, outcomePath: reported.outcomeFile };
      return { outcome: reported };
    }
    return { outcome: this.exitOutcome(job) };
  }

  private exitOutcome(job: Job): JobOutcome {
    const { code, signal } = job.exit!;
    if (job.cancelled) return { status: 'cancelled' };
    if (signal) return { status: 'crashed', signal, message: `the job's process (pid ${job.pid}) was killed by ${signal}` };
    if (job.request.spec.kind === 'command') return { status: 'exited', exitCode: code ?? 0 };
    return { status: 'crashed', exitCode: code, message: `Python exited with code ${code} before the function returned` };
  }

  private cancel(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (!job || job.cancelled) return;
    this.markCancelled(job);
    if (job.pid) this.signalJob(job, 'SIGINT');
  }

  private markCancelled(job: Job): void {
    job.cancelled = true;
    job.mapLoop?.stop();
  }

  /** Ctrl-C first, so the user's code can clean up; then no more waiting. */
  private signalJob(job: Job, signal: 'SIGINT' | 'SIGKILL'): void {
    if (job.container) {
      this.containers.kill(job.request.jobId, signal).catch((e) => logFailure(this.log, `Stopping the container of ${job.request.jobId}`, e, 'error'));
    } else {
      try {
        process.kill(-job.pid!, signal);
      } catch {
        // Already gone.
      }
    }
    if (signal === 'SIGINT') job.killTimer = setTimeout(() => this.signalJob(job, 'SIGKILL'), 3000);
  }

  /** A client is gone: nobody will read its results, so stop its jobs and free what they held. */
  private async detach(client: Client): Promise<void> {
    client.gone = true;
    this.clients.delete(client);
    for (const file of client.results) fs.rmSync(file, { force: true });
    for (const jobId of client.pending) {
      removePidFile(this.o.workDir, jobId);
      await this.o.table.deallocateJob(this.o.instanceId, jobId);
    }
    const mine = [...this.jobs.values()].filter((job) => job.client === client);
    for (const job of mine) {
      this.markCancelled(job);
      if (job.pid) this.signalJob(job, 'SIGKILL');
    }
    while (mine.some((job) => this.jobs.has(job.request.jobId))) await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * The agent is going away: its jobs go with it (nobody could collect their results), and what
   * they held is freed now rather than by the sweep later.
   */
  async shutdown(): Promise<void> {
    for (const job of this.jobs.values()) {
      this.markCancelled(job);
      if (job.pid) this.signalJob(job, 'SIGKILL');
      // The sweep frees it later if this fails: go on stopping the others.
      await this.o.table.deallocateJob(this.o.instanceId, job.request.jobId).catch((e) => logFailure(this.log, `Freeing ${job.request.jobId}`, e, 'error'));
      removePidFile(this.o.workDir, job.request.jobId);
    }
    this.stop();
  }

  /** Stops the warm Pythons and the job socket; the process may exit after this. */
  stop(): void {
    for (const s of this.forkServers.values()) s.stop();
    this.socketServer.close();
    fs.rmSync(this.socketPath, { force: true });
    if (this.socketInTempDir) fs.rmSync(path.dirname(this.socketPath), { recursive: true, force: true });
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

class CancelledBeforeStart extends Error {}

/** The agent's own log is its stderr (a file beside its socket, for the daemon): everything, with times. */
export const agentLog: Logger = lineLogger((line) => void process.stderr.write(line), { verbose: true });

/** The repository's deployment files could not be read: one line, naming the file. */
class RepositoryDeploymentError extends Error {}

async function environmentOfRepository(dir: string, d: NonNullable<RunRequest['deployment']>): Promise<EnvironmentSpec | undefined> {
  try {
    return await resolveDeployment(dir, d.choice, d.index);
  } catch (e) {
    throw new RepositoryDeploymentError(`in the repository: ${(e as Error).message}`);
  }
}
