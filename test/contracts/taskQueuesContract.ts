// What every TaskQueues must do (the port in src/cloud/ports.ts), as node:test tests that run
// against any implementation: call taskQueuesContract from a test file with a factory. Durations are
// whole seconds, as SQS and Azure Queues take them; delivery order is not asserted (SQS standard
// queues do not keep it).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deleteJobQueues, JobQueues } from '../../src/cloud/jobQueues';
import { MeadowrunError } from '../../src/core/errors';
import { QueueMessage, TaskQueues } from '../../src/cloud/ports';
import { MemoryPayloadStore } from '../support/memoryPayloadStore';

/** Receives until `n` messages came (a queue may hand out fewer than are ready), waiting at most ~10 s. */
async function receiveAll(q: TaskQueues, queue: string, n: number, visibilityS = 30): Promise<QueueMessage[]> {
  const got: QueueMessage[] = [];
  for (let i = 0; got.length < n && i < 10; i++) got.push(...(await q.receive(queue, Math.min(n - got.length, q.limits.maxReceive), visibilityS, { waitS: 1 })));
  return got;
}

const code = (c: string) => (e: unknown) => e instanceof MeadowrunError && e.code === c;

export function taskQueuesContract(name: string, make: () => TaskQueues): void {
  test(`${name}: sent messages are received once each, and an acknowledged one never again`, async () => {
    const q = make();
    const { request, result } = await q.createPair('job1');
    assert.notEqual(request, result);
    const sent = Array.from({ length: q.limits.maxBatch }, (_, i) => `m${i}`);
    await q.send(request, sent);
    const got = await receiveAll(q, request, sent.length);
    assert.deepEqual(got.map((m) => m.body).sort(), [...sent].sort());
    assert.ok(got.every((m) => m.receiveCount === 1));
    await q.acknowledge(request, got.map((m) => m.receipt));
    assert.deepEqual(await q.receive(request, 1, 1, { waitS: 2 }), [], 'acknowledged messages are gone, even after their visibility');
    assert.deepEqual(await q.receive(result, 1, 30), [], 'the other queue of the pair is apart');
  });

  test(`${name}: two consumers at once never get the same message`, async () => {
    const q = make();
    const { request } = await q.createPair('job1');
    const sent = Array.from({ length: 30 }, (_, i) => `m${i}`);
    for (let i = 0; i < sent.length; i += q.limits.maxBatch) await q.send(request, sent.slice(i, i + q.limits.maxBatch));
    const consumer = async () => {
      const got: string[] = [];
      for (;;) {
        const batch = await q.receive(request, Math.min(3, q.limits.maxReceive), 30, { waitS: 1 });
        if (!batch.length) return got;
        got.push(...batch.map((m) => m.body));
      }
    };
    const [a, b] = await Promise.all([consumer(), consumer()]);
    assert.deepEqual([...a, ...b].sort(), [...sent].sort());
  });

  test(`${name}: an unacknowledged message comes back after its visibility timeout, counted, under a new receipt`, async () => {
    const q = make();
    const { request } = await q.createPair('job1');
    await q.send(request, ['task']);
    const [first] = await receiveAll(q, request, 1, 1);
    assert.equal(first.receiveCount, 1);
    assert.deepEqual(await q.receive(request, 1, 30), [], 'hidden while its consumer holds it');
    const [again] = await receiveAll(q, request, 1);
    assert.deepEqual([again.body, again.receiveCount], ['task', 2]);
    assert.notEqual(again.receipt, first.receipt);
    assert.equal(await q.extendVisibility(request, first.receipt, 30), undefined, 'the first receipt no longer holds it');
    await q.acknowledge(request, [again.receipt]);
    assert.deepEqual(await q.receive(request, 1, 1, { waitS: 2 }), []);
  });

  test(`${name}: a message handed back (visibility 0) is delivered again at once, as another delivery`, async () => {
    const q = make();
    const { request } = await q.createPair('job1');
    await q.send(request, ['task']);
    const [m] = await receiveAll(q, request, 1);
    await q.extendVisibility(request, m.receipt, 0);
    // receiveAll gives up after about 10 s: long before the 30 s the message was first hidden for.
    const [again] = await receiveAll(q, request, 1);
    assert.deepEqual([again?.body, again?.receiveCount], ['task', 2]);
    await q.acknowledge(request, [again.receipt]);
  });

  test(`${name}: extending visibility keeps a message hidden, and the receipt it returns acknowledges it`, async () => {
    const q = make();
    const { request } = await q.createPair('job1');
    await q.send(request, ['task']);
    const [m] = await receiveAll(q, request, 1, 1);
    const receipt = await q.extendVisibility(request, m.receipt, 4);
    assert.equal(typeof receipt, 'string');
    assert.deepEqual(await q.receive(request, 1, 30, { waitS: 2 }), [], 'still hidden after its first visibility ran out');
    await q.acknowledge(request, [receipt!]);
    assert.deepEqual(await q.receive(request, 1, 30, { waitS: 3 }), [], 'gone for good, also after the extended visibility');
    assert.equal(await q.extendVisibility(request, receipt!, 30), undefined, 'an acknowledged message cannot be extended');
  });

  test(`${name}: sends within the limits go through intact; over them they are refused, measured in bytes`, async () => {
    const q = make();
    const { maxMessageBytes, maxBatch, maxReceive, maxWaitS } = q.limits;
    const { request } = await q.createPair('job1');
    const biggest = 'é'.repeat(maxMessageBytes / 2); // two bytes each
    await q.send(request, [biggest]);
    const [m] = await receiveAll(q, request, 1);
    assert.equal(m.body, biggest);
    await assert.rejects(q.send(request, [biggest + 'x']), /at most \d+ bytes/);
    await assert.rejects(q.send(request, Array.from({ length: maxBatch + 1 }, () => 'x')), /the most is \d+/);
    if (maxBatch > 1) await assert.rejects(q.send(request, [biggest.slice(1), 'éé']), /at most \d+ bytes/, 'a send totals at most one message');
    await assert.rejects(q.receive(request, maxReceive + 1, 30), /between 1 and/);
    await assert.rejects(q.receive(request, 1, 30, { waitS: maxWaitS + 1 }), /at most \d+ s/);
  });

  test(`${name}: a waiting receive wakes up when a message is sent, and an empty queue answers none after the wait`, async () => {
    const q = make();
    const { request } = await q.createPair('job1');
    let started = Date.now();
    assert.deepEqual(await q.receive(request, 1, 30, { waitS: 1 }), []);
    assert.ok(Date.now() - started >= 900, 'it waited');
    const waitS = q.limits.maxWaitS;
    started = Date.now();
    const waiting = q.receive(request, 1, 30, { waitS });
    await q.send(request, ['wake up']);
    const [m] = await waiting;
    assert.equal(m?.body, 'wake up');
    assert.ok(Date.now() - started < (waitS * 1000) / 2, `woken by the send, not by the end of the ${waitS} s wait`);
  });

  test(`${name}: aborting a waiting receive rejects it as cancelled`, async () => {
    const q = make();
    const { request } = await q.createPair('job1');
    const stop = new AbortController();
    const waiting = q.receive(request, 1, 30, { waitS: q.limits.maxWaitS, signal: stop.signal });
    stop.abort();
    await assert.rejects(waiting, code('cancelled'));
    await assert.rejects(q.receive(request, 1, 30, { signal: stop.signal }), code('cancelled'), 'already aborted');
    await q.send(request, ['still there']);
    assert.equal((await receiveAll(q, request, 1))[0]?.body, 'still there', 'an aborted receive took nothing');
  });

  test(`${name}: pairs are listed with their last use; a deleted pair is gone and refuses use`, async () => {
    const q = make();
    const before = Date.now();
    const one = await q.createPair('job1');
    await q.createPair('job2');
    await q.send(one.request, ['left behind']);
    const pairs = await q.listPairs();
    assert.deepEqual(pairs.map((p) => p.jobId).sort(), ['job1', 'job2']);
    assert.ok(pairs.every((p) => p.lastUsedAt >= before - 1000 && p.lastUsedAt <= Date.now()), JSON.stringify(pairs));
    await q.deletePair('job1');
    assert.deepEqual((await q.listPairs()).map((p) => p.jobId), ['job2']);
    await assert.rejects(q.send(one.request, ['x']), code('queue-gone'));
    await assert.rejects(q.receive(one.request, 1, 30), code('queue-gone'));
    await q.deletePair('job1'); // again: not an error
  });

  test(`${name}: a receive waiting on a pair that is deleted ends with the queue gone`, async () => {
    const q = make();
    const { request } = await q.createPair('job1');
    // The expectation is attached at once: the receive may end (rejected) while deletePair is still awaited.
    const ended = assert.rejects(q.receive(request, 1, 30, { waitS: q.limits.maxWaitS }), code('queue-gone'));
    await new Promise((r) => setImmediate(r)); // the receive is waiting now
    await q.deletePair('job1');
    await ended;
  });

  // What a map job sends through these queues (cloud/jobQueues.ts), within this implementation's limits.
  test(`${name}: a job's items go packed by bytes within the limits, big ones through the payload store, and go with the pair`, async () => {
    const q = make();
    const payloads = new MemoryPayloadStore();
    const jobQueues = new JobQueues(q, payloads, 'job1');
    const { request } = await q.createPair('job1');
    const { maxMessageBytes, maxBatch } = q.limits;
    // Small items, many to a body; medium ones (a third of a message) a few to a body; two over the limit.
    const small = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ task: i, arg: 'x'.repeat(20) }));
    const medium = Array.from({ length: 3 * maxBatch }, (_, i) => JSON.stringify({ task: 1000 + i, arg: 'é'.repeat(maxMessageBytes / 6) }));
    const big = [2000, 2001].map((task) => JSON.stringify({ task, arg: 'y'.repeat(maxMessageBytes * 2) }));
    const items = [...small, ...medium, ...big];
    await jobQueues.sendItems(request, items, '{"tasks":[', ']}', 200);
    const bodies: string[] = [];
    for (let i = 0; i < 100; i++) {
      const got = await jobQueues.receive(request, 10, 30, { waitS: 1 });
      if (!got.length) break;
      bodies.push(...got.map((m) => m.body));
      await jobQueues.acknowledge(request, got.map((m) => m.receipt));
    }
    const received = bodies.flatMap((b) => (JSON.parse(b) as { tasks: { task: number }[] }).tasks);
    const tasks = (list: { task: number }[]) => list.map((t) => t.task).sort((a, b) => a - b);
    assert.deepEqual(tasks(received), tasks(items.map((i) => JSON.parse(i))), 'every item once, intact');
    assert.ok(bodies.length < items.length / 10, `items shared bodies (${bodies.length} bodies for ${items.length} items)`);
    assert.ok(bodies.every((b) => JSON.parse(b).tasks.length <= 200), 'at most the asked count per body');
    assert.equal(payloads.blobs.size, 2, 'only what did not fit went to the payload store');
    await deleteJobQueues({ queues: q, payloads }, 'job1');
    assert.equal(payloads.blobs.size, 0, "the job's payloads went with its pair");
    assert.deepEqual(await q.listPairs(), []);
  });
}
