import * as crypto from 'crypto';
import { isCancellation, MeadowrunError } from '../core/errors';
import { Logger, logFailure, SILENT } from '../core/logger';
import { MapEvent, MapWorkerInfo, TaskError } from '../core/mapProgress';
import { Resources } from '../core/resources';
import { RequestMessage, ResultMessage, SerializedValue } from '../remote/mapMessages';
import { deleteJobQueues, JobQueues } from '../cloud/jobQueues';
import { Cloud, QueueMessage } from '../cloud/ports';
import { JobOutcome, JobSpec, RunRequest } from '../remote/protocol';
import type { ImageSpec } from '../core/containers';
import type { EnvironmentEvent, EnvironmentSpec } from '../core/deployment';
import { AgentSession } from '../remote/agentSession';
import { SessionPool } from '../remote/pool';
import { Allocation, AllocationEvent, allocateJobs, discardInstance, fenceUnreachable, isUnreachable } from './allocate';
import { LeaseFile } from './clientLeases';
import { syncProject } from './codeSync';
import { stoppedByTermination } from './instances';

/** A map's arguments: values we have (list, JSON, JSONL), or a Python expression the instance evaluates. */
export type MapArguments = { kind: 'values'; values: unknown[] } | { kind: 'expression'; expr: string };

/** Map arguments as a user types them: a JSON list (values known here) or a Python expression. */
export function parseMapArguments(text: string): MapArguments {
  try {
    const values = JSON.parse(text);
    if (Array.isArray(values)) return { kind: 'values', values };
  } catch {
    // Not JSON: a Python expression, evaluated on the instance.
  }
  return { kind: 'expression', expr: text };
}

export type MapTaskResult =
  | { ok: true; value: SerializedValue; attempts: number }
  | { ok: false; error: TaskError; attempts: number };

export interface MapResult {
  jobId: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  /** In the order of the arguments. */
  results: MapTaskResult[];
  failed: number;
}

export interface MapSettings {
  target: string;
  projectDir: string;
  project: string;
  need: Resources;
  workers: number;
  maxAttempts: number;
  visibilityS: number;
  interpreter: string;
  /** The libraries the workers need (see Engine's deployment option). */
  environment?: EnvironmentSpec;
  /** Or the container image they run in. */
  image?: ImageSpec;
  /** Code from a git repository, fetched on each instance, in place of the synced project (nothing is synced). */
  code?: Pick<RunRequest, 'git' | 'deployment'>;
  onEnvironment?(event: EnvironmentEvent): void;
  env: Record<string, string>;
  title: string;
  signal?: AbortSignal;
  log?: Logger;
  /** Where this client records what the map holds, for a later client to free should this one be killed. */
  leaseDir?: string;
  onEvent?(e: MapEvent): void;
  onAllocationEvent?(e: AllocationEvent): void;
}

interface Worker {
  info: MapWorkerInfo;
  allocation: Allocation;
  done: Promise<JobOutcome | Error>;
  ended: boolean;
}

/**
 * About how long it takes, on each provider, from deciding to launch an instance to its first
 * worker taking tasks. The local cloud's is measured (an sshd, the agent and a warm Python start in
 * about a second); a real cloud's boot is slower (EC2 ≈ 25 s to running, then cloud-init).
 */
const LAUNCH_ESTIMATE_S: Record<string, number> = { local: 2 };
const DEFAULT_LAUNCH_ESTIMATE_S = 60;
/** A request message carries up to this many tasks (fewer when they would not fit in a message): few queue operations, still balanced. */
const MAX_TASKS_PER_MESSAGE = 200;

/**
 * One map job from the client's side: a request and a result queue, workers allocated (and
 * launched) through the same path as single jobs, results gathered in order, failed tasks retried
 * up to the limit, dead workers replaced while tasks remain, and nothing left behind at the end.
 */
export class MapRun {
  readonly jobId = `map-${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`;
  private queues!: { request: string; result: string };
  private readonly jobQueues: JobQueues;
  /** Ends a wait for results early: the map failed (a worker's end decided it) or was cancelled. */
  private readonly wake = new AbortController();
  /** When maybeLaunchMore looks again if nothing else makes it: the wait for results may be long. */
  private launchCheck?: NodeJS.Timeout;
  private readonly workers = new Map<string, Worker>();
  private readonly results: (MapTaskResult | undefined)[] = [];
  private args: SerializedValue[] = [];
  private unfinished = 0;
  private nextWorker = 0;
  private width = 0;
  /** Instances launched for this map: they go with it when it is cancelled or fails. */
  private readonly launched = new Set<string>();
  private lease?: LeaseFile;
  private stopping = false;
  private replacements = 0;
  private fatal?: Error;
  /** Workers wanted beyond those placed on running instances: launched only if the map needs them. */
  private deferred = 0;
  /** The second wave being allocated (and launched), if any. */
  private wave?: Promise<void>;
  /** When the first worker took its first tasks (its Python up): the map's pace is measured from there. */
  private firstClaimAt?: number;
  private readonly synced = new Map<string, Promise<unknown>>();
  /** With code from git: the commit the first of its jobs to start ran. */
  private commit?: string;
  /** The map is ending: allocate nothing more and start no more workers. */
  private ending = false;
  /** Aborted as the map ends: a replacement still being placed (its instance still booting) is given up. */
  private readonly ended = new AbortController();
  /** Replacements being placed; the map's end waits for them, so none starts (or holds a row) after it. */
  private readonly replacing = new Set<Promise<void>>();

  private readonly log: Logger;

  constructor(
    private readonly cloud: Cloud,
    private readonly pool: SessionPool,
    private readonly s: MapSettings,
  ) {
    this.jobQueues = new JobQueues(cloud.queues, cloud.payloads, this.jobId);
    this.log = s.log ?? SILENT;
  }

  async run(args: MapArguments): Promise<MapResult> {
    // Recorded before anything exists, so that a kill at any point leaves a trail to clean up.
    if (this.s.leaseDir) this.lease = new LeaseFile(this.s.leaseDir, this.jobId);
    this.queues = await this.cloud.queues.createPair(this.jobId);
    let allocated: { workerId: string; allocation: Allocation }[] = [];
    try {
      // The arguments first, as a job of their own: the map then knows its size, and no worker
      // allocation waits (unprotected from the sweep) while a slow expression is evaluated.
      this.args = args.kind === 'values' ? args.values.map((v) => ({ json: JSON.stringify(v) })) : await this.evaluate(args.expr);
      this.unfinished = this.args.length;
      this.results.length = this.args.length;
      // A worker without a task would only cost an allocation.
      this.width = Math.min(this.s.workers, this.args.length);
      this.emit({ kind: 'started', jobId: this.jobId, title: this.s.title, taskCount: this.args.length, workers: this.width, at: Date.now() });
      allocated = await this.placeWorkers();
      for (const w of allocated.splice(0)) this.startWorker(w.workerId, w.allocation);
      await this.sendTasks(this.args.map((arg, task) => ({ task, attempt: 1, arg })));
      await this.gather();
      await this.endWave();
      const cancelled = !!this.s.signal?.aborted;
      const failed = this.results.filter((r) => r && !r.ok).length;
      const status = cancelled ? 'cancelled' : failed ? 'failed' : 'succeeded';
      await this.stopWorkers(cancelled);
      this.emit({ kind: 'finished', at: Date.now(), status, message: failed ? `${failed} task${failed > 1 ? 's' : ''} failed` : undefined });
      return { jobId: this.jobId, status, results: this.results as MapTaskResult[], failed };
    } catch (e) {
      // Allocated workers that never started hold nothing but their allocation.
      for (const w of allocated) await this.cloud.table.deallocateJob(w.allocation.instance.id, w.workerId);
      await this.endWave();
      await this.stopWorkers(true);
      // Cancelled while workers were being placed (waiting for a launch): a cancelled map, as at any other moment.
      if (this.s.signal?.aborted && isCancellation(e)) {
        const failed = this.results.filter((r) => r && !r.ok).length;
        this.emit({ kind: 'finished', at: Date.now(), status: 'cancelled' });
        return { jobId: this.jobId, status: 'cancelled', results: this.results as MapTaskResult[], failed };
      }
      this.emit({ kind: 'finished', at: Date.now(), status: this.s.signal?.aborted ? 'cancelled' : 'failed', message: (e as Error).message });
      throw e;
    } finally {
      clearTimeout(this.launchCheck);
      await deleteJobQueues(this.cloud, this.jobId);
      this.lease?.remove();
    }
  }

  private emit(e: MapEvent): void {
    this.s.onEvent?.(e);
  }

  /**
   * Where the workers go: first wherever running instances have room now. If some found room, the
   * map starts on those alone and the rest wait for maybeLaunchMore; with room nowhere (or only on
   * an instance this map launched), instances are launched for every worker at once (they then all
   * start together, so none is wasted).
   */
  private async placeWorkers(): Promise<{ workerId: string; allocation: Allocation }[]> {
    const warm: { workerId: string; allocation: Allocation }[] = [];
    while (warm.length < this.width) {
      const workerId = `${this.jobId}-w${this.nextWorker}`;
      try {
        const [allocation] = await allocateJobs(this.cloud, this.s.need, [workerId], { noLaunch: true, signal: this.s.signal });
        warm.push({ workerId, allocation });
        this.nextWorker++;
      } catch (e) {
        if ((e as MeadowrunError).code !== 'no-room') throw e;
        break;
      }
    }
    if (!warm.length) return this.allocateWorkers(this.width);
    // Room only on what this map launched itself (to evaluate its arguments) is no reason to wait:
    // the cloud was cold, so the rest launch now and all start together.
    if (warm.every((w) => this.launched.has(w.allocation.instance.id))) return [...warm, ...(await this.allocateWorkers(this.width - warm.length))];
    this.deferred = this.width - warm.length;
    return warm;
  }

  private async allocateWorkers(count: number, signal = this.s.signal): Promise<{ workerId: string; allocation: Allocation }[]> {
    const ids = Array.from({ length: count }, () => `${this.jobId}-w${this.nextWorker++}`);
    const allocations = await allocateJobs(this.cloud, this.s.need, ids, { onEvent: this.allocationEvent, onLaunched: this.registered, signal });
    return ids.map((workerId, i) => ({ workerId, allocation: allocations[i] }));
  }

  private allocationEvent = (e: AllocationEvent): void => {
    if (e.kind === 'launched') this.launched.add(e.instanceId);
    this.s.onAllocationEvent?.(e);
  };

  /** The lease names an instance as soon as it has an id: a client killed mid-launch leaves it to the next one. */
  private registered = (instanceId: string): void => {
    this.lease?.launched(instanceId);
  };

  /**
   * The second wave: the workers that found no room at the start are placed (launching instances
   * if need be) only when the map looks long enough to use them — when the tasks left would take
   * the running workers, at their pace so far, longer than an instance takes to launch; or, before
   * any task has finished, once that wait alone has outlasted a launch and tasks are still
   * queued. So a map of many short tasks launches nothing, and a long one gets its full width.
   */
  private maybeLaunchMore(): void {
    clearTimeout(this.launchCheck);
    if (!this.deferred || this.wave || this.ending || this.firstClaimAt === undefined || this.s.signal?.aborted) return;
    const running = [...this.workers.values()].filter((w) => !w.ended).length;
    const queued = this.unfinished - running;
    if (queued <= 0) return;
    const finished = this.args.length - this.unfinished;
    const elapsedS = (Date.now() - this.firstClaimAt) / 1000;
    const launchS = LAUNCH_ESTIMATE_S[this.cloud.provider.name] ?? DEFAULT_LAUNCH_ESTIMATE_S;
    const leftS = finished > 0 ? (this.unfinished * elapsedS) / finished : elapsedS;
    if (leftS <= launchS) {
      // Look again when, at this pace and with no result meanwhile, it would be time (results
      // and claims look sooner): the gather loop may be waiting on the queue for a while.
      const dueS = finished > 0 ? (launchS * finished) / this.unfinished : launchS;
      this.launchCheck = setTimeout(() => this.maybeLaunchMore(), Math.max(0, dueS - elapsedS) * 1000 + 10);
      this.launchCheck.unref();
      return;
    }
    const count = this.deferred;
    this.deferred = 0;
    // Not cancelled through the signal: an instance launched while the map is being cancelled is
    // then discarded here, rather than left registered half-way.
    this.wave = this.allocateWorkers(count, undefined).then(
      async (placed) => {
        if (!this.ending && this.unfinished > 0 && !this.s.signal?.aborted) {
          for (const w of placed) this.startWorker(w.workerId, w.allocation);
          return;
        }
        // The map ended while they were being placed: nobody will use them.
        for (const w of placed) await this.cloud.table.deallocateJob(w.allocation.instance.id, w.workerId);
        await this.discardLaunched(placed.map((w) => w.allocation.instance.id));
      },
      // More width could not be had (no capacity, a launch failed): the map goes on with the
      // workers it has.
      (e) => this.log.info(`Map ${this.jobId} goes on with the workers it has; more could not be placed: ${(e as Error)?.message ?? e}`),
    );
  }

  /** No more waves: waits for one under way, so that its workers are stopped (or discarded) too. */
  private async endWave(): Promise<void> {
    this.ending = true;
    this.ended.abort();
    await this.wave;
    await Promise.all(this.replacing);
  }

  private startWorker(workerId: string, allocation: Allocation): void {
    const info: MapWorkerInfo = { workerId, instanceId: allocation.instance.id, state: 'starting', tasksDone: 0 };
    const worker: Worker = { info, allocation, ended: false, done: Promise.resolve({ status: 'succeeded' }) };
    this.workers.set(workerId, worker);
    this.emit({ kind: 'worker', at: Date.now(), worker: { ...info } });
    worker.done = this.pool
      .with(allocation.instance, async (session) => {
        await this.sync(session, allocation.instance.id, workerId);
        // Stopped while this worker was being prepared: a cancel sent before its run would be lost.
        if (this.stopping) return { status: 'cancelled' } as JobOutcome;
        return session.runJob(
          this.request(
            workerId,
            { kind: 'map', jobId: this.jobId, target: this.s.target, queues: this.queues, visibilityS: this.s.visibilityS, maxAttempts: this.s.maxAttempts },
            { ...this.s.env, MEADOWRUN_JOB_ID: this.jobId, MEADOWRUN_WORKER_ID: workerId },
          ),
          {
            onEnvironment: this.s.onEnvironment,
            onStarted: (pid, logPath, commit) => {
              this.started(commit);
              this.updateWorker(worker, { state: 'running', pid, logPath });
            },
            onClaimed: (tasks) => {
              if (this.firstClaimAt === undefined) {
                this.firstClaimAt = Date.now();
                this.maybeLaunchMore();
              }
              this.updateWorker(worker, { currentTask: tasks[0] });
              const at = Date.now();
              this.emit({ kind: 'tasks', at, updates: tasks.filter((t) => !this.results[t]).map((task) => ({ task, state: 'running', attempt: 1, workerId })) });
            },
          },
        );
      })
      .catch((e: Error) => e);
    void worker.done.then((outcome) => this.onWorkerEnd(worker, outcome));
  }

  /**
   * A job of this map: a worker, or the evaluation of its arguments. Code from git is the commit
   * the first job to start ran (its branch may move meanwhile), which an instance that has it
   * needs not even fetch.
   */
  private request(jobId: string, spec: JobSpec, env: Record<string, string>): RunRequest {
    const { project, interpreter, environment, image, code } = this.s;
    const git = code?.git && this.commit ? { ...code.git, ref: this.commit } : code?.git;
    return { t: 'run', jobId, project, interpreter, environment, image, ...code, ...(git && { git }), env, spec };
  }

  /** A job started: with code from git, the map's later jobs run its commit. */
  private started(commit?: string): void {
    this.commit ??= commit;
  }

  /**
   * Syncs the project to an instance once for the whole map: workers starting together on a fresh
   * instance would otherwise each send it, and the agent's unpacking of one can break another's.
   * Code from git is fetched by the instance itself: nothing to send.
   */
  private sync(session: AgentSession, instanceId: string, jobId: string): Promise<unknown> {
    if (this.s.code?.git) return Promise.resolve();
    let synced = this.synced.get(instanceId);
    if (!synced) {
      synced = syncProject(session, this.s.projectDir, this.s.project, jobId);
      this.synced.set(instanceId, synced);
      synced.catch(() => this.synced.delete(instanceId)); // the next worker tries again
    }
    return synced;
  }

  private updateWorker(worker: Worker, change: Partial<MapWorkerInfo>): void {
    Object.assign(worker.info, change);
    this.emit({ kind: 'worker', at: Date.now(), worker: { ...worker.info } });
  }

  private async onWorkerEnd(worker: Worker, outcome: JobOutcome | Error): Promise<void> {
    worker.ended = true;
    const clean = !(outcome instanceof Error) && outcome.status === 'succeeded';
    // A worker ends cleanly only when told there is nothing left; one that ends while the map is
    // being cancelled was stopped, whatever its outcome says; anything else is a crash.
    const stopped = this.s.signal?.aborted || (!(outcome instanceof Error) && outcome.status === 'cancelled');
    // Its instance terminated under it is no mystery crash: say so.
    if (outcome instanceof Error && !stopped) outcome = (await stoppedByTermination(this.cloud, worker.info.instanceId, worker.info.workerId, outcome)) ?? outcome;
    this.updateWorker(worker, clean ? { state: 'idle-exited', currentTask: undefined } : stopped ? { state: 'stopped', currentTask: undefined } : { state: 'crashed', currentTask: undefined, message: describe(outcome) });
    if (outcome instanceof Error) {
      // The agent (or the whole instance) is gone: the agent frees its jobs when it can; make
      // sure, and send no more work to an instance we can't reach.
      if (isUnreachable(outcome)) {
        await fenceUnreachable(this.cloud, this.pool, worker.info.instanceId, [worker.info.workerId], this.log);
        this.s.onAllocationEvent?.({ kind: 'retrying', instanceId: worker.info.instanceId, reason: outcome.message });
      } else {
        await this.cloud.table.deallocateJob(worker.info.instanceId, worker.info.workerId);
        if ((outcome as MeadowrunError).code === 'agent-lost') await this.cloud.table.preventFurtherAllocation(worker.info.instanceId);
      }
    } else if (outcome.status === 'rejected' || outcome.status === 'failed') {
      // The function can't even be loaded: every worker would fail the same way.
      if (outcome.status === 'rejected' && (outcome.code === 'environment' || outcome.code === 'git')) {
        this.fail(new MeadowrunError(outcome.message, outcome.code, { stage: stageOf(outcome.code), instanceId: worker.info.instanceId }));
        return;
      }
      this.fail(new MeadowrunError(outcome.status === 'rejected' ? outcome.message : `${outcome.error.type}: ${outcome.error.message}`, 'map-worker'));
      return;
    }
    if (clean || this.unfinished === 0 || this.ending || this.s.signal?.aborted) return;
    if (this.replacements >= this.width * this.s.maxAttempts) {
      this.fail(new MeadowrunError(`Map workers kept dying (${this.replacements} replaced); last: ${describe(outcome)}`, 'map-worker'));
      return;
    }
    // A worker died with tasks left: its message comes back after the visibility timeout; a
    // replacement takes its place so the map keeps its width.
    this.replacements++;
    // The map may end while the replacement is placed (say, its instance boots while the other
    // workers finish the tasks): the placement is then given up and what it launched discarded.
    const signal = this.s.signal ? AbortSignal.any([this.s.signal, this.ended.signal]) : this.ended.signal;
    const placing = this.allocateWorkers(1, signal).then(
      async ([w]) => {
        if (!this.ending) return this.startWorker(w.workerId, w.allocation);
        await this.cloud.table.deallocateJob(w.allocation.instance.id, w.workerId);
        await this.discardLaunched([w.allocation.instance.id]);
      },
      (e: Error) => {
        if (!this.ending) this.fail(e);
      },
    );
    this.replacing.add(placing);
    await placing;
    this.replacing.delete(placing);
  }

  /**
   * Evaluates the arguments expression on an instance, as a job with its own allocation (so the
   * sweep sees a running job, not an idle allocation). An unreachable instance is fenced and the
   * evaluation moves, once, to another.
   */
  private async evaluate(expr: string): Promise<SerializedValue[]> {
    const jobId = `${this.jobId}-args`;
    let outcome: JobOutcome;
    for (let attempt = 1; ; attempt++) {
      const [on] = await allocateJobs(this.cloud, this.s.need, [jobId], { onEvent: this.allocationEvent, onLaunched: this.registered, signal: this.s.signal });
      try {
        outcome = await this.pool.with(on.instance, async (session) => {
          await this.sync(session, on.instance.id, jobId);
          const cancel = () => session.cancel(jobId);
          this.s.signal?.addEventListener('abort', cancel);
          try {
            return await session.runJob(this.request(jobId, { kind: 'args', expr }, this.s.env), { onEnvironment: this.s.onEnvironment, onStarted: (_pid, _log, commit) => this.started(commit) });
          } finally {
            this.s.signal?.removeEventListener('abort', cancel);
          }
        });
        break;
      } catch (e) {
        if (attempt > 1 || !isUnreachable(e)) throw e;
        await fenceUnreachable(this.cloud, this.pool, on.instance.id, [jobId], this.log);
        this.s.onAllocationEvent?.({ kind: 'retrying', instanceId: on.instance.id, reason: (e as Error).message });
      } finally {
        // Freed by the agent when the evaluation ended normally; here whatever way it ended.
        await this.cloud.table.deallocateJob(on.instance.id, jobId);
      }
    }
    if (outcome.status === 'succeeded' && outcome.value?.json) return JSON.parse(outcome.value.json) as SerializedValue[];
    if (outcome.status === 'cancelled') throw new MeadowrunError('Cancelled', 'cancelled');
    if (outcome.status === 'rejected') throw new MeadowrunError(outcome.message, outcome.code, { stage: stageOf(outcome.code) });
    if (outcome.status === 'failed') throw new MeadowrunError(`Evaluating the arguments raised ${outcome.error.type}: ${outcome.error.message}`, 'bad-arguments');
    throw new MeadowrunError(`Could not evaluate the arguments: ${describe(outcome)}`, 'bad-arguments');
  }

  private async sendTasks(tasks: { task: number; attempt: number; arg: SerializedValue }[]): Promise<void> {
    const per = Math.max(1, Math.min(MAX_TASKS_PER_MESSAGE, Math.ceil(tasks.length / (Math.max(1, this.width) * 8))));
    // Bodies are RequestMessages `{"tasks":[…]}`, packed by size as well as count.
    await this.jobQueues.sendItems(this.queues.request, tasks.map((t) => JSON.stringify(t)), '{"tasks":[', ']}', per);
  }

  private fail(e: Error): void {
    this.fatal = e;
    this.wake.abort();
  }

  /** Reads results until every task has a final one (or the run is cancelled or broken). */
  private async gather(): Promise<void> {
    const cancel = () => this.wake.abort();
    this.s.signal?.addEventListener('abort', cancel, { once: true });
    try {
      await this.gatherUntilDone();
    } finally {
      this.s.signal?.removeEventListener('abort', cancel);
    }
  }

  private async gatherUntilDone(): Promise<void> {
    const wake = this.wake.signal;
    while (this.unfinished > 0) {
      if (this.s.signal?.aborted) return;
      if (this.fatal) throw this.fatal;
      this.maybeLaunchMore();
      let messages: QueueMessage[];
      try {
        messages = await this.jobQueues.receive(this.queues.result, 10, 30, { waitS: 20, signal: wake });
      } catch (e) {
        if (wake.aborted) continue;
        throw e;
      }
      if (!messages.length) continue;
      const at = Date.now();
      const updates: Extract<MapEvent, { kind: 'tasks' }>['updates'] = [];
      const retries: { task: number; attempt: number; arg: SerializedValue }[] = [];
      for (const m of messages) {
        const { workerId, results } = JSON.parse(m.body) as ResultMessage;
        const worker = this.workers.get(workerId);
        for (const r of results) {
          if (this.results[r.task]) continue; // a result that arrives twice is kept once
          if (r.ok) {
            this.results[r.task] = { ok: true, value: r.value, attempts: r.attempt };
            updates.push({ task: r.task, state: 'done', attempt: r.attempt, workerId });
          } else if (r.attempt < this.s.maxAttempts && r.error.type !== 'WorkerDied') {
            retries.push({ task: r.task, attempt: r.attempt + 1, arg: this.args[r.task] });
            updates.push({ task: r.task, state: 'queued', attempt: r.attempt + 1 });
            this.emit({ kind: 'failure', at, task: r.task, attempt: r.attempt, error: r.error, final: false });
            continue;
          } else {
            this.results[r.task] = { ok: false, error: r.error, attempts: r.attempt };
            updates.push({ task: r.task, state: 'failed', attempt: r.attempt, workerId });
            this.emit({ kind: 'failure', at, task: r.task, attempt: r.attempt, error: r.error, final: true });
          }
          this.unfinished--;
          if (worker) worker.info.tasksDone++;
        }
        if (worker) this.emit({ kind: 'worker', at, worker: { ...worker.info } });
      }
      // Stored: only now acknowledge, so a crash here means redelivery, not loss.
      await this.jobQueues.acknowledge(this.queues.result, messages.map((m) => m.receipt));
      this.emit({ kind: 'tasks', at, updates });
      if (retries.length) await this.sendTasks(retries);
    }
  }

  /** Tells every worker to stop (or cancels them), waits for them, and frees what they held. */
  private async stopWorkers(cancel: boolean): Promise<void> {
    this.stopping = true;
    const live = [...this.workers.values()].filter((w) => !w.ended);
    if (cancel) {
      for (const w of live) {
        // The worker's end (or the sweep) frees it anyway: a cancel that can't be sent is news, not a failure.
        await this.pool.with(w.allocation.instance, async (session) => session.cancel(w.info.workerId)).catch((e) => logFailure(this.log, `Could not cancel map worker ${w.info.workerId}`, e, 'warn'));
      }
    } else {
      await this.jobQueues.send(this.queues.request, live.map(() => JSON.stringify({ shutdown: true } satisfies RequestMessage)));
    }
    await Promise.all(live.map((w) => w.done));
    for (const w of this.workers.values()) await this.cloud.table.deallocateJob(w.info.instanceId, w.info.workerId);
    if (cancel) await this.discardLaunched();
  }

  /** Instances launched for this map go with it when it is cancelled or fails, unless others' jobs moved in. */
  private async discardLaunched(ids: Iterable<string> = this.launched): Promise<void> {
    for (const id of [...ids]) {
      if (!this.launched.has(id)) continue;
      const record = await this.cloud.table.getInstance(id);
      if (record && Object.keys(record.jobs).some((j) => !j.startsWith(this.jobId))) continue;
      this.pool.close(id);
      await discardInstance(this.cloud, id).catch((e) => logFailure(this.log, `Could not terminate ${id}, launched for the map ${this.jobId}; it may keep running`, e));
    }
  }
}

function describe(outcome: JobOutcome | Error): string {
  if (outcome instanceof Error) return outcome.message;
  switch (outcome.status) {
    case 'crashed':
      return outcome.message;
    case 'rejected':
      return outcome.message;
    case 'failed':
      return `${outcome.error.type}: ${outcome.error.message}`;
    default:
      return outcome.status;
  }
}

/** The stage a job's refusal happened at: its environment, its code from git, or (undefined) the map's own. */
function stageOf(code: string): 'environment' | 'code' | undefined {
  return code === 'environment' ? 'environment' : code === 'git' ? 'code' : undefined;
}
