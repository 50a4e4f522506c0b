// The engine on the real local cloud: sshd instances, the agent, PID files and the sweep.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Engine } from '../../src/jobs/engine';
import { agentProcesses } from '../support/instanceProcesses';
import { jobsOnAllInstances, testCloud, TestCloud, waitFor } from '../support/localCloud';

let t: TestCloud;

before(() => {
  t = testCloud({
    'calc.py': [
      'import asyncio, os, time',
      'async def later(a, b):',
      '    await asyncio.sleep(0.01)',
      '    return a * b',
      'async def later_boom():',
      '    await asyncio.sleep(0)',
      '    raise KeyError("async")',
      'def add(a, b):',
      '    return a + b',
      'def boom(x):',
      '    raise ValueError(f"bad value {x}")',
      'def sleepy(seconds):',
      '    print("sleeping", flush=True)',
      '    time.sleep(seconds)',
      '    return "woke"',
      'def pid():',
      '    return os.getpid()',
      'class Point:',
      '    def __init__(self, x): self.x = x',
      '    def __repr__(self): return f"Point({self.x})"',
      'def point():',
      '    return Point(3)',
      'def blob(n):',
      '    return bytes(range(256)) * (n // 256)',
      'def data_size():',
      '    return os.path.getsize("data.bin")',
    ].join('\n'),
    'script.py': 'import sys\nprint("args:", sys.argv[1:])\nprint("to stderr", file=sys.stderr)\nsys.exit(3)\n',
    'pkg/__init__.py': '',
    'pkg/mod.py': 'def twice(x):\n    return 2 * x\n',
  });
});

after(() => t.dispose());

test('a function runs on a launched instance, returns its value, and frees its allocation', async () => {
  const events: string[] = [];
  const r = await t.engine.runFunction('calc.py:add', '[2, 3]', { projectDir: t.project, onEvent: (e) => events.push(e.kind) });
  assert.equal(r.outcome.status, 'succeeded');
  assert.ok(r.outcome.status === 'succeeded' && r.outcome.value);
  assert.equal(r.outcome.value!.repr, '5');
  assert.equal(r.outcome.value!.json, '5');
  assert.ok(r.outcome.value!.pickle, 'a pickle of the value comes back too');
  assert.equal(r.launched, true);
  assert.ok(events.includes('launching') && events.includes('launched'), events.join(','));
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
  const running = await t.cloud.provider.listRunning();
  assert.deepEqual(running.map((x) => x.id), [r.instanceId]);
  assert.ok(fs.readFileSync(r.logPath!, 'utf8') === '', 'the job log exists');
});

test('a second job reuses the warm instance: no new launch', async () => {
  const r = await t.engine.runFunction('calc.py:add', '("a", "b")', { projectDir: t.project });
  assert.equal(r.launched, false);
  assert.equal(r.outcome.status === 'succeeded' && r.outcome.value!.repr, "'ab'");
  assert.equal((await t.cloud.provider.listRunning()).length, 1);
  const modular = await t.engine.runFunction('pkg.mod:twice', '[21]', { projectDir: t.project });
  assert.equal(modular.outcome.status === 'succeeded' && modular.outcome.value!.json, '42');
  const unjsonable = await t.engine.runFunction('calc.py:point', '[]', { projectDir: t.project });
  assert.equal(unjsonable.outcome.status === 'succeeded' && unjsonable.outcome.value!.repr, 'Point(3)');
  assert.equal(unjsonable.outcome.status === 'succeeded' && unjsonable.outcome.value!.json, undefined);
});

test('each job runs in its own process', async () => {
  const a = await t.engine.runFunction('calc.py:pid', '[]', { projectDir: t.project });
  const b = await t.engine.runFunction('calc.py:pid', '[]', { projectDir: t.project });
  assert.ok(a.outcome.status === 'succeeded' && b.outcome.status === 'succeeded');
  assert.notEqual(a.outcome.value!.repr, b.outcome.value!.repr);
});

test('a command streams its output, keeps its exit code, and logs to the job log', async () => {
  const out = { stdout: '', stderr: '' };
  const r = await t.engine.runCommand('script.py', ['x', 'y z'], { projectDir: t.project, onOutput: (s, d) => (out[s] += d) });
  assert.deepEqual(r.outcome, { status: 'exited', exitCode: 3 });
  assert.equal(out.stdout, "args: ['x', 'y z']\n");
  assert.equal(out.stderr, 'to stderr\n');
  const log = fs.readFileSync(r.logPath!, 'utf8');
  assert.match(log, /args: \['x', 'y z'\]/);
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});

/** PIDs of the resident agent daemons serving an instance. */
function agentDaemons(instanceId: string): number[] {
  return agentProcesses(instanceId, 'daemon');
}

test('one resident agent per instance outlives its clients: a new client finds it warm', async () => {
  const first = await t.engine.runFunction('calc.py:add', '[1, 2]', { projectDir: t.project });
  const daemons = agentDaemons(first.instanceId);
  assert.equal(daemons.length, 1, 'one resident agent for this instance');
  // A second engine is what a second CLI run is: its own connection, the same agent.
  const other = new Engine(t.cloud);
  try {
    const second = await other.runFunction('calc.py:add', '[3, 4]', { projectDir: t.project });
    assert.equal(second.outcome.status === 'succeeded' && second.outcome.value!.repr, '7');
    assert.equal(second.instanceId, first.instanceId);
  } finally {
    other.dispose();
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(agentDaemons(first.instanceId), daemons, 'the same agent served both, and stays');
});

test('a dead agent is replaced: the next job reconnects and runs', async () => {
  const first = await t.engine.runFunction('calc.py:add', '[1, 2]', { projectDir: t.project });
  const [agent] = agentDaemons(first.instanceId);
  process.kill(agent, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 200));
  const second = await t.engine.runFunction('calc.py:add', '[2, 2]', { projectDir: t.project });
  assert.equal(second.outcome.status === 'succeeded' && second.outcome.value!.repr, '4');
  assert.equal(second.instanceId, first.instanceId);
  const replaced = agentDaemons(first.instanceId);
  assert.equal(replaced.length, 1);
  assert.notEqual(replaced[0], agent);
});

test('an async def function is run to completion with asyncio.run, its traceback starting in user code', async () => {
  const r = await t.engine.runFunction('calc.py:later', '[6, 7]', { projectDir: t.project });
  assert.equal(r.outcome.status === 'succeeded' && r.outcome.value!.repr, '42', JSON.stringify(r.outcome));
  const failed = await t.engine.runFunction('calc.py:later_boom', '[]', { projectDir: t.project });
  assert.ok(failed.outcome.status === 'failed', JSON.stringify(failed.outcome));
  assert.equal(failed.outcome.error.type, 'KeyError');
  const frames = failed.outcome.error.traceback.split('\n').filter((l) => l.trimStart().startsWith('File '));
  assert.match(frames[0], /calc\.py", line \d+, in later_boom/, 'neither the agent\'s nor asyncio\'s frames come first');
});

test('a remote exception comes back with its traceback and the allocation is freed', async () => {
  const r = await t.engine.runFunction('calc.py:boom', '[7]', { projectDir: t.project });
  assert.equal(r.outcome.status, 'failed');
  assert.ok(r.outcome.status === 'failed');
  assert.equal(r.outcome.error.type, 'ValueError');
  assert.equal(r.outcome.error.message, 'bad value 7');
  assert.match(r.outcome.error.traceback, /calc\.py", line 11, in boom/);
  assert.doesNotMatch(r.outcome.error.traceback, /forkserver/, 'the agent\'s own frames are not shown');
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});

test('code sync sends only changed files, honours .gitignore and removes deleted files', async () => {
  fs.writeFileSync(path.join(t.project, '.gitignore'), 'secret.txt\nbuild/\n');
  fs.writeFileSync(path.join(t.project, 'secret.txt'), 'do not send');
  fs.mkdirSync(path.join(t.project, 'build'), { recursive: true });
  fs.writeFileSync(path.join(t.project, 'build', 'big.bin'), 'x'.repeat(1000));
  fs.writeFileSync(path.join(t.project, 'extra.py'), 'VALUE = 1\ndef value():\n    return VALUE\n');
  const synced: { sent: number }[] = [];
  const first = await t.engine.runFunction('extra.py:value', '[]', { projectDir: t.project, onEvent: (e) => e.kind === 'synced' && synced.push(e) });
  assert.equal(first.outcome.status === 'succeeded' && first.outcome.value!.repr, '1');
  assert.equal(synced[0].sent, 2, 'only extra.py and .gitignore are new');
  const record = (await t.cloud.table.getInstance(first.instanceId))!;
  const projects = path.join(record.workDir!, 'projects');
  const remote = path.join(projects, fs.readdirSync(projects).find((d) => !d.startsWith('.'))!);
  assert.equal(fs.existsSync(path.join(remote, 'secret.txt')), false);
  assert.equal(fs.existsSync(path.join(remote, 'build')), false);

  fs.writeFileSync(path.join(t.project, 'extra.py'), 'VALUE = 2\ndef value():\n    return VALUE\n');
  synced.length = 0;
  const second = await t.engine.runFunction('extra.py:value', '[]', { projectDir: t.project, onEvent: (e) => e.kind === 'synced' && synced.push(e) });
  assert.equal(second.outcome.status === 'succeeded' && second.outcome.value!.repr, '2');
  assert.equal(synced[0].sent, 1);

  fs.rmSync(path.join(t.project, 'extra.py'));
  await t.engine.runFunction('calc.py:add', '[1, 1]', { projectDir: t.project });
  assert.equal(fs.existsSync(path.join(remote, 'extra.py')), false, 'a deleted file is deleted on the instance');
});

test('cancelling a running job stops its process and frees its allocation', async () => {
  const controller = new AbortController();
  let pid = 0;
  const run = t.engine.runFunction('calc.py:sleepy', '[60]', {
    projectDir: t.project,
    signal: controller.signal,
    onEvent: (e) => {
      if (e.kind === 'started') pid = e.pid;
    },
    onOutput: () => controller.abort(),
  });
  const r = await run;
  assert.equal(r.outcome.status, 'cancelled');
  assert.ok(pid > 0);
  assert.throws(() => process.kill(pid, 0), 'the job process is gone');
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});

test('kill -9 of a job process: reported as crashed, and the sweep frees its allocation', async () => {
  let pid = 0;
  const run = t.engine.runFunction('calc.py:sleepy', '[60]', {
    projectDir: t.project,
    onEvent: (e) => {
      if (e.kind === 'started') pid = e.pid;
    },
    onOutput: () => process.kill(pid, 'SIGKILL'),
  });
  const r = await run;
  assert.equal(r.outcome.status, 'crashed');
  assert.ok(r.outcome.status === 'crashed' && /SIGKILL/.test(r.outcome.message), JSON.stringify(r.outcome));
  // The agent leaves a crashed job to the sweep, which runs every second in these tests.
  await waitFor('the sweep to free the crashed job', async () => (await jobsOnAllInstances(t.cloud)).length === 0);
});

test('a job allocated but never started is freed by the sweep after the grace period', async () => {
  const [record] = await t.cloud.table.listInstances();
  assert.ok(await t.cloud.table.allocateJobs(record.id, record.etag, [{ jobId: 'ghost', cpu: 0.5, memoryGb: 0.5, gpus: 0, allocatedAt: Date.now() }]));
  assert.deepEqual(await jobsOnAllInstances(t.cloud), ['ghost']);
  await waitFor('the sweep to free the job with no PID file', async () => (await jobsOnAllInstances(t.cloud)).length === 0, 20_000);
});

test('large payloads travel over SFTP: a 3 MB result and a 2 MB project file', async () => {
  const resultDir = path.join(t.project, '..', `${path.basename(t.project)}-results`);
  const big = await t.engine.runFunction('calc.py:blob', '[3_000_000]', { projectDir: t.project, resultDir });
  assert.equal(big.outcome.status, 'succeeded');
  assert.ok(big.outcome.status === 'succeeded');
  assert.equal(big.outcome.value!.pickle, undefined, 'not inline');
  const local = big.outcome.value!.pickleFile!;
  assert.equal(path.dirname(local), resultDir);
  assert.equal(fs.statSync(local).size, big.outcome.value!.pickleBytes);
  const check = execFileSync('python3', ['-c', 'import pickle,sys; v = pickle.load(open(sys.argv[1], "rb")); print(len(v), v[:3])', local]).toString();
  assert.equal(check.trim(), "2999808 b'\\x00\\x01\\x02'");
  fs.rmSync(resultDir, { recursive: true });
  const record = (await t.cloud.table.getInstance(big.instanceId))!;
  assert.deepEqual(fs.readdirSync(path.join(record.workDir!, 'results')), [], 'the fetched result file is removed');

  // Random bytes, so that gzip can't shrink them under the inline limit.
  fs.writeFileSync(path.join(t.project, 'data.bin'), crypto.randomBytes(2_000_000));
  const synced: { bytes: number }[] = [];
  const size = await t.engine.runFunction('calc.py:data_size', '[]', { projectDir: t.project, onEvent: (e) => e.kind === 'synced' && synced.push(e) });
  assert.equal(size.outcome.status === 'succeeded' && size.outcome.value!.repr, '2000000');
  assert.ok(synced[0].bytes > 1 << 20, 'the upload was above the inline limit');
  fs.rmSync(path.join(t.project, 'data.bin'));
});
