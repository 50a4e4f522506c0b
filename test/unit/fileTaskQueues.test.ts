import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { FileTaskQueues } from '../../src/cloud/local/fileTaskQueues';
import { tempDir } from '../support/tempDir';

const queues = () => new FileTaskQueues(tempDir('queues'));

test('messages come out in the order they were sent, each to one consumer', async () => {
  const q = queues();
  const { request } = await q.createPair('job1');
  await q.send(request, Array.from({ length: 50 }, (_, i) => `m${i}`));
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

test('an unacknowledged message comes back after its visibility timeout, counted; an acknowledged one never', async () => {
  const q = queues();
  const { request } = await q.createPair('job1');
  await q.send(request, ['kept', 'dropped']);
  const [first, second] = await q.receive(request, 2, 0.2);
  assert.equal(first.receiveCount, 1);
  await q.acknowledge(request, [first.receipt]);
  assert.deepEqual(await q.receive(request, 10, 30), [], 'hidden while visible to its consumer');
  await new Promise((r) => setTimeout(r, 300));
  const again = await q.receive(request, 10, 30);
  assert.deepEqual(again.map((m) => [m.body, m.receiveCount]), [[second.body, 2]]);
});

test('extending visibility keeps a message hidden', async () => {
  const q = queues();
  const { result } = await q.createPair('job1');
  await q.send(result, ['x']);
  const [m] = await q.receive(result, 1, 0.2);
  await q.extendVisibility(result, m.receipt, 30);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(await q.receive(result, 1, 30), []);
});

test('pairs are listed with their last use, and deleted', async () => {
  const q = queues();
  const before = Date.now();
  await q.createPair('job1');
  await q.createPair('job2');
  const pairs = await q.listPairs();
  assert.deepEqual(pairs.map((p) => p.jobId).sort(), ['job1', 'job2']);
  assert.ok(pairs.every((p) => p.lastUsedAt >= before - 1000));
  await q.deletePair('job1');
  assert.deepEqual((await q.listPairs()).map((p) => p.jobId), ['job2']);
});

test('consumers in separate processes each get a message once, none counted as a retry', async () => {
  const q = queues();
  const { request } = await q.createPair('job1');
  const sent = Array.from({ length: 3000 }, (_, i) => `m${i}`);
  await q.send(request, sent);
  const consumer = path.join(__dirname, '..', 'support', 'queueConsumer.ts');
  const outputs = await Promise.all(
    Array.from({ length: 4 }, () => promisify(execFile)(process.execPath, ['--import', 'tsx', consumer, q.dir, request])),
  );
  const lines = outputs.flatMap((o) => o.stdout.split('\n').filter(Boolean));
  const retried = lines.filter((l) => !l.endsWith(' 1'));
  assert.deepEqual(retried, [], 'a message was redelivered while its consumer held it');
  assert.deepEqual(lines.map((l) => l.split(' ')[0]).sort(), [...sent].sort());
});
