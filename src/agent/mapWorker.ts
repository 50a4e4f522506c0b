import * as net from 'net';
import { Logger, logFailure, SILENT } from '../core/logger';
import { JobQueues } from '../cloud/jobQueues';
import { PayloadStore, QueueMessage, TaskQueues } from '../cloud/ports';
import { MeadowrunError } from '../core/errors';
import { RequestMessage, TaskResult } from '../remote/mapMessages';
import { JobOutcome } from '../remote/protocol';

/** How long one receive waits for a message (the queue's own limit may cut it). */
const RECEIVE_WAIT_S = 20;

/**
 * The agent's half of a map worker: takes request messages off the queue one at a time, has the
 * worker's warm Python run each task, stores the results on the result queue, and only then
 * acknowledges the request — so a worker that dies loses nothing: its message comes back.
 */
export class MapWorkerLoop {
  private buffered = '';
  private waiting?: { resolve(line: string): void; reject(e: Error): void };
  private closed = false;
  private stopped = false;
  /** Aborted when the loop is stopped or the worker's channel closes: a waiting receive ends. */
  private readonly halt = new AbortController();
  private readonly queues: JobQueues;

  constructor(
    private readonly workerId: string,
    private readonly channel: net.Socket,
    queues: TaskQueues,
    payloads: PayloadStore,
    private readonly spec: { jobId: string; queues: { request: string; result: string }; visibilityS: number; maxAttempts: number },
    private readonly onClaimed: (tasks: number[]) => void,
    private readonly log: Logger = SILENT,
  ) {
    this.queues = new JobQueues(queues, payloads, spec.jobId);
    channel.on('data', (d: Buffer) => {
      this.buffered += d.toString('utf8');
      this.deliver();
    });
    channel.on('close', () => {
      this.closed = true;
      this.halt.abort();
      this.waiting?.reject(new Error('the worker process is gone'));
      this.waiting = undefined;
    });
  }

  /** The job was cancelled: take no more messages (a waiting receive ends now). */
  stop(): void {
    this.stopped = true;
    this.halt.abort();
  }

  /** Runs until told to shut down or stopped; resolves with the worker's outcome. Rejects if the worker dies. */
  async run(): Promise<JobOutcome> {
    const first = JSON.parse(await this.line());
    if (!first.ready) return first as JobOutcome;
    const { request, result } = this.spec.queues;
    while (!this.stopped) {
      let message: QueueMessage | undefined;
      try {
        [message] = await this.queues.receive(request, 1, this.spec.visibilityS, { waitS: RECEIVE_WAIT_S, signal: this.halt.signal });
      } catch (e) {
        if ((e as MeadowrunError).code !== 'cancelled') throw e;
        if (this.stopped) break;
        throw new Error('the worker process is gone');
      }
      if (!message) continue;
      const body = JSON.parse(message.body) as RequestMessage;
      if ('shutdown' in body) {
        await this.queues.acknowledge(request, [message.receipt]);
        return { status: 'succeeded' };
      }
      this.onClaimed(body.tasks.map((t) => t.task));
      // Each extension may change the receipt (Azure): keep the latest, and acknowledge with it.
      let receipt = message.receipt;
      let extending = Promise.resolve();
      const keepHidden = setInterval(() => {
        extending = extending
          .then(async () => {
            receipt = (await this.queues.extendVisibility(request, receipt, this.spec.visibilityS)) ?? receipt;
          })
          // The message may reappear to another worker, which then runs its tasks again: worth a line.
          .catch((e) => logFailure(this.log, `${this.workerId}: keeping its tasks hidden`, e));
      }, (this.spec.visibilityS * 1000) / 3);
      try {
        const results: TaskResult[] = [];
        for (const t of body.tasks) {
          // A message redelivered because its worker died counts as another attempt of its tasks.
          const attempt = t.attempt + message.receiveCount - 1;
          if (attempt > this.spec.maxAttempts) {
            results.push({ task: t.task, attempt, ok: false, error: { type: 'WorkerDied', message: `the worker running this task died ${attempt - 1} times`, traceback: '' } });
            continue;
          }
          this.channel.write(JSON.stringify({ task: t.task, arg: t.arg }) + '\n');
          const reply = JSON.parse(await this.line());
          // Anything but a task's result (say, "cancelled" after Ctrl-C) means the worker stopped.
          if (reply.task !== t.task) throw new Error('the worker stopped mid-task');
          results.push({ ...reply, attempt });
        }
        // Bodies are ResultMessages, packed by size.
        await this.queues.sendItems(result, results.map((r) => JSON.stringify(r)), `{"workerId":${JSON.stringify(this.workerId)},"results":[`, ']}');
        clearInterval(keepHidden);
        await extending;
        await this.queues.acknowledge(request, [receipt]);
      } catch (e) {
        // The worker died holding these tasks: hand them back now (another worker, or its
        // replacement, takes them) rather than when their visibility runs out. A cancelled map's go with its queues.
        if (!this.stopped) {
          clearInterval(keepHidden);
          await extending;
          await this.queues.extendVisibility(request, receipt, 0).catch((err) => logFailure(this.log, `${this.workerId}: handing its tasks back`, err));
        }
        throw e;
      } finally {
        clearInterval(keepHidden);
      }
    }
    return { status: 'cancelled' };
  }

  private line(): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.closed && !this.buffered.includes('\n')) return reject(new Error('the worker process is gone'));
      this.waiting = { resolve, reject };
      this.deliver();
    });
  }

  private deliver(): void {
    const newline = this.buffered.indexOf('\n');
    if (newline < 0 || !this.waiting) return;
    const line = this.buffered.slice(0, newline);
    this.buffered = this.buffered.slice(newline + 1);
    const w = this.waiting;
    this.waiting = undefined;
    w.resolve(line);
  }
}
