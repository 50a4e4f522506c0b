// The SQS and Azure queues name a map job's pair alike and write its last use at most once a
// minute per process (a cloud could not afford a write per message).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueuePairs } from '../../src/cloud/queuePairs';

test("a pair's names read back as its job and side; other queues are no pair's", () => {
  const pairs = new QueuePairs('meadowrun-t1-');
  const { request, result } = pairs.names('job-7');
  assert.deepEqual([request, result], ['meadowrun-t1-job-7-request', 'meadowrun-t1-job-7-result']);
  assert.deepEqual(pairs.parse(request), { jobId: 'job-7', side: 'request' });
  assert.deepEqual(pairs.parse(result), { jobId: 'job-7', side: 'result' });
  for (const other of ['meadowrun-t1-job-7', 'meadowrun-t2-job-7-request', 'job-7-result']) assert.equal(pairs.parse(other), undefined, other);
});

test('a use is due once, then not again within the resolution, for either queue of the pair; a created pair has just had one', () => {
  const pairs = new QueuePairs('p-');
  const due = pairs.useDue('p-a-result');
  assert.equal(due?.request, 'p-a-request');
  assert.ok(Math.abs(due!.at - Date.now()) < 1000);
  assert.equal(pairs.useDue('p-a-request'), undefined);
  assert.equal(pairs.useDue('p-a-result'), undefined);
  pairs.created('b');
  assert.equal(pairs.useDue('p-b-request'), undefined);
  pairs.deleted('b');
  assert.equal(pairs.useDue('p-b-request')?.request, 'p-b-request', 'forgotten with the pair: a pair of the same name starts afresh');
});
