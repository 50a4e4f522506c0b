// Allocation and the launch lifecycle against a cloud in memory: launching rows, jobs that join
// another client's launch, launches of one call at once, and what a failure leaves (nothing).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InstanceType } from '../../src/core/instanceTypes';
import { AllocationEvent, allocateJob, allocateJobs } from '../../src/jobs/allocate';
import { fakeCloud } from '../support/fakeCloud';

const one: InstanceType = { name: 'fake.one', cpu: 1, memoryGb: 4, gpus: 0, onDemandPrice: 0.01 };
const four: InstanceType = { name: 'fake.four', cpu: 4, memoryGb: 16, gpus: 0, onDemandPrice: 0.04 };
const need = { cpu: 1, memoryGb: 1, gpus: 0, maxEvictionRatePct: 0 };

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; !(await check()); i++) {
    if (i > 10_000) throw new Error(`never: ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

test('a launch is registered as launching at once, then ready with its endpoint', async () => {
  const cloud = fakeCloud([one]);
  cloud.provider.manualBoot = true;
  const allocating = allocateJob(cloud, need, 'j1');
  await until('a launching row', async () => (await cloud.table.listInstances()).length === 1);
  const [row] = await cloud.table.listInstances();
  assert.equal(row.state, 'launching');
  assert.equal(row.ssh, undefined);
  assert.deepEqual(Object.keys(row.jobs), ['j1'], 'with its job pre-allocated');
  cloud.provider.boot(row.id);
  const { instance, launched } = await allocating;
  assert.equal(launched, true);
  assert.equal(instance.state, 'ready');
  assert.equal(instance.ssh.hostKey, `key-of-${row.id}`);
});

test('a cloud whose ids the client chooses (Azure) has the row launching while the instance is created; a creation that fails leaves no row and no instance', async () => {
  const cloud = fakeCloud([one]);
  let n = 0;
  cloud.provider.newInstanceId = () => `chosen-${++n}`;
  const created: { resolve(): void; reject(e: Error): void }[] = [];
  const launch = cloud.provider.launch.bind(cloud.provider);
  cloud.provider.launch = async (option, key, o) => {
    await new Promise<void>((resolve, reject) => created.push({ resolve, reject }));
    return launch(option, key, o);
  };
  cloud.provider.manualBoot = true;
  const allocating = allocateJob(cloud, need, 'j1');
  await until('the creation under way', async () => created.length === 1);
  const [row] = await cloud.table.listInstances();
  assert.deepEqual([row.id, row.state, Object.keys(row.jobs)], ['chosen-1', 'launching', ['j1']], 'registered before the instance exists');
  created[0].resolve();
  await until('the instance created', async () => cloud.provider.instances.has('chosen-1'));
  cloud.provider.boot('chosen-1');
  assert.equal((await allocating).instance.id, 'chosen-1');

  const failing = allocateJob(cloud, { ...need, cpu: 1 }, 'j2').catch((e: Error) => e);
  await until('the second creation under way', async () => created.length === 2);
  assert.ok(await cloud.table.getInstance('chosen-2'), 'its row is there meanwhile');
  created[1].reject(new Error('the creation failed'));
  assert.match(((await failing) as Error).message, /the creation failed/);
  assert.equal(await cloud.table.getInstance('chosen-2'), undefined, 'its row is gone');
  assert.deepEqual([...cloud.provider.instances.keys()], ['chosen-1']);
});

test("a job joins an instance another client is launching, and waits for it", async () => {
  const cloud = fakeCloud([four]);
  cloud.provider.manualBoot = true;
  const first = allocateJob(cloud, need, 'first');
  await until('the first launch registered', async () => (await cloud.table.listInstances()).length === 1);
  const events: AllocationEvent[] = [];
  const second = allocateJob(cloud, need, 'second', { onEvent: (e) => events.push(e) });
  await until('the second job on the launching row', async () => Object.keys((await cloud.table.listInstances())[0].jobs).length === 2);
  const [row] = await cloud.table.listInstances();
  assert.equal(row.state, 'launching');
  cloud.provider.boot(row.id);
  const [a, b] = await Promise.all([first, second]);
  assert.equal(a.instance.id, b.instance.id);
  assert.deepEqual([a.launched, b.launched], [true, false]);
  assert.deepEqual(events, [{ kind: 'joining', instanceId: row.id, typeName: 'fake.four' }]);
  assert.equal(cloud.provider.instances.size, 1, 'one launch for both');
});

test('clients that start launching at the same moment end on the earliest launch; the later ones go', async () => {
  const cloud = fakeCloud([four]);
  cloud.provider.manualBoot = true;
  const clients = ['a', 'b', 'c'].map((id) => allocateJob(cloud, need, id));
  await until('the later launches given up', async () => cloud.provider.terminated.length === 2);
  for (const id of cloud.provider.instances.keys()) cloud.provider.boot(id);
  const results = await Promise.all(clients);
  assert.equal(new Set(results.map((r) => r.instance.id)).size, 1);
  const rows = await cloud.table.listInstances();
  assert.equal(rows.length, 1);
  assert.deepEqual(Object.keys(rows[0].jobs).sort(), ['a', 'b', 'c']);
});

test('the launches of one call run at once', async () => {
  const cloud = fakeCloud([one]);
  cloud.provider.manualBoot = true;
  const allocating = allocateJobs(cloud, need, ['w0', 'w1', 'w2']);
  await until('three launching rows', async () => (await cloud.table.listInstances()).length === 3);
  for (const id of cloud.provider.instances.keys()) cloud.provider.boot(id);
  const allocations = await allocating;
  assert.equal(cloud.provider.maxInFlight, 3);
  assert.equal(new Set(allocations.map((a) => a.instance.id)).size, 3);
});

test('one launch of several fails: what the call allocated is freed, what it launched terminated, then the error', async () => {
  const cloud = fakeCloud([one]);
  // A warm instance with room for one of the three workers.
  const warm = await allocateJob(cloud, need, 'setup');
  await cloud.table.deallocateJob(warm.instance.id, 'setup');
  cloud.provider.failBoot.set(3, 'InsufficientInstanceCapacity');
  await assert.rejects(allocateJobs(cloud, need, ['w0', 'w1', 'w2']), /InsufficientInstanceCapacity/);
  const rows = await cloud.table.listInstances();
  assert.deepEqual(rows.map((r) => [r.id, Object.keys(r.jobs)]), [[warm.instance.id, []]], 'only the warm instance is left, empty');
  assert.deepEqual([...cloud.provider.instances.keys()], [warm.instance.id]);
  assert.deepEqual(cloud.provider.terminated.sort(), ['fake-2', 'fake-3']);
});

test('a launch that is given up sends the jobs that joined it elsewhere', async () => {
  const cloud = fakeCloud([four]);
  cloud.provider.manualBoot = true;
  cloud.provider.failBoot.set(1, 'boot failed');
  const first = allocateJob(cloud, need, 'first');
  const second = allocateJob(cloud, need, 'second');
  await assert.rejects(first, /boot failed/);
  await until('the second job on a launch of its own', async () => (await cloud.table.listInstances()).some((r) => r.id !== 'fake-1' && r.jobs.second && !r.preventFurtherAllocation));
  for (const id of cloud.provider.instances.keys()) cloud.provider.boot(id);
  const b = await second;
  assert.notEqual(b.instance.id, 'fake-1');
  assert.deepEqual((await cloud.table.listInstances()).map((r) => [r.id, Object.keys(r.jobs)]), [[b.instance.id, ['second']]]);
  assert.deepEqual([...cloud.provider.instances.keys()], [b.instance.id], 'every other launch terminated');
});

test('a cancelled launch leaves nothing allocated or running', async () => {
  const cloud = fakeCloud([one]);
  cloud.provider.manualBoot = true;
  const abort = new AbortController();
  const allocating = allocateJob(cloud, need, 'j', { signal: abort.signal });
  await until('a launching row', async () => (await cloud.table.listInstances()).length === 1);
  abort.abort();
  await assert.rejects(allocating, (e: Error & { code?: string }) => e.code === 'cancelled');
  assert.deepEqual(await cloud.table.listInstances(), []);
  assert.equal(cloud.provider.instances.size, 0);
});

test("a client's next job tries its last instance first, without listing the table, and lists it only when that is full", async () => {
  const cloud = fakeCloud([four]);
  const list = cloud.table.listInstances.bind(cloud.table);
  let listings = 0;
  cloud.table.listInstances = () => (listings++, list());
  const { instance } = await allocateJob(cloud, need, 'a');
  listings = 0;
  for (const jobId of ['b', 'c', 'd']) {
    const next = await allocateJob(cloud, need, jobId, { preferred: instance });
    assert.equal(next.instance.id, instance.id);
    assert.equal(next.launched, false);
  }
  assert.equal(listings, 0, 'one allocate-if-fits each, no listing');
  const full = await allocateJob(cloud, need, 'e', { preferred: instance });
  assert.ok(listings > 0, 'a full last instance: the table is listed');
  assert.notEqual(full.instance.id, instance.id);
  assert.equal(full.launched, true);
  assert.deepEqual(Object.keys((await cloud.table.getInstance(instance.id))!.jobs).sort(), ['a', 'b', 'c', 'd']);
});
