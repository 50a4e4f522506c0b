import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { FileTaskQueues } from '../../src/cloud/local/fileTaskQueues';
import { tempDir } from '../support/tempDir';

const queues = () => new FileTaskQueues(tempDir('queues'));

async function sendAll(q: FileTaskQueues, queue: string, bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += q.limits.maxBatch) await q.send(queue, bodies.slice(i, i + q.limits.maxBatch));
}

test('messages come out in the order they were sent, each to one consumer', async () => {
  const q = queues();
  const { request } = await q.createPair('job1');
  await sendAll(q, request, Array.from({ length: 50 }, (_, i) => `m${i}`));
  const a = new FileTaskQueues(q.dir);
  const b = new FileTaskQueues(q.dir);
  const got: string[] = [];
  for (;;) {
    const batch = [...(await a.receive(request, 7, 30)), ...(await b.receive(request, 7, 30))];
    if (!batch.length) break;
    got.push(...batch.map((m) => m.body));
  }
  assert.equal(got.length, 50);
  assert.equal(new Set(got).size, 50, 'no message delivered twice');
  assert.deepEqual(got.slice(0, 7), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6']);
});

test('a pair records its last use at most once per resolution, and a new process records its first', async () => {
  const q = queues();
  const { request } = await q.createPair('job1');
  const record = path.join(q.dir, 'job1', 'pair.json');
  const created = (await q.listPairs())[0].lastUsedAt;
  fs.writeFileSync(record, JSON.stringify({ lastUsedAt: 1 }));
  await q.send(request, ['x']);
  await q.receive(request, 1, 30);
  assert.equal((await q.listPairs())[0].lastUsedAt, 1, 'not rewritten for every message');
  await new FileTaskQueues(q.dir).receive(request, 1, 30);
  assert.ok((await q.listPairs())[0].lastUsedAt >= created, 'another process records its use');
  assert.equal((fs.statSync(record).mode & 0o777).toString(8), '600');
});

test('consumers in separate processes each get a message once, none counted as a retry', async () => {
  const q = queues();
  const { request } = await q.createPair('job1');
  const sent = Array.from({ length: 3000 }, (_, i) => `m${i}`);
  await sendAll(q, request, sent);
  const consumer = path.join(__dirname, '..', 'support', 'queueConsumer.ts');
  const outputs = await Promise.all(
    Array.from({ length: 4 }, () => promisify(execFile)(process.execPath, ['--import', 'tsx', consumer, q.dir, request])),
  );
  const lines = outputs.flatMap((o) => o.stdout.split('\n').filter(Boolean));
  const retried = lines.filter((l) => !l.endsWith(' 1'));
  assert.deepEqual(retried, [], 'a message was redelivered while its consumer held it');
  assert.deepEqual(lines.map((l) => l.split(' ')[0]).sort(), [...sent].sort());
});
