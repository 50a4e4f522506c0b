// Eight separate client processes race for two warm instances: no instance ever runs more jobs
// than it has CPUs, and every job still runs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { allocateJob } from '../../src/jobs/allocate';
import { jobsOnAllInstances, testCloud, TestCloud } from '../support/localCloud';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
let t: TestCloud;

before(() => {
  t = testCloud({ 'hold.py': 'import time\ndef hold(seconds):\n    start = time.time()\n    time.sleep(seconds)\n    return [start, time.time()]\n' });
});
after(() => t.dispose());

function client(): Promise<{ instanceId: string; launched: boolean; window: [number, number] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [cli, '--state-dir', t.cloud.stateDir, 'run-function', 'hold.py:hold', '--args', '[2]', '--cpu', '1', '--memory', '1', '--json'],
      { cwd: t.project, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`client failed (${code}): ${err}`));
      const r = JSON.parse(out);
      resolve({ instanceId: r.instanceId, launched: r.launched, window: JSON.parse(r.outcome.value.json) });
    });
  });
}

test('8 concurrent clients on 2 warm instances never over-allocate', async () => {
  // Two warm 2-CPU instances: four one-CPU jobs fit on them at once.
  const need = { cpu: 2, memoryGb: 4, gpus: 0, maxEvictionRatePct: 0 };
  const a = await allocateJob(t.cloud, need, 'warm-a');
  const b = await allocateJob(t.cloud, need, 'warm-b');
  assert.notEqual(a.instance.id, b.instance.id);
  await t.cloud.table.deallocateJob(a.instance.id, 'warm-a');
  await t.cloud.table.deallocateJob(b.instance.id, 'warm-b');

  const results = await Promise.all(Array.from({ length: 8 }, client));
  const records = new Map((await t.cloud.table.listInstances()).map((r) => [r.id, r]));
  const byInstance = new Map<string, [number, number][]>();
  for (const r of results) byInstance.set(r.instanceId, [...(byInstance.get(r.instanceId) ?? []), r.window]);
  for (const [id, windows] of byInstance) {
    const capacity = records.get(id)!.total.cpu;
    for (const [start] of windows) {
      const overlapping = windows.filter(([s, e]) => s <= start && start < e).length;
      assert.ok(overlapping <= capacity, `${id} ran ${overlapping} jobs at once with ${capacity} CPUs`);
    }
  }
  const reused = results.filter((r) => !r.launched);
  assert.ok(reused.length >= 1 && reused.length <= 8, `reused ${reused.length}`);
  assert.ok(reused.every((r) => r.instanceId === a.instance.id || r.instanceId === b.instance.id));
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});
