// Which running instance a job may join, on the real local cloud (issue 14): a job's eviction limit
// governs existing instances too, not only the ones it launches.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { allocateJobs } from '../../src/jobs/allocate';
import { DEFAULT_MANAGEMENT_CONFIG } from '../../src/core/management';
import { testCloud, TestCloud } from '../support/localCloud';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const files = { 'm.py': 'def add(a, b):\n    return a + b\n' };
let t: TestCloud;
let c: TestCloud; // for the CLI, on its own state directory

before(() => {
  t = testCloud(files);
  c = testCloud(files);
});

after(async () => {
  await t.dispose();
  await c.dispose();
});

function meadowrun(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, '--state-dir', c.cloud.stateDir, ...args], { cwd: c.project, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function record(id: string) {
  const r = await t.cloud.table.getInstance(id);
  assert.ok(r, `instance ${id} is registered`);
  return r;
}

test('a job that allows spot launches a spot instance; an on-demand-only job does not join it', async () => {
  const a = await t.engine.runFunction('m.py:add', '[1, 2]', { projectDir: t.project, resources: { maxEvictionRatePct: 20 } });
  assert.equal(a.outcome.status === 'succeeded' && a.outcome.value!.repr, '3');
  assert.equal(a.launched, true);
  const spot = await record(a.instanceId);
  assert.equal(spot.spot, true, `job A launched ${spot.typeName} on-demand; expected the cheaper spot market`);

  // Default resources: on-demand only. The warm spot instance is idle and big enough, but off limits.
  const b = await t.engine.runFunction('m.py:add', '[2, 3]', { projectDir: t.project });
  assert.equal(b.outcome.status === 'succeeded' && b.outcome.value!.repr, '5');
  assert.notEqual(b.instanceId, a.instanceId, 'job B (on-demand only) ran on the spot instance job A launched');
  assert.equal(b.launched, true);
  assert.equal((await record(b.instanceId)).spot, false);
  assert.equal(spot.evictionRatePct, 5, 'the catalog eviction rate is recorded at launch');

  // A job with a limit above the instance's rate still joins the warm spot instance; one below it does not.
  const c = await t.engine.runFunction('m.py:add', '[3, 4]', { projectDir: t.project, resources: { maxEvictionRatePct: 5 } });
  assert.equal(c.launched, false);
  assert.ok([a.instanceId, b.instanceId].includes(c.instanceId));
  const d = await t.engine.runFunction('m.py:add', '[4, 5]', { projectDir: t.project, resources: { maxEvictionRatePct: 4 } });
  assert.equal(d.launched, false);
  assert.equal(d.instanceId, b.instanceId, 'a 4 % limit must not join a 5 % spot instance');
});

test('CPU features and GPUs decide which instance a job joins or launches', async () => {
  // Nothing running has AVX-512 (local.small is intel/avx2): the job launches the cheapest type that has it.
  const avx512 = await t.engine.runFunction('m.py:add', '[1, 1]', { projectDir: t.project, resources: { cpuFeatures: ['avx512'] } });
  assert.equal(avx512.outcome.status, 'succeeded');
  assert.equal(avx512.launched, true);
  const large = await record(avx512.instanceId);
  assert.equal(large.typeName, 'local.large');
  assert.deepEqual(large.cpuFeatures, ['intel', 'avx', 'avx2', 'avx512']);

  // A GPU job with 16 GB of GPU memory launches the GPU type, whose GPU memory is recorded.
  const gpu = await t.engine.runFunction('m.py:add', '[2, 2]', { projectDir: t.project, resources: { gpus: 1, gpuMemoryGb: 16 } });
  assert.equal(gpu.launched, true);
  const gpuRecord = await record(gpu.instanceId);
  assert.equal(gpuRecord.typeName, 'local.gpu');
  assert.equal(gpuRecord.memoryPerGpuGb, 16);

  // The GPU instance has AVX-512 and, with a job holding half its CPUs, is the fuller one; an AVX-512 job
  // without GPUs still keeps off it while the instance without GPUs has room.
  const fresh = await record(gpu.instanceId);
  const held = { jobId: 'held', cpu: 2, memoryGb: 2, gpus: 0, allocatedAt: Date.now() };
  assert.ok(await t.cloud.table.allocateJobs(fresh.id, fresh.etag, [held]));
  const again = await t.engine.runFunction('m.py:add', '[3, 3]', { projectDir: t.project, resources: { cpuFeatures: ['avx512'] } });
  assert.equal(again.launched, false);
  assert.equal(again.instanceId, avx512.instanceId, 'a job without GPUs went to the GPU instance');
  await t.cloud.table.deallocateJob(fresh.id, 'held');

  // Asking for more GPU memory than any type has fails before anything is launched.
  const before = (await t.cloud.table.listInstances()).length;
  await assert.rejects(
    t.engine.runFunction('m.py:add', '[0, 0]', { projectDir: t.project, resources: { gpus: 1, gpuMemoryGb: 40 } }),
    /not enough GPU memory/,
  );
  assert.equal((await t.cloud.table.listInstances()).length, before);
});

test('map workers are packed by the same rules: on-demand without GPUs first, the GPU instance last, never spot', async () => {
  // Idle on `t`: spot local.small (A), on-demand local.small (B), local.large and local.gpu.
  const records = await t.cloud.table.listInstances();
  const byType = (type: string, spot = false) => records.find((r) => r.typeName === type && r.spot === spot)!.id;
  const ids = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'];
  const allocations = await allocateJobs(t.cloud, { cpu: 1, memoryGb: 2, gpus: 0, maxEvictionRatePct: 0 }, ids, { noLaunch: true });
  const where = allocations.map((a) => a.instance.id);
  try {
    const count = (id: string) => where.filter((w) => w === id).length;
    assert.equal(count(byType('local.small')), 1);
    assert.equal(count(byType('local.large')), 4);
    assert.equal(count(byType('local.gpu')), 1, 'the GPU instance takes only what nothing else has room for');
    assert.equal(count(byType('local.small', true)), 0, 'no worker on the spot instance');
  } finally {
    for (const [k, a] of allocations.entries()) await t.cloud.table.deallocateJob(a.instance.id, ids[k]);
  }
});

test('the CLI reproduction: `run-function m.py:add --max-eviction-rate 20`, then `run-function m.py:add`', async () => {
  const run = (...flags: string[]) => {
    const r = meadowrun('run-function', 'm.py:add', '--args', '[1, 2]', '--json', ...flags);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { instanceId: string; launched: boolean };
  };
  const a = run('--max-eviction-rate', '20');
  const b = run();
  assert.notEqual(b.instanceId, a.instanceId);
  const table = await c.cloud.table.listInstances();
  const market = (id: string) => table.find((r) => r.id === id)?.spot;
  assert.equal(market(a.instanceId), true);
  assert.equal(market(b.instanceId), false);
  // CPU features from the command line, repeated or comma-separated, any case.
  const avx512 = run('--cpu-feature', 'AVX512', '--cpu-feature', 'intel,avx2');
  assert.equal((await c.cloud.table.getInstance(avx512.instanceId))?.typeName, 'local.large');
  // `local up` counts only a running instance the resources may use: none of these is AMD.
  const up = meadowrun('local', 'up', '--cpu-feature', 'amd', '--json');
  assert.equal(up.code, 0, up.stderr);
  const amd = JSON.parse(up.stdout).instance;
  assert.equal(amd.type, 'local.medium');
  await c.cloud.provider.terminate(amd.id);
  await c.cloud.table.deregisterInstance(amd.id);
});

test('thresholds: only instances with the asked-for features count, and launches have them', async () => {
  // Running on `c` now: a spot local.small (intel), an on-demand local.small (intel) and a local.large
  // (intel, avx512). Nothing is AMD, so the AMD threshold launches the cheapest AMD type.
  const thresholds = [
    { name: 'amd', cpu: 1, memoryGb: 2, gpus: 0, maxEvictionRatePct: 0, count: 1, cpuFeatures: ['amd'] },
    { name: 'avx512', cpu: 1, memoryGb: 2, gpus: 0, maxEvictionRatePct: 0, count: 1, cpuFeatures: ['avx512'] },
  ];
  fs.mkdirSync(c.cloud.management.dir, { recursive: true });
  fs.writeFileSync(path.join(c.cloud.management.dir, 'config.json'), JSON.stringify({ ...DEFAULT_MANAGEMENT_CONFIG, thresholds }));
  const { result } = await c.cloud.management.runOnce();
  assert.equal(result.error, undefined);
  assert.equal(result.launched.length, 1, JSON.stringify(result));
  assert.equal((await c.cloud.table.getInstance(result.launched[0]))?.typeName, 'local.medium');
  const large = (await c.cloud.table.listInstances()).find((r) => r.typeName === 'local.large')!;
  assert.equal(result.kept[large.id], 'threshold avx512');
  assert.deepEqual(result.unmet, []);
});
