// The command line and instances that cannot be reached or clients that vanish (issue 8): `local
// status` and `local up` tell a dead instance from a ready one, and a killed `run-map` leaves
// nothing behind once the next command runs.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { createLocalCloud } from '../../src/cloud/local';
import { makeProject, waitFor } from '../support/localCloud';
import { startNode } from '../support/runNode';
import { tempDir } from '../support/tempDir';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
let project: string;
let stateDir: string;
let markers: string;

function meadowrun(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, '--state-dir', stateDir, ...args], { cwd: project, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  markers = tempDir('cli-markers');
  project = makeProject({
    'jobs.py': [
      'import os, time',
      'def slow(x):',
      '    time.sleep(0.2)',
      '    return x',
      '# Ignores Ctrl-C, so that cancelling a map of it takes until the agent kills it.',
      'def stubborn(x):',
      `    open(os.path.join(${JSON.stringify(markers)}, str(x)), "w").close()`,
      '    deadline = time.time() + 30',
      '    while time.time() < deadline:',
      '        try:',
      '            time.sleep(deadline - time.time())',
      '        except KeyboardInterrupt:',
      '            pass',
      '    return x',
      '',
    ].join('\n'),
  });
  stateDir = tempDir('cli-state');
});
after(() => {
  meadowrun('local', 'down');
  fs.rmSync(project, { recursive: true, force: true });
  fs.rmSync(stateDir, { recursive: true, force: true });
  fs.rmSync(markers, { recursive: true, force: true });
});

test('an instance whose sshd died: local status says unreachable, local up does not call it ready', () => {
  const up = meadowrun('local', 'up', '--json');
  assert.equal(up.code, 0, up.stderr);
  const { instance } = JSON.parse(up.stdout);
  assert.equal(JSON.parse(meadowrun('local', 'status', '--json').stdout).instances[0].state, 'ready');
  process.kill(Number(fs.readFileSync(path.join(stateDir, 'instances', instance.id, 'sshd.pid'), 'utf8')), 'SIGKILL');

  const status = meadowrun('local', 'status', '--json');
  assert.deepEqual(JSON.parse(status.stdout).instances.map((i: { id: string; state: string }) => [i.id, i.state]), [[instance.id, 'unreachable']]);
  assert.match(meadowrun('local', 'status').stdout, new RegExp(`${instance.id}\\s+local\\.small\\s+unreachable`));

  const again = meadowrun('local', 'up', '--json');
  assert.equal(again.code, 0, again.stderr);
  assert.notEqual(JSON.parse(again.stdout).instance.id, instance.id, 'a new instance, not the dead one');
  assert.match(again.stderr, new RegExp(`Instance ${instance.id} is unreachable`));
  const after = JSON.parse(meadowrun('local', 'status', '--json').stdout).instances;
  assert.deepEqual(after.map((i: { state: string }) => i.state), ['ready'], 'the dead instance was reconciled away');
});

/** Starts `run-map` of slow tasks from the CLI on a fresh local cloud; resolves once its workers run. */
async function runningMap(): Promise<import('node:child_process').ChildProcess> {
  meadowrun('local', 'down');
  const child = spawn(process.execPath, [cli, '--state-dir', stateDir, 'run-map', 'jobs.py:slow', '--args', 'range(500)', '--workers', '2', '--json'], { cwd: project });
  const cloud = createLocalCloud({ stateDir });
  // Both workers placed on ready instances: no launch is under way any more (a client killed inside
  // the provider's launch, before it learns the instance's id, leaves it to the adjuster's grace;
  // one worker placed while the other's launch has no row yet was such a moment on a loaded machine).
  await waitFor('the map workers to run', async () => {
    const rows = await cloud.table.listInstances();
    const workers = rows.flatMap((r) => Object.keys(r.jobs)).filter((j) => /-w\d+$/.test(j));
    return workers.length === 2 && rows.every((r) => r.state === 'ready');
  }, 30_000);
  assert.equal((await cloud.queues.listPairs()).length, 1);
  return child;
}

async function leftovers() {
  const cloud = createLocalCloud({ stateDir });
  return {
    queues: (await cloud.queues.listPairs()).map((p) => p.jobId),
    instances: (await cloud.table.listInstances()).map((r) => r.id),
    running: (await cloud.provider.listRunning()).map((r) => r.id),
  };
}

test('kill -9 of run-map: the next command frees its queues, allocations and the instance it launched', async () => {
  const child = await runningMap();
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('exit', resolve));
  assert.equal((await leftovers()).queues.length, 1, 'a killed client cannot clean up itself');
  const next = meadowrun('instances', '--json');
  assert.equal(next.code, 0, next.stderr);
  assert.deepEqual(JSON.parse(next.stdout), []);
  assert.deepEqual(await leftovers(), { queues: [], instances: [], running: [] });
});

test('a double Ctrl-C of run-map still leaves nothing behind', async () => {
  meadowrun('local', 'down');
  // Tasks that ignore the first Ctrl-C: the cancel then waits for the agent to kill them, and the
  // second Ctrl-C comes while it waits.
  const map = startNode(cli, ['--state-dir', stateDir, 'run-map', 'jobs.py:stubborn', '--args', 'range(2)', '--workers', '2', '--json'], { cwd: project });
  await waitFor('both tasks to run', () => fs.readdirSync(markers).length === 2, 30_000);
  map.child.kill('SIGINT');
  await map.until((out) => out.stderr.includes('Cancelling'));
  map.child.kill('SIGINT');
  const { code, stderr: err } = await map.done;
  assert.equal(code, 130, err);
  assert.match(err, /Freeing what this run holds without waiting/);
  assert.deepEqual(await leftovers(), { queues: [], instances: [], running: [] });
});
