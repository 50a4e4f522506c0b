// The `meadowrun` command line end to end: local up/status/down, instances, run and Ctrl-C.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

function meadowrun(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, '--state-dir', stateDir, ...args], { cwd: project, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  project = makeProject({
    'jobs.py': 'import time\ndef wait(s):\n    print("waiting", flush=True)\n    time.sleep(s)\ndef cube(x):\n    return x ** 3\n' +
      'def nap(x):\n    time.sleep(0.2)\n    if x == 3:\n        raise ValueError("three")\n    return x\n',
    'args.jsonl': '2\n3\n\n4\n',
  });
  stateDir = tempDir('cli-state');
});
after(() => {
  meadowrun('local', 'down');
  fs.rmSync(project, { recursive: true, force: true });
  fs.rmSync(stateDir, { recursive: true, force: true });
});

test('local up starts an instance that fits, status and instances report it, down stops it', () => {
  const up = meadowrun('local', 'up', '--cpu', '3', '--json');
  assert.equal(up.code, 0, up.stderr);
  const { instance } = JSON.parse(up.stdout);
  assert.equal(instance.type, 'local.large', 'the cheapest type with 3 CPUs');
  assert.equal(instance.cpu, '4/4');

  const again = meadowrun('local', 'up', '--json');
  assert.equal(JSON.parse(again.stdout).instance.id, instance.id, 'a second up reuses the running instance');

  const status = JSON.parse(meadowrun('local', 'status', '--json').stdout);
  assert.equal(status.stateDir, stateDir);
  assert.match(status.sshd, /sshd$/);
  assert.deepEqual(status.instances.map((i: { id: string }) => i.id), [instance.id]);

  const listed = meadowrun('instances');
  assert.match(listed.stdout, new RegExp(`${instance.id}\\s+local\\.large\\s+on-demand\\s+0\\.0416\\s+4/4\\s+8/8`));

  const down = meadowrun('local', 'down');
  assert.match(down.stdout, new RegExp(`Terminated ${instance.id}`));
  assert.deepEqual(JSON.parse(meadowrun('instances', '--json').stdout), []);
  assert.match(meadowrun('instances').stdout, /No instances/);
});

test('an unknown cloud, from --cloud or $MEADOWRUN_CLOUD, is refused in one line before anything starts', () => {
  const fresh = path.join(tempDir('cli-cloud'), 'state');
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [cli, '--state-dir', fresh, ...args], { cwd: project, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  for (const [args, env] of [
    [['--cloud', 'nope', 'instances'], {}],
    [['instances'], { MEADOWRUN_CLOUD: 'nope' }],
    [['--cloud', 'nope', 'run-function', 'jobs.py:cube', '--args', '[2]'], {}],
    [['manage', 'status'], { MEADOWRUN_CLOUD: 'nope' }],
    [['--cloud', 'nope', 'local', 'status'], {}],
  ] as const) {
    const r = run([...args], env);
    assert.equal(r.stderr, 'meadowrun: Unknown cloud "nope" (known: local, aws, azure)\n', `${args.join(' ')} ${JSON.stringify(env)}`);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
  }
  assert.equal(fs.existsSync(fresh), false, 'nothing was created');
  const named = run(['--cloud', 'local', 'instances', '--json'], { MEADOWRUN_CLOUD: 'nope' });
  assert.equal(named.status, 0, `--cloud wins over the environment: ${named.stderr}`);
  assert.deepEqual(JSON.parse(named.stdout), []);
});

test('a damaged allocation table file breaks no command and is repaired', () => {
  const up = meadowrun('local', 'up', '--json');
  assert.equal(up.code, 0, up.stderr);
  const { instance } = JSON.parse(up.stdout);
  const tableDir = path.join(stateDir, 'table');
  const version = (f: string) => Number(/~(\d+)\.json$/.exec(f)?.[1] ?? -1);
  const head = fs.readdirSync(tableDir).filter((f) => f.startsWith(`${instance.id}~`)).sort((a, b) => version(b) - version(a))[0];
  fs.writeFileSync(path.join(tableDir, head), '{"id": "trunc');

  const listed = meadowrun('instances', '--json');
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(JSON.parse(listed.stdout).map((i: { id: string }) => i.id), [instance.id]);
  // The instance's agent reads the table too: whichever process reads first repairs it and warns.
  assert.doesNotMatch(listed.stderr, /Error/);
  assert.equal(meadowrun('instances', '--json').stderr, '', 'repaired by now');

  const down = meadowrun('local', 'down');
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stdout, new RegExp(`Terminated ${instance.id}`));
  assert.deepEqual(JSON.parse(meadowrun('instances', '--json').stdout), []);
});

/** Starts a long job from the CLI, presses Ctrl-C once it runs, and returns the exit code. */
async function interruptedRun(): Promise<number | null> {
  const run = startNode(cli, ['--state-dir', stateDir, 'run-function', 'jobs.py:wait', '--args', '[60]'], { cwd: project });
  await waitFor('the job to start', () => run.out.stdout.includes('waiting'), 30_000);
  const [record] = await createLocalCloud({ stateDir }).table.listInstances();
  assert.equal(Object.keys(record.jobs).length, 1, 'the running job is allocated');
  run.child.kill('SIGINT');
  return (await run.done).code;
}

test('Ctrl-C cancels the remote job on a warm instance: exit 130, process gone, nothing allocated', async () => {
  assert.equal(meadowrun('local', 'up').code, 0);
  const cloud = createLocalCloud({ stateDir });
  const [record] = await cloud.table.listInstances();
  assert.equal(await interruptedRun(), 130);
  const after = (await cloud.table.getInstance(record.id))!;
  assert.deepEqual(after.jobs, {});
  const pids = fs.readdirSync(path.join(record.workDir!, 'pids'));
  assert.deepEqual(pids, [], 'no PID file: the job process was stopped and accounted for');
});

test('instances terminate refuses an instance with jobs unless forced', async () => {
  const cloud = createLocalCloud({ stateDir });
  const [record] = await cloud.table.listInstances();
  assert.ok(await cloud.table.allocateJobs(record.id, record.etag, [{ jobId: 'held', cpu: 1, memoryGb: 1, gpus: 0, allocatedAt: Date.now() }]));
  const refused = meadowrun('instances', 'terminate', record.id);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /is running 1 job\(s\); use --force/);
  assert.equal(meadowrun('instances', 'terminate', record.id, '--force').code, 0);
  assert.deepEqual(await cloud.table.listInstances(), []);
  assert.deepEqual(await cloud.provider.listRunning(), []);
  assert.match(meadowrun('instances', 'terminate', record.id).stderr, /No instance/);
});

test('a job whose instance is terminated under it says so, not that it lost its agent', async () => {
  const run = startNode(cli, ['--state-dir', stateDir, 'run-function', 'jobs.py:wait', '--args', '[60]'], { cwd: project });
  await waitFor('the job to start', () => run.out.stdout.includes('waiting'), 30_000);
  const [record] = await createLocalCloud({ stateDir }).table.listInstances();
  assert.equal(meadowrun('instances', 'terminate', record.id, '--force').code, 0);
  const { code, stderr: err } = await run.done;
  assert.equal(code, 1);
  assert.match(err, new RegExp(`^meadowrun: Job \\S+ was stopped because its instance ${record.id} was terminated$`, 'm'));
  assert.doesNotMatch(err, /Lost the agent/);
});

test('Ctrl-C during a job on an instance launched for it also stops that instance', async () => {
  const cloud = createLocalCloud({ stateDir });
  assert.deepEqual(await cloud.provider.listRunning(), []);
  assert.equal(await interruptedRun(), 130);
  assert.deepEqual(await cloud.table.listInstances(), []);
  assert.deepEqual(await cloud.provider.listRunning(), []);
});

const UNMANAGED = /^Note: local-\w+ stops itself once idle for 7 minutes: no management functions are installed/gm;

test('run-map --json prints the results in order; arguments can come from a JSONL file', () => {
  const r = meadowrun('run-map', 'jobs.py:cube', '--args', 'range(20)', '--workers', '3', '--cpu', '0.5', '--memory', '0.5', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.match(UNMANAGED)?.length, 1, `one line says the launched instance is not managed: ${r.stderr}`);
  const out = JSON.parse(r.stdout);
  assert.equal(out.status, 'succeeded');
  assert.deepEqual(out.results, Array.from({ length: 20 }, (_, i) => i ** 3));
  assert.deepEqual(out.failures, []);
  const fromFile = meadowrun('run-map', 'jobs.py:cube', '--args-file', 'args.jsonl', '--workers', '1', '--cpu', '0.5', '--memory', '0.5');
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.deepEqual(fromFile.stdout.trim().split('\n'), ['8', '27', '64']);
  assert.match(fromFile.stderr, /Succeeded — 3 tasks \([\d.]+ s\)/);
  assert.doesNotMatch(fromFile.stderr, UNMANAGED, 'nothing was launched');
  meadowrun('local', 'down');
});

test('run-map: one failed task of four is "Completed — 1 task failed"; with management installed a launch is no news', () => {
  assert.equal(meadowrun('manage', 'install', '--idle-timeout', '600').code, 0);
  try {
    const r = meadowrun('run-map', 'jobs.py:nap', '--args', '[1, 2, 3, 4]', '--max-attempts', '1', '--cpu', '0.5', '--memory', '0.5');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Launched local-/);
    assert.match(r.stderr, /^Completed — 1 task failed \([\d.]+ s\)$/m);
    assert.doesNotMatch(r.stderr, UNMANAGED);
  } finally {
    meadowrun('manage', 'uninstall');
  }
});

test('run-map: Ctrl-C says how many tasks were done: "Cancelled after N of M tasks"', async () => {
  const cloud = createLocalCloud({ stateDir });
  const mapPidFiles = async () =>
    (await cloud.table.listInstances()).flatMap((r) => (r.workDir !== undefined && fs.existsSync(path.join(r.workDir, 'pids')) ? fs.readdirSync(path.join(r.workDir, 'pids')).filter((f) => f.startsWith('map-')).map((f) => `${r.id}/${f}`) : []));
  // PID files an earlier map's workers left for the sweep are not this map's.
  const earlier = new Set(await mapPidFiles());
  const map = startNode(cli, ['--state-dir', stateDir, 'run-map', 'jobs.py:nap', '--args', 'list(range(100, 160))', '--workers', '1', '--cpu', '0.5', '--memory', '0.5'], { cwd: project });
  // Its worker runs (its PID file is written once its process has started, after the map started).
  await waitFor('the map worker to run', async () => (await mapPidFiles()).some((f) => !earlier.has(f)), 30_000);
  map.child.kill('SIGINT');
  const { code, stderr: err } = await map.done;
  assert.equal(code, 130, err);
  const m = /^Cancelled after (\d+) of 60 tasks \([\d.]+ s\)$/m.exec(err);
  assert.ok(m, err);
  assert.ok(Number(m[1]) < 60, err);
  meadowrun('local', 'down');
});
