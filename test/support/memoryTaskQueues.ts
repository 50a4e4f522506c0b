// The task queues port in memory: the smallest implementation of its contract, for tests of code
// above the port and as a second subject of test/contracts/taskQueuesContract.ts. Like Azure, it
// gives a message a new receipt whenever its visibility changes, and the old one stops working.
import * as crypto from 'crypto';
import { cancelledError, checkReceive, checkSend, queueGone } from '../../src/cloud/queueLimits';
import { QueueLimits, QueueMessage, ReceiveOptions, TaskQueues } from '../../src/cloud/ports';

interface Stored {
  body: string;
  receiveCount: number;
  visibleAt: number;
  receipt?: string;
}

export class MemoryTaskQueues implements TaskQueues {
  readonly limits: QueueLimits = { maxMessageBytes: 64 * 1024, maxBatch: 10, maxReceive: 32, maxWaitS: 20 };
  private readonly queues = new Map<string, Stored[]>();
  private readonly lastUsed = new Map<string, number>();
  private readonly waiters = new Set<() => void>();

  async createPair(jobId: string): Promise<{ request: string; result: string }> {
    const pair = { request: `${jobId}-request`, result: `${jobId}-result` };
    for (const q of Object.values(pair)) this.queues.set(q, []);
    this.lastUsed.set(jobId, Date.now());
    return pair;
  }

  async send(queue: string, bodies: string[]): Promise<void> {
    checkSend(this.limits, queue, bodies);
    const messages = this.queue(queue);
    for (const body of bodies) messages.push({ body, receiveCount: 0, visibleAt: 0 });
    this.used(queue);
    for (const wake of [...this.waiters]) wake();
  }

  async receive(queue: string, max: number, visibilityS: number, options: ReceiveOptions = {}): Promise<QueueMessage[]> {
    checkReceive(this.limits, max, options);
    const { signal } = options;
    if (signal?.aborted) throw cancelledError();
    this.used(queue);
    const first = this.take(queue, max, visibilityS);
    if (first.length || !options.waitS) return first;
    return new Promise((resolve, reject) => {
      let due: NodeJS.Timeout | undefined;
      const finish = (error?: Error, messages: QueueMessage[] = []) => {
        this.waiters.delete(look);
        clearTimeout(due);
        clearTimeout(timeout);
        signal?.removeEventListener('abort', abort);
        if (error) reject(error);
        else resolve(messages);
      };
      const look = () => {
        try {
          const got = this.take(queue, max, visibilityS);
          if (got.length) return finish(undefined, got);
          // Sends wake waiters at once; a held message is looked at again when it is due back.
          clearTimeout(due);
          const next = Math.min(...this.queue(queue).map((m) => m.visibleAt));
          if (next < Infinity) due = setTimeout(look, Math.max(0, next - Date.now()));
        } catch (e) {
          finish(e as Error);
        }
      };
      const abort = () => finish(cancelledError());
      const timeout = setTimeout(() => finish(), options.waitS! * 1000);
      signal?.addEventListener('abort', abort, { once: true });
      this.waiters.add(look);
      look();
    });
  }

  async extendVisibility(queue: string, receipt: string, visibilityS: number): Promise<string | undefined> {
    const m = this.held(queue, receipt);
    if (!m) return undefined;
    m.visibleAt = Date.now() + visibilityS * 1000;
    m.receipt = crypto.randomUUID();
    return m.receipt;
  }

  async acknowledge(queue: string, receipts: string[]): Promise<void> {
    const messages = this.queues.get(queue);
    if (!messages) return;
    for (const r of receipts) {
      const m = this.held(queue, r);
      if (m) messages.splice(messages.indexOf(m), 1);
    }
  }

  async deletePair(jobId: string): Promise<void> {
    for (const q of [`${jobId}-request`, `${jobId}-result`]) this.queues.delete(q);
    this.lastUsed.delete(jobId);
    for (const wake of [...this.waiters]) wake();
  }

  async listPairs(): Promise<{ jobId: string; lastUsedAt: number }[]> {
    return [...this.lastUsed].map(([jobId, lastUsedAt]) => ({ jobId, lastUsedAt }));
  }

  private queue(name: string): Stored[] {
    const q = this.queues.get(name);
    if (!q) throw queueGone(name);
    return q;
  }

  private used(queue: string): void {
    if (this.queues.has(queue)) this.lastUsed.set(queue.slice(0, queue.lastIndexOf('-')), Date.now());
  }

  private held(queue: string, receipt: string): Stored | undefined {
    return this.queues.get(queue)?.find((m) => m.receipt === receipt && m.visibleAt > Date.now());
  }

  private take(queue: string, max: number, visibilityS: number): QueueMessage[] {
    const now = Date.now();
    const got: QueueMessage[] = [];
    for (const m of this.queue(queue)) {
      if (got.length >= max) break;
      if (m.visibleAt > now) continue;
      m.receiveCount++;
      m.visibleAt = now + visibilityS * 1000;
      m.receipt = crypto.randomUUID();
      got.push({ receipt: m.receipt, body: m.body, receiveCount: m.receiveCount });
    }
    return got;
  }
}
