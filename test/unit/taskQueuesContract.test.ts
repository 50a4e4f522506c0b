// The task queues' contract, run on every implementation of the port.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FileTaskQueues } from '../../src/cloud/local/fileTaskQueues';
import { taskQueuesContract } from '../contracts/taskQueuesContract';
import { MemoryTaskQueues } from '../support/memoryTaskQueues';
import { tempDir } from '../support/tempDir';

taskQueuesContract('file queues', () => new FileTaskQueues(tempDir('queues')));
taskQueuesContract('memory queues', () => new MemoryTaskQueues());

test('memory queues rotate receipts like Azure: after an extension the old receipt acknowledges nothing', async () => {
  const q = new MemoryTaskQueues();
  const { request } = await q.createPair('job1');
  await q.send(request, ['task']);
  const [m] = await q.receive(request, 1, 1);
  const latest = await q.extendVisibility(request, m.receipt, 1);
  assert.notEqual(latest, m.receipt);
  await q.acknowledge(request, [m.receipt]);
  const [again] = await q.receive(request, 1, 30, { waitS: 3 });
  assert.equal(again?.receiveCount, 2, 'the message came back: only the latest receipt deletes it');
});
