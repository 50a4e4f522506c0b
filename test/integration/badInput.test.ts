// Each kind of bad input gives one clear line from the CLI, a non-zero exit code, and leaves no
// allocation or instance behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { createLocalCloud } from '../../src/cloud/local';
import { makeProject } from '../support/localCloud';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
let project: string;
let stateDir: string;

function meadowrun(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli, '--state-dir', stateDir, ...args], {
    cwd: project,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function leftovers() {
  const cloud = createLocalCloud({ stateDir });
  const records = await cloud.table.listInstances();
  return { jobs: records.flatMap((r) => Object.keys(r.jobs)), instances: (await cloud.provider.listRunning()).map((r) => r.id) };
}

/** The failure is exactly one line on stderr (after any progress lines), starting "meadowrun:", matching `pattern`. */
function assertOneLineError(r: ReturnType<typeof meadowrun>, pattern: RegExp) {
  assert.notEqual(r.code, 0);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('meadowrun: '));
  assert.equal(errors.length, 1, `expected one error line, got:\n${r.stderr}`);
  assert.equal(r.stderr.trim().split('\n').pop(), errors[0], `the error is the last thing said:\n${r.stderr}`);
  assert.match(errors[0], pattern);
}

before(() => {
  project = makeProject({
    'ok.py': 'def hello(name):\n    return f"hello {name}"\n',
    'broken.py': 'def f(:\n    pass\n',
  });
  stateDir = fs.mkdtempSync(path.join(path.dirname(project), 'meadowrun-state-'));
});

after(async () => {
  meadowrun(['local', 'down']);
  fs.rmSync(project, { recursive: true, force: true });
  fs.rmSync(stateDir, { recursive: true, force: true });
});

test('unknown function', async () => {
  const r = meadowrun(['run-function', 'ok.py:nope']);
  assertOneLineError(r, /ok\.py has no function nope \(it defines: hello\)/);
  assert.deepEqual(await leftovers(), { jobs: [], instances: [] });
});

test('syntax error in the file, for a function and for a command', async () => {
  assertOneLineError(meadowrun(['run-function', 'broken.py:f']), /Syntax error in broken\.py, line 1/);
  assertOneLineError(meadowrun(['run-command', 'broken.py']), /Syntax error in broken\.py, line 1/);
  assert.deepEqual(await leftovers(), { jobs: [], instances: [] });
});

test('arguments that are not a literal', async () => {
  assertOneLineError(meadowrun(['run-function', 'ok.py:hello', '--args', '[open("x")]']), /Arguments are neither a Python literal nor JSON/);
  assertOneLineError(meadowrun(['run-function', 'ok.py:hello', '--args', '"x"']), /Arguments must be a list/);
  assert.deepEqual(await leftovers(), { jobs: [], instances: [] });
});

test('arguments that do not fit the function, as JSON and as Python literals: refused before anything launches', async () => {
  assertOneLineError(meadowrun(['run-function', 'ok.py:hello', '--args', '[1, 2]']), /hello\(\) takes 1 positional argument but 2 were given/);
  assertOneLineError(meadowrun(['run-function', 'ok.py:hello']), /hello\(\) is missing 1 required argument: 'name'/);
  assertOneLineError(
    meadowrun(['run-function', 'ok.py:hello', '--args', "('a',)", '--kwargs', "{'nope': 1}"]),
    /hello\(\) got an unexpected keyword argument 'nope'/,
  );
  assert.deepEqual(await leftovers(), { jobs: [], instances: [] });
});

test('missing file and bad target', async () => {
  assertOneLineError(meadowrun(['run-command', 'nothere.py']), /No such file: .*nothere\.py/);
  assertOneLineError(meadowrun(['run-function', 'ok.py']), /Expected FILE\.py:FUNCTION or package\.module:FUNCTION/);
});

test('impossible resources: more than any type offers, and no CPU at all', async () => {
  assertOneLineError(meadowrun(['run-function', 'ok.py:hello', '--args', '["x"]', '--cpu', '64']), /No instance type offers 64 CPU/);
  assertOneLineError(meadowrun(['run-function', 'ok.py:hello', '--args', '["x"]', '--cpu', '0']), /CPU must be more than 0/);
  assertOneLineError(meadowrun(['run-function', 'ok.py:hello', '--args', '["x"]', '--memory', '-1']), /memory must be more than 0/);
  assertOneLineError(meadowrun(['run-function', 'ok.py:hello', '--cpu', 'lots']), /argument 'lots' is invalid/);
  assert.deepEqual(await leftovers(), { jobs: [], instances: [] });
});

test('impossible requirements: unknown CPU feature, GPU memory without GPUs, more GPU memory than any type', async () => {
  assertOneLineError(
    meadowrun(['run-function', 'ok.py:hello', '--args', '["x"]', '--cpu-feature', 'avx2,neon']),
    /unknown CPU feature "neon" \(known: avx, avx2, avx512, intel, amd\)/,
  );
  assertOneLineError(meadowrun(['run-function', 'ok.py:hello', '--args', '["x"]', '--gpu-memory', '16']), /GPU memory \(16 GB\) needs at least 1 GPU/);
  assertOneLineError(
    meadowrun(['run-function', 'ok.py:hello', '--args', '["x"]', '--gpus', '1', '--gpu-memory', '80']),
    /No instance type offers 1 CPU, 2 GB, 1 GPU with 80 GB: not enough GPU memory/,
  );
  assert.deepEqual(await leftovers(), { jobs: [], instances: [] });
});

test('sshd missing: says how to install it, launches nothing', async () => {
  const r = meadowrun(['run-function', 'ok.py:hello', '--args', '["x"]'], { MEADOWRUN_SSHD: '/nonexistent/sshd' });
  assertOneLineError(r, /needs an OpenSSH server.*apt-get install openssh-server/);
  assert.deepEqual(await leftovers(), { jobs: [], instances: [] });
});

test('unreachable instance: named, fenced, and the job retried once elsewhere', async () => {
  const ok = meadowrun(['run-function', 'ok.py:hello', '--args', '["you"]']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), "'hello you'");
  const cloud = createLocalCloud({ stateDir });
  const [record] = await cloud.table.listInstances();
  // The instance's sshd dies but the table still lists it: connections are refused.
  const pid = Number(fs.readFileSync(path.join(stateDir, 'instances', record.id, 'sshd.pid'), 'utf8'));
  process.kill(pid, 'SIGKILL');
  const r = meadowrun(['run-function', 'ok.py:hello', '--args', '["x"]']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "'hello x'");
  assert.match(r.stderr, new RegExp(`${record.id} is unreachable \\(Cannot reach instance ${record.id} at 127\\.0\\.0\\.1:\\d+ after 3 attempts.*Retrying on another instance`));
  const dead = await cloud.table.getInstance(record.id);
  assert.ok(!dead || dead.preventFurtherAllocation, 'the dead instance takes no more jobs');
  assert.deepEqual((await leftovers()).jobs, []);
});

test('a host key that differs from the one recorded at launch is refused, and the job goes elsewhere', async () => {
  meadowrun(['local', 'down']);
  assert.equal(meadowrun(['local', 'up']).code, 0);
  const cloud = createLocalCloud({ stateDir });
  const [record] = await cloud.table.listInstances();
  // Swap the recorded key for another valid one, as if someone else answered on that port.
  const other = record.ssh!.hostKey.slice(0, -8) + (record.ssh!.hostKey.endsWith('AAAAAAAA') ? 'BBBBBBBB' : 'AAAAAAAA');
  const file = fs.readdirSync(path.join(stateDir, 'table')).find((f) => f.startsWith(`${record.id}~${record.etag}.`))!;
  fs.writeFileSync(path.join(stateDir, 'table', file), JSON.stringify({ ...record, ssh: { ...record.ssh, hostKey: other } }));
  const r = meadowrun(['run-function', 'ok.py:hello', '--args', '["x"]']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /host key is not the one recorded when it was launched.*Retrying on another instance/);
  const impostor = await cloud.table.getInstance(record.id);
  assert.ok(!impostor || impostor.preventFurtherAllocation, 'the instance with the wrong key takes no more jobs');
  assert.deepEqual((await leftovers()).jobs, []);
});
