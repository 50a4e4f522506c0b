import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { PAIR_USE_RESOLUTION_S, QueueLimits, QueueMessage, ReceiveOptions, TaskQueues } from '../ports';
import { cancelledError, checkReceive, checkSend, queueGone } from '../queueLimits';

/**
 * A waiting receive is woken by the directory event of a send; it also looks again when a message
 * held by another consumer is due back, and at least this often in case an event was missed (a
 * network file system may not report another machine's renames).
 */
const FALLBACK_LOOK_MS = 1000;

/**
 * Task queues as directories, safe with many processes. A message is a file in `ready/`; receiving
 * claims it by renaming it into `inflight/` (a rename succeeds for exactly one consumer); its
 * visibility deadline is the claimed file's mtime; acknowledging deletes it; a message whose
 * deadline passed is renamed back to `ready/` with its receive count raised. A waiting receive
 * watches `ready/`. The pair's last use is a field of its `pair.json`.
 */
export class FileTaskQueues implements TaskQueues {
  /** SQS's numbers, so that what must split messages by size does so here too. */
  readonly limits: QueueLimits = { maxMessageBytes: 256 * 1024, maxBatch: 10, maxReceive: 10, maxWaitS: 20 };
  private sequence = 0;
  /** When this process last recorded each pair's use. */
  private readonly recordedUse = new Map<string, number>();

  constructor(readonly dir: string) {}

  async createPair(jobId: string): Promise<{ request: string; result: string }> {
    const pair = { request: `${jobId}/request`, result: `${jobId}/result` };
    for (const q of Object.values(pair)) {
      for (const sub of ['ready', 'inflight']) fs.mkdirSync(path.join(this.dir, q, sub), { recursive: true, mode: 0o700 });
    }
    this.recordUse(jobId, true);
    return pair;
  }

  async send(queue: string, bodies: string[]): Promise<void> {
    checkSend(this.limits, queue, bodies);
    const ready = path.join(this.dir, queue, 'ready');
    const tmp = path.join(this.dir, queue, `.tmp-${process.pid}`);
    // Names sort in sending order: time, then this sender's sequence.
    const stamp = Date.now().toString(36).padStart(9, '0');
    const sender = `${process.pid.toString(36)}${crypto.randomBytes(2).toString('hex')}`;
    try {
      for (const body of bodies) {
        const name = `${stamp}-${(this.sequence++).toString(36).padStart(6, '0')}-${sender}~1`;
        fs.writeFileSync(tmp, body, { mode: 0o600 });
        fs.renameSync(tmp, path.join(ready, name));
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw queueGone(queue);
      throw e;
    }
    this.recordUse(jobOf(queue));
  }

  async receive(queue: string, max: number, visibilityS: number, options: ReceiveOptions = {}): Promise<QueueMessage[]> {
    checkReceive(this.limits, max, options);
    const { signal } = options;
    if (signal?.aborted) throw cancelledError();
    this.recordUse(jobOf(queue));
    const first = this.claim(queue, max, visibilityS);
    const waitS = options.waitS ?? 0;
    if (first.messages.length || waitS <= 0) return first.messages;
    const ready = path.join(this.dir, queue, 'ready');
    return new Promise((resolve, reject) => {
      let scheduled = false;
      let done = false;
      let fallback: NodeJS.Timeout | undefined;
      const finish = (error: Error | undefined, messages: QueueMessage[] = []) => {
        done = true;
        watcher.close();
        clearTimeout(fallback);
        clearTimeout(timeout);
        signal?.removeEventListener('abort', abort);
        if (error) reject(error);
        else resolve(messages);
      };
      const look = (final: boolean) => {
        scheduled = false;
        if (done) return; // a look queued before the end must claim nothing
        try {
          const got = this.claim(queue, max, visibilityS);
          if (got.messages.length || final) return finish(undefined, got.messages);
          clearTimeout(fallback);
          fallback = setTimeout(soon, Math.max(0, Math.min(FALLBACK_LOOK_MS, got.nextDueAt - Date.now())));
        } catch (e) {
          finish(e as Error);
        }
      };
      // A burst of sends is many events: one look for all of them.
      const soon = () => {
        if (!scheduled) (scheduled = true), setImmediate(() => look(false));
      };
      const abort = () => finish(cancelledError());
      let watcher: fs.FSWatcher;
      try {
        watcher = fs.watch(ready, soon);
      } catch {
        return reject(queueGone(queue));
      }
      watcher.on('error', () => finish(queueGone(queue)));
      const timeout = setTimeout(() => look(true), waitS * 1000);
      signal?.addEventListener('abort', abort, { once: true });
      soon(); // a message may have come between the first look and the watch
    });
  }

  async extendVisibility(queue: string, receipt: string, visibilityS: number): Promise<string | undefined> {
    const deadline = (Date.now() + visibilityS * 1000) / 1000;
    try {
      fs.utimesSync(path.join(this.dir, queue, 'inflight', receipt), deadline, deadline);
      return receipt;
    } catch {
      return undefined; // acknowledged, or expired and redelivered under another receipt
    }
  }

  async acknowledge(queue: string, receipts: string[]): Promise<void> {
    for (const r of receipts) fs.rmSync(path.join(this.dir, queue, 'inflight', r), { force: true });
  }

  async deletePair(jobId: string): Promise<void> {
    fs.rmSync(path.join(this.dir, jobId), { recursive: true, force: true });
    this.recordedUse.delete(jobId);
  }

  async listPairs(): Promise<{ jobId: string; lastUsedAt: number }[]> {
    let ids: string[];
    try {
      ids = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    return ids.flatMap((jobId) => {
      try {
        const { lastUsedAt } = JSON.parse(fs.readFileSync(path.join(this.dir, jobId, 'pair.json'), 'utf8')) as { lastUsedAt: number };
        return [{ jobId, lastUsedAt }];
      } catch {
        return [];
      }
    });
  }

  /** Writes the pair's last use when this process has not for a while: a cloud could not afford a write per message. */
  private recordUse(jobId: string, created = false): void {
    const now = Date.now();
    if (!created && now - (this.recordedUse.get(jobId) ?? 0) < PAIR_USE_RESOLUTION_S * 1000) return;
    const file = path.join(this.dir, jobId, 'pair.json');
    const tmp = `${file}.${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
    try {
      fs.writeFileSync(tmp, JSON.stringify({ lastUsedAt: now }), { mode: 0o600 });
      fs.renameSync(tmp, file);
      this.recordedUse.set(jobId, now);
    } catch {
      fs.rmSync(tmp, { force: true }); // the pair was deleted meanwhile
    }
  }

  /**
   * Takes up to `max` visible messages, and says when the next message held by a consumer is due
   * back (Infinity if none); throws when the queue does not exist.
   */
  private claim(queue: string, max: number, visibilityS: number): { messages: QueueMessage[]; nextDueAt: number } {
    const base = path.join(this.dir, queue);
    const nextDueAt = this.requeueExpired(base);
    let names: string[];
    try {
      names = fs.readdirSync(path.join(base, 'ready')).sort();
    } catch {
      throw queueGone(queue);
    }
    const messages: QueueMessage[] = [];
    const deadline = (Date.now() + visibilityS * 1000) / 1000;
    for (const name of names) {
      if (messages.length >= max) break;
      const ready = path.join(base, 'ready', name);
      const claimed = path.join(base, 'inflight', `${name}.${crypto.randomBytes(3).toString('hex')}`);
      try {
        // The deadline goes on before the claim: a claimed file still carrying its send time would
        // look expired to another consumer and be delivered twice.
        fs.utimesSync(ready, deadline, deadline);
        fs.renameSync(ready, claimed);
      } catch {
        continue; // another consumer claimed it first
      }
      messages.push({ receipt: path.basename(claimed), body: fs.readFileSync(claimed, 'utf8'), receiveCount: Number(name.split('~')[1]) });
    }
    return { messages, nextDueAt };
  }

  /**
   * Messages whose consumer neither acknowledged nor extended them in time go back, counted.
   * Returns when the next of those still held is due back (Infinity if none).
   */
  private requeueExpired(base: string): number {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(base, 'inflight'));
    } catch {
      return Infinity;
    }
    const now = Date.now();
    let nextDueAt = Infinity;
    for (const name of names) {
      const file = path.join(base, 'inflight', name);
      try {
        const dueAt = fs.statSync(file).mtimeMs;
        if (dueAt > now) {
          nextDueAt = Math.min(nextDueAt, dueAt);
          continue;
        }
        const original = name.slice(0, name.lastIndexOf('.'));
        const [stem, count] = original.split('~');
        fs.renameSync(file, path.join(base, 'ready', `${stem}~${Number(count) + 1}`));
      } catch {
        // Acknowledged or requeued by someone else meanwhile.
      }
    }
    return nextDueAt;
  }

}

function jobOf(queue: string): string {
  return queue.split('/')[0];
}
