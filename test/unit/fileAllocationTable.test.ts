import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { FileAllocationTable } from '../../src/cloud/local/fileAllocationTable';
import { freeCapacity, InstanceRecord } from '../../src/cloud/ports';
import { tempDir } from '../support/tempDir';

function instanceRecord(id: string, cpu = 2, memoryGb = 4): Omit<InstanceRecord, 'version'> {
  return {
    id,
    typeName: 'local.medium',
    spot: false,
    price: 0.02,
    total: { cpu, memoryGb, gpus: 0 },
    jobs: {},
    preventFurtherAllocation: false,
    ssh: { host: '127.0.0.1', port: 1, user: 'u', hostKey: 'k' },
    workDir: '/nowhere',
    nodeCommand: 'node',
    registeredAt: Date.now(),
    lastJobChangeAt: Date.now(),
  };
}

const job = (jobId: string, cpu = 1, memoryGb = 1) => ({ jobId, cpu, memoryGb, gpus: 0, allocatedAt: Date.now() });

function tableDir(): string {
  return tempDir('table');
}

test('allocate is a compare-and-swap: a stale version loses and changes nothing', async () => {
  const table = new FileAllocationTable(tableDir());
  await table.registerInstance(instanceRecord('i-1'));
  const v1 = (await table.getInstance('i-1'))!;
  assert.equal(await table.allocateJobs('i-1', v1.version, [job('a')]), true);
  assert.equal(await table.allocateJobs('i-1', v1.version, [job('b')]), false, 'second writer with the same version must lose');
  const now = (await table.getInstance('i-1'))!;
  assert.deepEqual(Object.keys(now.jobs), ['a']);
  assert.equal(now.version, v1.version + 1);
});

test('allocate refuses what does not fit and instances marked to take no more', async () => {
  const table = new FileAllocationTable(tableDir());
  await table.registerInstance(instanceRecord('i-1', 2, 4));
  let r = (await table.getInstance('i-1'))!;
  assert.equal(await table.allocateJobs('i-1', r.version, [job('big', 3, 1)]), false);
  assert.equal(await table.allocateJobs('i-1', r.version, [job('a', 1, 1), job('b', 1, 1)]), true);
  r = (await table.getInstance('i-1'))!;
  assert.deepEqual(freeCapacity(r), { cpu: 0, memoryGb: 2, gpus: 0 });
  await table.deallocateJob('i-1', 'a');
  await table.preventFurtherAllocation('i-1');
  r = (await table.getInstance('i-1'))!;
  assert.equal(r.preventFurtherAllocation, true);
  assert.equal(await table.allocateJobs('i-1', r.version, [job('c')]), false);
});

test('deallocation is idempotent and deregistration waits for the last job', async () => {
  const table = new FileAllocationTable(tableDir());
  await table.registerInstance({ ...instanceRecord('i-1'), jobs: { a: job('a') } });
  assert.equal(await table.deregisterInstance('i-1'), false, 'must not deregister with a job on it');
  assert.equal(await table.deallocateJob('i-1', 'a'), true);
  assert.equal(await table.deallocateJob('i-1', 'a'), false);
  assert.equal(await table.deallocateJob('i-missing', 'a'), false);
  assert.equal(await table.deregisterInstance('i-1'), true);
  assert.equal(await table.getInstance('i-1'), undefined);
  assert.deepEqual(await table.listInstances(), []);
  await assert.rejects(table.registerInstance(instanceRecord('i-2')).then(() => table.registerInstance(instanceRecord('i-2'))));
});

test('old versions are cleaned up as new ones are published', async () => {
  const dir = tableDir();
  const table = new FileAllocationTable(dir);
  await table.registerInstance(instanceRecord('i-1', 64, 64));
  for (let i = 0; i < 20; i++) {
    const r = (await table.getInstance('i-1'))!;
    assert.equal(await table.allocateJobs('i-1', r.version, [job(`j${i}`)]), true);
  }
  assert.ok(fs.readdirSync(dir).length <= 2, `expected at most 2 version files, found ${fs.readdirSync(dir).length}`);
  assert.equal(Object.keys((await table.getInstance('i-1'))!.jobs).length, 20);
});

test('many processes allocating at once never over-allocate and lose no update', async () => {
  const dir = tableDir();
  const table = new FileAllocationTable(dir);
  await table.registerInstance(instanceRecord('i-1', 6, 100));
  await table.registerInstance(instanceRecord('i-2', 6, 100));
  // Each worker process tries to place 5 one-CPU jobs with retries, like clients racing.
  const worker = path.join(__dirname, '..', 'support', 'allocateWorker.ts');
  const runs = Array.from({ length: 6 }, (_, w) =>
    new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', worker, dir, `w${w}`, '5'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`worker exited ${code}`))));
    }),
  );
  const placed = (await Promise.all(runs)).reduce((a, b) => a + b, 0);
  const records = await table.listInstances();
  const allocated = records.reduce((s, r) => s + Object.keys(r.jobs).length, 0);
  assert.equal(placed, 12, 'exactly the 12 CPUs should have been handed out');
  assert.equal(allocated, 12, 'every successful allocation must be in the table');
  for (const r of records) assert.ok(freeCapacity(r).cpu >= 0, `${r.id} over-allocated`);
});

test('a writer that read a version since cleaned up loses, even though that file name is free again', async () => {
  const dir = tableDir();
  const table = new FileAllocationTable(dir);
  await table.registerInstance(instanceRecord('i-1', 8, 8));
  const stale = (await table.getInstance('i-1'))!;
  for (const id of ['a', 'b', 'c']) {
    const r = (await table.getInstance('i-1'))!;
    assert.equal(await table.allocateJobs('i-1', r.version, [job(id)]), true);
  }
  assert.ok(!fs.existsSync(path.join(dir, `i-1~${stale.version + 1}.json`)), 'the version the stale writer will publish was cleaned up');
  // The stale writer finishes its read-modify-write only now, as a slow process would.
  const publish = table['publish'].bind(table);
  const staleNext = { ...stale, jobs: { late: job('late') }, version: stale.version + 1 };
  assert.equal(publish(staleNext), false, 'publishing over a superseded version must report a lost race');
  const now = (await table.getInstance('i-1'))!;
  assert.deepEqual(Object.keys(now.jobs).sort(), ['a', 'b', 'c']);
  assert.ok(!fs.existsSync(path.join(dir, `i-1~${stale.version + 1}.json`)), 'the losing version is not left behind');
});
