// Many clients that find no room at the same moment: each would once launch its own instance. A
// client whose job fits on an instance another client is launching joins it and waits for it, and a
// client that finds an earlier launch with room moves its launch's jobs there (its joiners' too) and
// gives its own up: the count of instances launched is the minimum.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { createLocalCloud } from '../../src/cloud/local';
import { tempDir } from '../support/tempDir';

const worker = path.join(__dirname, '..', 'support', 'launchRaceWorker.ts');
const stateDir = tempDir('state');
const CLIENTS = 20;
const PER_INSTANCE = 4;

after(async () => {
  const cloud = createLocalCloud({ stateDir });
  for (const r of await cloud.provider.listRunning()) await cloud.provider.terminate(r.id);
  fs.rmSync(stateDir, { recursive: true, force: true });
});

test(`${CLIENTS} clients starting at once on an empty cloud launch the fewest instances`, async () => {
  // One instance type, with room for four one-CPU jobs: the minimum is CLIENTS / 4 instances.
  fs.writeFileSync(path.join(stateDir, 'instance-types.json'), JSON.stringify([{ name: 'local.quad', cpu: PER_INSTANCE, memoryGb: 8, gpus: 0, onDemandPrice: 0.04 }]));
  const children = Array.from({ length: CLIENTS }, (_, i) =>
    spawn(process.execPath, ['-r', './test/support/register-py.cjs', '--import', 'tsx', worker, stateDir, `job-${i}`], { stdio: ['pipe', 'pipe', 'pipe'] }),
  );
  const lines = children.map((child) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const ready = new Promise<void>((resolve) => child.stdout.on('data', (d) => ((out += d), out.includes('ready\n') && resolve())));
    const done = new Promise<{ instanceId: string; launched: boolean }>((resolve, reject) =>
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.split('\n')[1])) : reject(new Error(`client failed (${code}): ${err}`)))),
    );
    return { ready, done };
  });
  await Promise.all(lines.map((l) => l.ready));
  for (const child of children) child.stdin.end('go\n');
  const results = await Promise.all(lines.map((l) => l.done));

  const instances = new Set(results.map((r) => r.instanceId));
  const minimum = CLIENTS / PER_INSTANCE;
  console.log(`${CLIENTS} clients: ${instances.size} instances (minimum ${minimum})`);
  const cloud = createLocalCloud({ stateDir });
  const records = await cloud.table.listInstances();
  assert.equal(records.reduce((n, r) => n + Object.keys(r.jobs).length, 0), CLIENTS, 'every client holds its job');
  for (const r of records) assert.ok(Object.keys(r.jobs).length <= PER_INSTANCE, `${r.id} over-allocated`);
  assert.equal((await cloud.provider.listRunning()).length, records.length, 'no instance runs unregistered');
  // Without joining launches it would be one instance per client.
  assert.equal(instances.size, minimum, `${instances.size} instances for ${CLIENTS} clients; ${minimum} would do`);
  assert.equal(records.length, minimum, 'no launch is left registered beside them');
});
