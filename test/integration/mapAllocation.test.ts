// Allocation around map jobs and dead instances (issue 8, items 5 and 6 and the map should-fixes):
// slow arguments are never swept from under workers, a map never holds more workers than tasks,
// a syntax error launches nothing, and an instance that cannot be reached is fenced and avoided.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { MapEvent } from '../../src/core/mapProgress';
import { chooseInstanceTypes } from '../../src/core/chooseInstanceTypes';
import { DEFAULT_RESOURCES } from '../../src/core/resources';
import { launchAndRegister } from '../../src/jobs/allocate';
import { Engine, JobEvent } from '../../src/jobs/engine';
import { jobsOnAllInstances, testCloud, TestCloud } from '../support/localCloud';

let t: TestCloud;
const slice = { cpu: 0.5, memoryGb: 0.5 };

before(() => {
  // A short grace period: an allocation without a live process is freed within ~3 s.
  t = testCloud({ 'tasks.py': 'def double(x):\n    return 2 * x\n' }, { sweepIntervalS: 1, sweepGraceS: 2 });
});
after(() => t.dispose());

function watchLogs(): string {
  const instances = path.join(t.cloud.stateDir, 'instances');
  return fs
    .readdirSync(instances)
    .map((id) => path.join(instances, id, 'watch.log'))
    .filter((f) => fs.existsSync(f))
    .map((f) => fs.readFileSync(f, 'utf8'))
    .join('');
}

test('jobs registered with a launched instance have their grace period start at registration, not before the launch', async () => {
  const [option] = chooseInstanceTypes(await t.cloud.provider.listInstanceTypes(), { ...DEFAULT_RESOURCES, ...slice }, 1);
  const began = Date.now();
  const record = await launchAndRegister(t.cloud, option.option, [{ jobId: 'held', cpu: 0.5, memoryGb: 0.5, gpus: 0, allocatedAt: began - 60_000 }]);
  assert.ok(record.jobs.held.allocatedAt >= began, 'a slow launch must not eat the grace period');
  await t.cloud.table.deallocateJob(record.id, 'held');
});

test('arguments that take longer than the sweep grace to evaluate: no worker allocation is swept, and the map completes', async () => {
  // A warm connection, so that the only wait between allocation and process is the evaluation.
  await t.engine.runFunction('tasks.py:double', '[0]', { projectDir: t.project, resources: slice });
  const events: MapEvent[] = [];
  const seen = new Set<string>();
  let running = true;
  const watch = (async () => {
    while (running) {
      for (const id of await jobsOnAllInstances(t.cloud)) seen.add(id);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const r = await t.engine.runMap('tasks.py:double', { kind: 'expression', expr: "(__import__('time').sleep(5), range(6))[1]" }, {
    projectDir: t.project, workers: 2, resources: slice, onMapEvent: (e) => events.push(e),
  });
  running = false;
  await watch;
  assert.equal(r.status, 'succeeded');
  assert.deepEqual(r.results.map((x) => x.ok && x.value.json), ['0', '2', '4', '6', '8', '10']);
  assert.doesNotMatch(watchLogs(), new RegExp(`freed .*${r.jobId}`), `the sweep freed none of the map’s allocations: ${watchLogs()}`);
  assert.ok([...seen].some((id) => id.endsWith('-args')), 'the evaluation held an allocation of its own');
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});

test('a map never starts more workers than it has tasks', async () => {
  const events: MapEvent[] = [];
  const r = await t.engine.runMap('tasks.py:double', { kind: 'expression', expr: 'range(2)' }, {
    projectDir: t.project, workers: 5, resources: slice, onMapEvent: (e) => events.push(e),
  });
  assert.equal(r.status, 'succeeded');
  const workers = new Set(events.flatMap((e) => (e.kind === 'worker' ? [e.worker.workerId] : [])));
  assert.equal(workers.size, 2);
  const fromValues: MapEvent[] = [];
  await t.engine.runMap('tasks.py:double', { kind: 'values', values: [7] }, {
    projectDir: t.project, workers: 3, resources: slice, onMapEvent: (e) => fromValues.push(e),
  });
  assert.equal(new Set(fromValues.flatMap((e) => (e.kind === 'worker' ? [e.worker.workerId] : []))).size, 1);
});

test('a syntax error in the map arguments is caught before anything is allocated or launched', async () => {
  const events: JobEvent[] = [];
  const before = (await t.cloud.table.listInstances()).map((r) => r.id);
  await assert.rejects(
    t.engine.runMap('tasks.py:double', { kind: 'expression', expr: 'range(' }, {
      projectDir: t.project, workers: 2, resources: { cpu: 64, memoryGb: 1 }, onEvent: (e) => events.push(e),
    }),
    /The arguments expression has a syntax error/,
  );
  assert.deepEqual(events, [], 'nothing was allocated or launched');
  assert.deepEqual((await t.cloud.table.listInstances()).map((r) => r.id), before);
  assert.deepEqual(await t.cloud.queues.listPairs(), []);
});

test('an instance whose sshd died is fenced and avoided: the job moves to a new instance, once, with the reason shown', async () => {
  for (const r of await t.cloud.table.listInstances()) {
    await t.cloud.table.deregisterInstance(r.id);
    await t.cloud.provider.terminate(r.id);
  }
  // Each job from its own client, as separate CLI runs would be: no kept-open connection.
  const first = new Engine(t.cloud);
  const a = await first.runFunction('tasks.py:double', '[1]', { projectDir: t.project });
  first.dispose();
  const dead = (await t.cloud.table.getInstance(a.instanceId))!;
  process.kill(Number(fs.readFileSync(path.join(path.dirname(dead.workDir!), 'sshd.pid'), 'utf8')), 'SIGKILL');

  const events: JobEvent[] = [];
  const second = new Engine(t.cloud);
  const b = await second.runFunction('tasks.py:double', '[2]', { projectDir: t.project, onEvent: (e) => events.push(e) });
  second.dispose();
  assert.equal(b.outcome.status, 'succeeded');
  assert.notEqual(b.instanceId, dead.id);
  const retry = events.find((e) => e.kind === 'retrying');
  assert.ok(retry && retry.kind === 'retrying' && retry.instanceId === dead.id && /Cannot reach instance/.test(retry.reason), JSON.stringify(events));
  const record = await t.cloud.table.getInstance(dead.id);
  assert.ok(!record || record.preventFurtherAllocation, 'the dead instance takes no more jobs');

  const third = new Engine(t.cloud);
  const thirdEvents: JobEvent[] = [];
  const c = await third.runFunction('tasks.py:double', '[3]', { projectDir: t.project, onEvent: (e) => thirdEvents.push(e) });
  third.dispose();
  assert.equal(c.instanceId, b.instanceId);
  assert.ok(!thirdEvents.some((e) => e.kind === 'retrying'), 'the third job does not try the dead instance');
});

test('cancelled while its workers connect to new instances: the map stops instead of waiting forever', { timeout: 60_000 }, async () => {
  for (const r of await t.cloud.table.listInstances()) {
    await t.cloud.table.deregisterInstance(r.id);
    await t.cloud.provider.terminate(r.id);
  }
  const controller = new AbortController();
  let launched = 0;
  const r = await t.engine.runMap('tasks.py:double', { kind: 'values', values: [1, 2, 3] }, {
    projectDir: t.project, workers: 2, resources: { cpu: 1, memoryGb: 1 }, signal: controller.signal,
    // Cancel as soon as the workers' instance is up, before either worker has connected to it.
    onEvent: (e) => e.kind === 'launched' && ++launched && controller.abort(),
  });
  assert.equal(launched, 1);
  assert.equal(r.status, 'cancelled');
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
  assert.deepEqual(await t.cloud.provider.listRunning(), [], 'the instances launched for it are gone');
});
