import * as net from 'net';
import { TaskQueues } from '../cloud/ports';
import { RequestMessage, ResultMessage, TaskResult } from '../remote/mapMessages';
import { JobOutcome } from '../remote/protocol';

const IDLE_POLL_MS = 5;

/**
 * The agent's half of a map worker: takes request messages off the queue one at a time, has the
 * worker's warm Python run each task, stores the results on the result queue, and only then
 * acknowledges the request — so a worker that dies loses nothing: its message comes back.
 */
export class MapWorkerLoop {
  private buffered = '';
  private waiting?: { resolve(line: string): void; reject(e: Error): void };
  private closed = false;

  constructor(
    private readonly workerId: string,
    private readonly channel: net.Socket,
    private readonly queues: TaskQueues,
    private readonly spec: { queues: { request: string; result: string }; visibilityS: number; maxAttempts: number },
    private readonly onClaimed: (tasks: number[]) => void,
  ) {
    channel.on('data', (d: Buffer) => {
      this.buffered += d.toString('utf8');
      this.deliver();
    });
    channel.on('close', () => {
      this.closed = true;
      this.waiting?.reject(new Error('the worker process is gone'));
      this.waiting = undefined;
    });
  }

  /** Runs until told to shut down; resolves with the worker's outcome. Rejects if the worker dies. */
  async run(stopped: () => boolean): Promise<JobOutcome> {
    const first = JSON.parse(await this.line());
    if (!first.ready) return first as JobOutcome;
    const { request, result } = this.spec.queues;
    while (!stopped()) {
      const [message] = await this.queues.receive(request, 1, this.spec.visibilityS);
      if (!message) {
        await new Promise((r) => setTimeout(r, IDLE_POLL_MS));
        continue;
      }
      const body = JSON.parse(message.body) as RequestMessage;
      if ('shutdown' in body) {
        await this.queues.acknowledge(request, [message.receipt]);
        return { status: 'succeeded' };
      }
      this.onClaimed(body.tasks.map((t) => t.task));
      const keepHidden = setInterval(
        () => void this.queues.extendVisibility(request, message.receipt, this.spec.visibilityS),
        (this.spec.visibilityS * 1000) / 3,
      );
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
        await this.queues.send(result, [JSON.stringify({ workerId: this.workerId, results } satisfies ResultMessage)]);
        await this.queues.acknowledge(request, [message.receipt]);
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
