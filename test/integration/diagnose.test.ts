// Diagnosing failures from the engine on the real local cloud: each error names its stage and
// instance, a raised function's log holds its traceback, logs can be followed a piece at a time,
// and a job started elsewhere can be stopped.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { MeadowrunError } from '../../src/core/errors';
import { deepestFrameUnder, localizePaths, parseTraceback } from '../../src/core/tracebacks';
import { Engine, JobEvent } from '../../src/jobs/engine';
import { remoteProjectName } from '../../src/jobs/projectFiles';
import { jobLogPath, remoteProjectDir } from '../../src/jobs/remotePaths';
import { jobsOnAllInstances, makeProject, testCloud, TestCloud, waitFor } from '../support/localCloud';
import { tempDir } from '../support/tempDir';

let t: TestCloud;
const SOURCE = ['import time', 'def mean(values):', '    return sum(values) / len(values)', 'def slow():', '    for i in range(600):', '        print("tick", i, flush=True)', '        time.sleep(0.1)'].join('\n');

before(() => {
  t = testCloud({ 'stats.py': SOURCE });
});

after(() => t.dispose());

test('a raised function: its log holds the traceback, whose instance paths map to the project files', async () => {
  const events: JobEvent[] = [];
  const r = await t.engine.runFunction('stats.py:mean', '[[]]', { projectDir: t.project, onEvent: (e) => events.push(e) });
  assert.ok(r.outcome.status === 'failed');
  const log = fs.readFileSync(r.logPath!, 'utf8');
  assert.match(log, /ZeroDivisionError: division by zero/, 'the job log is not empty');
  assert.match(log, /stats\.py", line 3, in mean/);

  const started = events.find((e) => e.kind === 'started');
  assert.ok(started?.kind === 'started');
  const record = (await t.cloud.table.getInstance(r.instanceId))!;
  assert.equal(started.projectDir, remoteProjectDir(record.workDir!, remoteProjectName(t.project)));
  assert.ok(r.outcome.error.traceback.includes(`${started.projectDir}/stats.py`), 'the traceback names the file on the instance');
  const local = localizePaths(r.outcome.error.traceback, started.projectDir, t.project);
  const frame = deepestFrameUnder(parseTraceback(local)!, t.project);
  assert.deepEqual(frame, { file: path.join(t.project, 'stats.py'), line: 3, function: 'mean' });
  const allocated = events.find((e) => e.kind === 'allocated');
  assert.ok(allocated?.kind === 'allocated' && allocated.jobId === r.jobId, 'the job id is known once allocated');
  assert.equal(jobLogPath(record.workDir!, r.jobId), r.logPath);
});

/** Runs `slow` from one client; another reads its log as it grows and stops it. */
async function followAndStopFromAnotherClient(t: TestCloud): Promise<void> {
  let jobId = '';
  let logPath = '';
  let instanceId = '';
  const running = t.engine.runFunction('stats.py:slow', '[]', {
    projectDir: t.project,
    onEvent: (e) => {
      if (e.kind === 'allocated') [jobId, instanceId] = [e.jobId, e.instanceId];
      if (e.kind === 'started') logPath = e.logPath;
    },
  });
  // Another client (a second window, the CLI) sees the job only in the table.
  const other = new Engine(t.cloud);
  try {
    let first: Buffer = Buffer.alloc(0);
    await waitFor('some output in the log', async () => !!logPath && (first = await other.readJobLog(instanceId, logPath)).length > 0);
    assert.match(first.toString(), /^tick 0\n/);
    let rest: Buffer = Buffer.alloc(0);
    await waitFor('more output', async () => (rest = await other.readJobLog(instanceId, logPath, first.length)).length > 0);
    assert.ok(!rest.toString().startsWith('tick 0\n'), 'only what came after');
    assert.equal(Buffer.concat([first, rest]).toString(), fs.readFileSync(logPath, 'utf8').slice(0, first.length + rest.length));
    assert.equal(await other.stopJob(instanceId, jobId), true, 'it stopped');
  } finally {
    other.dispose();
  }
  const r = await running;
  assert.equal(r.outcome.status, 'cancelled');
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
}

test('a running log is read a piece at a time, and a job started elsewhere can be stopped', () => followAndStopFromAnotherClient(t));

test('the same when each client has its own agent (no resident one to ask)', async () => {
  const deep = path.join(tempDir('state'), 'a-state-directory-nested-deep-enough'.repeat(2));
  const private_ = testCloud({ 'stats.py': SOURCE }, { stateDir: deep });
  try {
    await followAndStopFromAnotherClient(private_);
  } finally {
    await private_.dispose();
  }
});

test('failures name their stage, and the instance when there is one', async () => {
  const check = await t.engine.runFunction('stats.py:nope', '[]', { projectDir: t.project }).catch((e) => e);
  assert.ok(check instanceof MeadowrunError);
  assert.equal(check.stage, 'check');
  assert.equal(check.instanceId, undefined);

  const noFit = await t.engine.runFunction('stats.py:mean', '[[1]]', { projectDir: t.project, resources: { cpu: 512 } }).catch((e) => e);
  assert.equal(noFit.code, 'no-fit');
  assert.equal(noFit.stage, 'allocate');

  // The instance cannot unpack a new project: its folder is taken by a file.
  const project = makeProject({ 'x.py': 'def f():\n    return 1\n' });
  const [record] = await t.cloud.table.listInstances();
  const taken = remoteProjectDir(record.workDir!, remoteProjectName(project));
  fs.mkdirSync(path.dirname(taken), { recursive: true });
  fs.writeFileSync(taken, 'not a folder');
  try {
    const sync = await t.engine.runFunction('x.py:f', '[]', { projectDir: project }).catch((e) => e);
    assert.ok(sync instanceof MeadowrunError, String(sync));
    assert.equal(sync.stage, 'sync');
    assert.equal(sync.instanceId, record.id);
    assert.deepEqual(await jobsOnAllInstances(t.cloud), [], 'the allocation is freed');
  } finally {
    fs.rmSync(taken, { force: true });
    fs.rmSync(project, { recursive: true, force: true });
  }
});

test('the CLI says what failed at which stage in one line, and prints the stack only with --verbose', () => {
  const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [cli, '--state-dir', t.cloud.stateDir, ...args], { cwd: t.project, encoding: 'utf8', timeout: 60_000 });
  const plain = run('run-function', 'stats.py:mean', '--args', '[[1]]', '--cpu', '512');
  assert.equal(plain.status, 1);
  assert.match(plain.stderr, /^meadowrun: allocate failed: No instance type offers 512 CPU/m);
  assert.doesNotMatch(plain.stderr, /\n\s+at /, 'no stack trace');
  const verbose = run('--verbose', 'run-function', 'stats.py:mean', '--args', '[[1]]', '--cpu', '512');
  assert.match(verbose.stderr, /^meadowrun: allocate failed: No instance type offers 512 CPU/m);
  assert.match(verbose.stderr, /\n\s+at /, 'a stack trace');
});
