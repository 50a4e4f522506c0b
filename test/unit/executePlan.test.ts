// The adjuster's executor against a cloud in memory: each kind of action does what the plan says,
// re-checks the table before it acts, and launches run at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InstanceRecord } from '../../src/cloud/ports';
import { InstanceType } from '../../src/core/instanceTypes';
import { DEFAULT_MANAGEMENT_CONFIG } from '../../src/core/management';
import { executePlan, planFor } from '../../src/management/adjuster';
import { fakeCloud } from '../support/fakeCloud';

const small: InstanceType = { name: 'fake.small', cpu: 2, memoryGb: 4, gpus: 0, onDemandPrice: 0.02 };
const option = { type: small, spot: false, price: small.onDemandPrice };
const job = (jobId: string) => ({ jobId, cpu: 1, memoryGb: 1, gpus: 0, allocatedAt: Date.now() });

function row(id: string, extra: Partial<InstanceRecord> = {}): Omit<InstanceRecord, 'etag'> {
  return {
    id,
    state: 'ready',
    typeName: small.name,
    spot: false,
    price: small.onDemandPrice,
    total: { cpu: 2, memoryGb: 4, gpus: 0 },
    jobs: {},
    preventFurtherAllocation: false,
    ssh: { host: '127.0.0.1', port: 22, user: 'u', hostKey: 'k' },
    workDir: '/w',
    nodeCommand: { command: ['node'], env: {} },
    registeredAt: Date.now(),
    lastJobChangeAt: Date.now(),
    ...extra,
  };
}

/** An instance the fake provider runs, registered as `extra` says. */
async function instance(cloud: ReturnType<typeof fakeCloud>, extra: Partial<InstanceRecord> = {}): Promise<string> {
  const { id } = await cloud.provider.launch(option);
  await cloud.provider.waitReady(id);
  await cloud.table.registerInstance(row(id, extra));
  return id;
}

test('an idle instance past the timeout is deregistered and terminated; one that got a job meanwhile stays', async () => {
  const cloud = fakeCloud([small]);
  const long = Date.now() - 3600_000;
  const idle = await instance(cloud, { lastJobChangeAt: long });
  const busyNow = await instance(cloud, { lastJobChangeAt: long });
  const plan = await planFor(cloud, { ...DEFAULT_MANAGEMENT_CONFIG, idleTimeoutS: 60 });
  assert.deepEqual(plan.actions.map((a) => a.kind === 'terminate' && a.id).filter(Boolean).sort(), [idle, busyNow].sort());
  // A client allocates on one of them after the plan was made.
  const r = (await cloud.table.getInstance(busyNow))!;
  assert.ok(await cloud.table.allocateJobs(busyNow, r.etag, [job('late')]));

  const result = await executePlan(cloud, plan);
  assert.deepEqual(result.terminated, [idle]);
  assert.equal(result.kept[busyNow], 'got a job while being stopped');
  assert.deepEqual(cloud.provider.terminated, [idle]);
  assert.deepEqual((await cloud.table.listInstances()).map((x) => x.id), [busyNow]);
});

test('a registered instance the provider no longer runs is deregistered with its stale allocations', async () => {
  const cloud = fakeCloud([small]);
  const gone = await instance(cloud, { jobs: { stale: job('stale') } });
  await cloud.provider.terminate(gone); // the machine died
  const result = await executePlan(cloud, await planFor(cloud, DEFAULT_MANAGEMENT_CONFIG));
  assert.deepEqual(result.deregistered, [gone]);
  assert.deepEqual(await cloud.table.listInstances(), []);
});

test('an instance that runs unregistered past the grace is terminated; a younger one is left to finish registering', async () => {
  const cloud = fakeCloud([small]);
  const { id: old } = await cloud.provider.launch(option);
  cloud.provider.instances.get(old)!.launchedAt = Date.now() - 2 * cloud.provider.launchGraceMs;
  const { id: young } = await cloud.provider.launch(option);
  const result = await executePlan(cloud, await planFor(cloud, DEFAULT_MANAGEMENT_CONFIG));
  assert.deepEqual(result.terminated, [old]);
  assert.equal(result.kept[young], 'launching');
  assert.deepEqual([...cloud.provider.instances.keys()], [young]);
});

test('a launch whose client crashed (its row still launching after twice the grace) is removed with its jobs', async () => {
  const cloud = fakeCloud([small]);
  const grace = cloud.provider.launchGraceMs;
  const { id: crashed } = await cloud.provider.launch(option);
  const { ssh: _s, workDir: _w, nodeCommand: _n, ...bare } = row(crashed);
  await cloud.table.registerInstance({ ...bare, state: 'launching', registeredAt: Date.now() - 2 * grace, jobs: { never: job('never') } });
  const { id: booting } = await cloud.provider.launch(option);
  await cloud.table.registerInstance({ ...bare, id: booting, state: 'launching', jobs: { soon: job('soon') } });

  const plan = await planFor(cloud, DEFAULT_MANAGEMENT_CONFIG);
  const result = await executePlan(cloud, plan);
  assert.deepEqual(result.terminated, [crashed]);
  assert.equal(result.kept[booting], 'busy');
  assert.equal(await cloud.table.getInstance(crashed), undefined);
  assert.ok(cloud.provider.terminated.includes(crashed));
  assert.ok(await cloud.table.getInstance(booting));
});

test('a launch given up in the plan that became ready before it was carried out is kept', async () => {
  const cloud = fakeCloud([small]);
  const { id } = await cloud.provider.launch(option);
  const { ssh, workDir, nodeCommand, ...bare } = row(id);
  await cloud.table.registerInstance({ ...bare, state: 'launching', registeredAt: Date.now() - 2 * cloud.provider.launchGraceMs, jobs: { j: job('j') } });
  const plan = await planFor(cloud, DEFAULT_MANAGEMENT_CONFIG);
  assert.ok(await cloud.table.markReady(id, { ssh: ssh!, workDir: workDir!, nodeCommand: nodeCommand! }));
  const result = await executePlan(cloud, plan);
  assert.deepEqual(result.terminated, []);
  assert.equal(result.kept[id], 'became ready while being stopped');
  assert.deepEqual(Object.keys((await cloud.table.getInstance(id))!.jobs), ['j']);
});

test('threshold launches run at once and register ready instances with no jobs', async () => {
  const cloud = fakeCloud([small]);
  cloud.provider.manualBoot = true;
  const plan = await planFor(cloud, { ...DEFAULT_MANAGEMENT_CONFIG, thresholds: [{ cpu: 2, memoryGb: 4, gpus: 0, maxEvictionRatePct: 0, count: 3 }] });
  const running = executePlan(cloud, plan);
  // All three are launching before any has booted.
  while ((await cloud.table.listInstances()).length < 3) await new Promise((r) => setImmediate(r));
  assert.ok((await cloud.table.listInstances()).every((r) => r.state === 'launching'));
  for (const id of cloud.provider.instances.keys()) cloud.provider.boot(id);
  const result = await running;
  assert.equal(cloud.provider.maxInFlight, 3);
  assert.equal(result.launched.length, 3);
  const rows = await cloud.table.listInstances();
  assert.deepEqual(rows.map((r) => [r.state, Object.keys(r.jobs).length]), [['ready', 0], ['ready', 0], ['ready', 0]]);
  assert.deepEqual(result.unmet, []);
});

test('one failed threshold launch: the others stay, the failed one leaves nothing, and the error is reported', async () => {
  const cloud = fakeCloud([small]);
  cloud.provider.failBoot.set(2, 'no capacity');
  const plan = await planFor(cloud, { ...DEFAULT_MANAGEMENT_CONFIG, thresholds: [{ cpu: 2, memoryGb: 4, gpus: 0, maxEvictionRatePct: 0, count: 3 }] });
  await assert.rejects(executePlan(cloud, plan), /no capacity/);
  const rows = await cloud.table.listInstances();
  assert.deepEqual(rows.map((r) => r.id).sort(), ['fake-1', 'fake-3']);
  assert.deepEqual(cloud.provider.terminated, ['fake-2']);
  assert.deepEqual([...cloud.provider.instances.keys()].sort(), ['fake-1', 'fake-3']);
});
