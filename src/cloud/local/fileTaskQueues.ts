import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { QueueMessage, TaskQueues } from '../ports';

/**
 * Task queues as directories, safe with many processes. A message is a file in `ready/`; receiving
 * claims it by renaming it into `inflight/` (a rename succeeds for exactly one consumer); its
 * visibility deadline is the claimed file's mtime; acknowledging deletes it; a message whose
 * deadline passed is renamed back to `ready/` with its receive count raised.
 */
export class FileTaskQueues implements TaskQueues {
  private sequence = 0;

  constructor(readonly dir: string) {}

  async createPair(jobId: string): Promise<{ request: string; result: string }> {
    const pair = { request: `${jobId}/request`, result: `${jobId}/result` };
    for (const q of Object.values(pair)) {
      for (const sub of ['ready', 'inflight']) fs.mkdirSync(path.join(this.dir, q, sub), { recursive: true, mode: 0o700 });
    }
    this.touch(jobId);
    return pair;
  }

  async send(queue: string, bodies: string[]): Promise<void> {
    const ready = path.join(this.dir, queue, 'ready');
    const tmp = path.join(this.dir, queue, `.tmp-${process.pid}`);
    // Names sort in sending order: time, then this sender's sequence.
    const stamp = Date.now().toString(36).padStart(9, '0');
    const sender = `${process.pid.toString(36)}${crypto.randomBytes(2).toString('hex')}`;
    for (const body of bodies) {
      const name = `${stamp}-${(this.sequence++).toString(36).padStart(6, '0')}-${sender}~1`;
      fs.writeFileSync(tmp, body, { mode: 0o600 });
      fs.renameSync(tmp, path.join(ready, name));
    }
    this.touch(queue.split('/')[0]);
  }

  async receive(queue: string, max: number, visibilityS: number): Promise<QueueMessage[]> {
    const base = path.join(this.dir, queue);
    this.requeueExpired(base);
    const messages: QueueMessage[] = [];
    let names: string[];
    try {
      names = fs.readdirSync(path.join(base, 'ready')).sort();
    } catch {
      return [];
    }
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
    if (messages.length) this.touch(queue.split('/')[0]);
    return messages;
  }

  async extendVisibility(queue: string, receipt: string, visibilityS: number): Promise<void> {
    const deadline = (Date.now() + visibilityS * 1000) / 1000;
    try {
      fs.utimesSync(path.join(this.dir, queue, 'inflight', receipt), deadline, deadline);
    } catch {
      // Already acknowledged, or expired and redelivered: nothing to extend.
    }
  }

  async acknowledge(queue: string, receipts: string[]): Promise<void> {
    for (const r of receipts) fs.rmSync(path.join(this.dir, queue, 'inflight', r), { force: true });
  }

  async deletePair(jobId: string): Promise<void> {
    fs.rmSync(path.join(this.dir, jobId), { recursive: true, force: true });
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
        return [{ jobId, lastUsedAt: fs.statSync(path.join(this.dir, jobId, 'last-used')).mtimeMs }];
      } catch {
        return [];
      }
    });
  }

  private touch(jobId: string): void {
    const file = path.join(this.dir, jobId, 'last-used');
    const now = new Date();
    try {
      fs.utimesSync(file, now, now);
    } catch {
      fs.writeFileSync(file, '', { mode: 0o600 });
    }
  }

  /** Messages whose consumer neither acknowledged nor extended them in time go back, counted. */
  private requeueExpired(base: string): void {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(base, 'inflight'));
    } catch {
      return;
    }
    const now = Date.now();
    for (const name of names) {
      const file = path.join(base, 'inflight', name);
      try {
        if (fs.statSync(file).mtimeMs > now) continue;
        const original = name.slice(0, name.lastIndexOf('.'));
        const [stem, count] = original.split('~');
        fs.renameSync(file, path.join(base, 'ready', `${stem}~${Number(count) + 1}`));
      } catch {
        // Acknowledged or requeued by someone else meanwhile.
      }
    }
  }
}
