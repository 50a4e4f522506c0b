// What the file table does beyond the port's contract (test/contracts/allocationTableContract.ts):
// its files, races at exact moments, and damaged files.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { FileAllocationTable } from '../../src/cloud/local/fileAllocationTable';
import { freeCapacity } from '../../src/cloud/ports';
import { instanceRecord, job } from '../contracts/allocationTableContract';
import { tempDir } from '../support/tempDir';

function tableDir(): string {
  return tempDir('table');
}

/** A record's version files, newest first. */
function versionFiles(dir: string, id: string): string[] {
  const version = (f: string) => Number(/~(\d+)\.json$/.exec(f)?.[1]);
  return fs.readdirSync(dir).filter((f) => f.startsWith(`${id}~`) && f.endsWith('.json')).sort((a, b) => version(b) - version(a));
}

test('old versions are cleaned up as new ones are published', async () => {
  const dir = tableDir();
  const table = new FileAllocationTable(dir);
  await table.registerInstance(instanceRecord('i-1', 64, 64));
  for (let i = 0; i < 20; i++) {
    const r = (await table.getInstance('i-1'))!;
    assert.equal(await table.allocateJobs('i-1', r.etag, [job(`j${i}`)]), true);
  }
  assert.ok(fs.readdirSync(dir).length <= 2, `expected at most 2 files, found ${fs.readdirSync(dir)}`);
  assert.equal(Object.keys((await table.getInstance('i-1'))!.jobs).length, 20);
  assert.equal(await table.deallocateJob('i-1', 'j0'), true);
  for (let i = 1; i < 20; i++) await table.deallocateJob('i-1', `j${i}`);
  assert.equal(await table.deregisterInstance('i-1'), true);
  assert.deepEqual(fs.readdirSync(dir), [], 'a deregistered instance leaves no files');
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

test('a writer that read a version long since superseded loses and leaves nothing behind', async () => {
  const dir = tableDir();
  const table = new FileAllocationTable(dir);
  await table.registerInstance(instanceRecord('i-1', 8, 8));
  const stale = (await table.getInstance('i-1'))!;
  for (const id of ['a', 'b', 'c']) {
    const r = (await table.getInstance('i-1'))!;
    assert.equal(await table.allocateJobs('i-1', r.etag, [job(id)]), true);
  }
  const before = fs.readdirSync(dir).sort();
  // The stale writer finishes its read-modify-write only now, as a slow process would.
  const publish = table['publish'].bind(table);
  assert.equal(publish('i-1', Number(stale.etag), { ...stale, jobs: { late: job('late') } }), false);
  assert.deepEqual(Object.keys((await table.getInstance('i-1'))!.jobs).sort(), ['a', 'b', 'c']);
  assert.deepEqual(fs.readdirSync(dir).sort(), before);
});

test('a write that took effect returns true even when another writer builds on it before it returns', async (t) => {
  const dir = tableDir();
  const table = new FileAllocationTable(dir);
  const other = new FileAllocationTable(dir);
  await table.registerInstance(instanceRecord('i-1', 8, 8));
  const v1 = (await table.getInstance('i-1'))!;
  // Right when the first write becomes visible to others, a second client reads it and writes on top.
  let armed = true;
  const interleave = (to: fs.PathLike) => {
    if (!armed || !/~\d+\.(json|prev-\w+)$/.test(String(to))) return;
    armed = false;
    // The table's methods do their file work before their first await: this write happens right here.
    void other.allocateJobs('i-1', String(Number(v1.etag) + 1), [job('second')]);
  };
  for (const name of ['renameSync', 'linkSync'] as const) {
    const original = fs[name];
    t.mock.method(fs, name, (from: fs.PathLike, to: fs.PathLike) => {
      original(from, to);
      interleave(to);
    });
  }
  const first = await table.allocateJobs('i-1', v1.etag, [job('first')]);
  t.mock.restoreAll();
  assert.equal(armed, false, 'the second client ran in the middle of the first write');
  assert.deepEqual(Object.keys((await table.getInstance('i-1'))!.jobs).sort(), ['first', 'second']);
  assert.equal(first, true, 'the first write is in the table, so it must report success');
});

test('a corrupt record is skipped with one warning and repaired from its previous version', async (t) => {
  const dir = tableDir();
  const table = new FileAllocationTable(dir);
  await table.registerInstance({ ...instanceRecord('i-1'), registeredAt: 1 });
  await table.registerInstance({ ...instanceRecord('i-2'), registeredAt: 2 });
  for (const id of ['a', 'b']) {
    const r = (await table.getInstance('i-1'))!;
    assert.equal(await table.allocateJobs('i-1', r.etag, [job(id)]), true);
  }
  const [head] = versionFiles(dir, 'i-1');
  fs.writeFileSync(path.join(dir, head), '{"id": "i-1", "jobs": {"a"');
  const warn = t.mock.method(console, 'warn', () => {});

  const records = await table.listInstances();
  assert.deepEqual(records.map((r) => r.id), ['i-1', 'i-2']);
  assert.deepEqual(Object.keys(records[0].jobs), ['a'], 'the version before the damaged one');
  assert.equal(warn.mock.callCount(), 1);
  assert.match(String(warn.mock.calls[0].arguments[0]), /i-1.*unreadable.*restored its previous version/);

  await table.listInstances();
  assert.equal(warn.mock.callCount(), 1, 'repaired: no second warning');
  const r = (await table.getInstance('i-1'))!;
  assert.equal(await table.allocateJobs('i-1', r.etag, [job('c')]), true);
  assert.deepEqual(Object.keys((await table.getInstance('i-1'))!.jobs).sort(), ['a', 'c']);
});

test('a corrupt record with no usable previous version is dropped with one warning', async (t) => {
  const dir = tableDir();
  const table = new FileAllocationTable(dir);
  await table.registerInstance(instanceRecord('i-1'));
  await table.registerInstance(instanceRecord('i-2'));
  fs.writeFileSync(path.join(dir, versionFiles(dir, 'i-1')[0]), '');
  const warn = t.mock.method(console, 'warn', () => {});

  assert.deepEqual((await table.listInstances()).map((r) => r.id), ['i-2']);
  assert.equal(await table.getInstance('i-1'), undefined);
  assert.equal(warn.mock.callCount(), 1);
  assert.match(String(warn.mock.calls[0].arguments[0]), /i-1.*unreadable.*removed it from the table/);
  assert.deepEqual(versionFiles(dir, 'i-1'), []);
  await table.registerInstance(instanceRecord('i-3'));
  assert.equal((await table.listInstances()).length, 2);
  assert.equal(warn.mock.callCount(), 1);
});
