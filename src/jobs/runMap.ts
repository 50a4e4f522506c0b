import * as crypto from 'crypto';
import { MeadowrunError } from '../core/errors';
import { MapEvent, MapWorkerInfo, TaskError } from '../core/mapProgress';
import { Resources } from '../core/resources';
import { RequestMessage, ResultMessage, SerializedValue } from '../remote/mapMessages';
import { Cloud } from '../cloud/ports';
import { JobOutcome } from '../remote/protocol';
import { SessionPool } from '../remote/pool';
import { Allocation, AllocationEvent, allocateJobs, discardInstance } from './allocate';
import { syncProject } from './codeSync';

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
  env: Record<string, string>;
  title: string;
  signal?: AbortSignal;
  onEvent?(e: MapEvent): void;
  onAllocationEvent?(e: AllocationEvent): void;
}

interface Worker {
  info: MapWorkerInfo;
  allocation: Allocation;
  done: Promise<JobOutcome | Error>;
  ended: boolean;
}

const POLL_MS = 5;
/** A request message carries up to this many tasks: few queue operations, still balanced. */
const MAX_TASKS_PER_MESSAGE = 200;

/**
 * One map job from the client's side: a request and a result queue, workers allocated (and
 * launched) through the same path as single jobs, results gathered in order, failed tasks retried
 * up to the limit, dead workers replaced while tasks remain, and nothing left behind at the end.
 */
export class MapRun {
  readonly jobId = `map-${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`;
  private queues!: { request: string; result: string };
  private readonly workers = new Map<string, Worker>();
  private readonly results: (MapTaskResult | undefined)[] = [];
  private args: SerializedValue[] = [];
  private unfinished = 0;
  private nextWorker = 0;
  private replacements = 0;
  private fatal?: Error;

  constructor(
    private readonly cloud: Cloud,
    private readonly pool: SessionPool,
    private readonly s: MapSettings,
  ) {}

  async run(args: MapArguments): Promise<MapResult> {
    this.queues = await this.cloud.queues.createPair(this.jobId);
    let allocated: { workerId: string; allocation: Allocation }[] = [];
    try {
      allocated = await this.allocateWorkers(this.s.workers);
      // The arguments first (an expression is evaluated on the first worker's instance), so that
      // the map starts knowing its size; then the workers.
      this.args = args.kind === 'values' ? args.values.map((v) => ({ json: JSON.stringify(v) })) : await this.evaluate(allocated[0].allocation, args.expr);
      this.unfinished = this.args.length;
      this.results.length = this.args.length;
      this.emit({ kind: 'started', jobId: this.jobId, title: this.s.title, taskCount: this.args.length, workers: this.s.workers, at: Date.now() });
      for (const w of allocated.splice(0)) this.startWorker(w.workerId, w.allocation);
      await this.sendTasks(this.args.map((arg, task) => ({ task, attempt: 1, arg })));
      await this.gather();
      const cancelled = !!this.s.signal?.aborted;
      const failed = this.results.filter((r) => r && !r.ok).length;
      const status = cancelled ? 'cancelled' : failed ? 'failed' : 'succeeded';
      await this.stopWorkers(cancelled);
      this.emit({ kind: 'finished', at: Date.now(), status, message: failed ? `${failed} task${failed > 1 ? 's' : ''} failed` : undefined });
      return { jobId: this.jobId, status, results: this.results as MapTaskResult[], failed };
    } catch (e) {
      // Allocated workers that never started hold nothing but their allocation.
      for (const w of allocated) await this.cloud.table.deallocateJob(w.allocation.instance.id, w.workerId);
      await this.discardLaunched(allocated.map((w) => w.allocation));
      await this.stopWorkers(true);
      this.emit({ kind: 'finished', at: Date.now(), status: 'failed', message: (e as Error).message });
      throw e;
    } finally {
      await this.cloud.queues.deletePair(this.jobId);
    }
  }

  private emit(e: MapEvent): void {
    this.s.onEvent?.(e);
  }

  private async allocateWorkers(count: number): Promise<{ workerId: string; allocation: Allocation }[]> {
    const ids = Array.from({ length: count }, () => `${this.jobId}-w${this.nextWorker++}`);
    const allocations = await allocateJobs(this.cloud, this.s.need, ids, { onEvent: this.s.onAllocationEvent, signal: this.s.signal });
    return ids.map((workerId, i) => ({ workerId, allocation: allocations[i] }));
  }

  private startWorker(workerId: string, allocation: Allocation): void {
    const info: MapWorkerInfo = { workerId, instanceId: allocation.instance.id, state: 'starting', tasksDone: 0 };
    const worker: Worker = { info, allocation, ended: false, done: Promise.resolve({ status: 'succeeded' }) };
    this.workers.set(workerId, worker);
    this.emit({ kind: 'worker', at: Date.now(), worker: { ...info } });
    worker.done = this.pool
      .with(allocation.instance, async (session) => {
        await syncProject(session, this.s.projectDir, this.s.project, workerId);
        return session.runJob(
          {
            t: 'run',
            jobId: workerId,
            project: this.s.project,
            interpreter: this.s.interpreter,
            env: { ...this.s.env, MEADOWRUN_JOB_ID: this.jobId, MEADOWRUN_WORKER_ID: workerId },
            spec: { kind: 'map', target: this.s.target, queues: this.queues, visibilityS: this.s.visibilityS, maxAttempts: this.s.maxAttempts },
          },
          {
            onStarted: (pid, logPath) => this.updateWorker(worker, { state: 'running', pid, logPath }),
            onClaimed: (tasks) => {
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

  private updateWorker(worker: Worker, change: Partial<MapWorkerInfo>): void {
    Object.assign(worker.info, change);
    this.emit({ kind: 'worker', at: Date.now(), worker: { ...worker.info } });
  }

  private async onWorkerEnd(worker: Worker, outcome: JobOutcome | Error): Promise<void> {
    worker.ended = true;
    const clean = !(outcome instanceof Error) && outcome.status === 'succeeded';
    this.updateWorker(worker, { state: clean ? 'exited' : 'crashed', currentTask: undefined });
    if (outcome instanceof Error) {
      // The agent (or the whole instance) is gone: the agent frees its jobs when it can; make
      // sure, and send no more work to an instance we can't reach.
      await this.cloud.table.deallocateJob(worker.info.instanceId, worker.info.workerId);
      if ((outcome as MeadowrunError).code === 'agent-lost' || (outcome as MeadowrunError).code === 'unreachable') {
        await this.cloud.table.preventFurtherAllocation(worker.info.instanceId);
      }
    } else if (outcome.status === 'rejected' || outcome.status === 'failed') {
      // The function can't even be loaded: every worker would fail the same way.
      this.fatal = new MeadowrunError(outcome.status === 'rejected' ? outcome.message : `${outcome.error.type}: ${outcome.error.message}`, 'map-worker');
      return;
    }
    if (clean || this.unfinished === 0 || this.s.signal?.aborted) return;
    if (this.replacements >= this.s.workers * this.s.maxAttempts) {
      this.fatal = new MeadowrunError(`Map workers kept dying (${this.replacements} replaced); last: ${describe(outcome)}`, 'map-worker');
      return;
    }
    // A worker died with tasks left: its message comes back after the visibility timeout; a
    // replacement takes its place so the map keeps its width.
    this.replacements++;
    await this.allocateWorkers(1).then(
      ([w]) => this.startWorker(w.workerId, w.allocation),
      (e: Error) => (this.fatal = e),
    );
  }

  /** Evaluates the arguments expression on the first worker's instance. */
  private async evaluate(on: Allocation, expr: string): Promise<SerializedValue[]> {
    const jobId = `${this.jobId}-args`;
    const outcome = await this.pool.with(on.instance, async (session) => {
      await syncProject(session, this.s.projectDir, this.s.project, jobId);
      return session.runJob({ t: 'run', jobId, project: this.s.project, interpreter: this.s.interpreter, env: this.s.env, spec: { kind: 'args', expr } }, {});
    });
    if (outcome.status === 'succeeded' && outcome.value?.json) return JSON.parse(outcome.value.json) as SerializedValue[];
    if (outcome.status === 'rejected') throw new MeadowrunError(outcome.message, outcome.code);
    if (outcome.status === 'failed') throw new MeadowrunError(`Evaluating the arguments raised ${outcome.error.type}: ${outcome.error.message}`, 'bad-arguments');
    throw new MeadowrunError(`Could not evaluate the arguments: ${describe(outcome)}`, 'bad-arguments');
  }

  private async sendTasks(tasks: { task: number; attempt: number; arg: SerializedValue }[]): Promise<void> {
    const per = Math.max(1, Math.min(MAX_TASKS_PER_MESSAGE, Math.ceil(tasks.length / (this.s.workers * 8))));
    const bodies: string[] = [];
    for (let i = 0; i < tasks.length; i += per) bodies.push(JSON.stringify({ tasks: tasks.slice(i, i + per) } satisfies RequestMessage));
    await this.cloud.queues.send(this.queues.request, bodies);
  }

  /** Reads results until every task has a final one (or the run is cancelled or broken). */
  private async gather(): Promise<void> {
    while (this.unfinished > 0) {
      if (this.s.signal?.aborted) return;
      if (this.fatal) throw this.fatal;
      const messages = await this.cloud.queues.receive(this.queues.result, 10, 30);
      if (!messages.length) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        continue;
      }
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
      await this.cloud.queues.acknowledge(this.queues.result, messages.map((m) => m.receipt));
      this.emit({ kind: 'tasks', at, updates });
      if (retries.length) await this.sendTasks(retries);
    }
  }

  /** Tells every worker to stop (or cancels them), waits for them, and frees what they held. */
  private async stopWorkers(cancel: boolean): Promise<void> {
    const live = [...this.workers.values()].filter((w) => !w.ended);
    if (cancel) {
      for (const w of live) await this.pool.with(w.allocation.instance, async (session) => session.cancel(w.info.workerId)).catch(() => undefined);
    } else {
      await this.cloud.queues.send(this.queues.request, live.map(() => JSON.stringify({ shutdown: true } satisfies RequestMessage)));
    }
    await Promise.all(live.map((w) => w.done));
    for (const w of this.workers.values()) await this.cloud.table.deallocateJob(w.info.instanceId, w.info.workerId);
    if (cancel) await this.discardLaunched([...this.workers.values()].map((w) => w.allocation));
  }

  /** Instances launched only for this map go with it when it is cancelled or fails to start. */
  private async discardLaunched(allocations: Allocation[]): Promise<void> {
    for (const id of new Set(allocations.filter((a) => a.launched).map((a) => a.instance.id))) {
      this.pool.close(id);
      await discardInstance(this.cloud, id).catch(() => undefined);
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
