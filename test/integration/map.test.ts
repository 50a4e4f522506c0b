// Map jobs on the real local cloud: order, retries with tracebacks, workers and instances dying
// mid-run, and cancellation — every task returns exactly once and nothing is left behind.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, afterEach, before, test } from 'node:test';
import { MapEvent } from '../../src/core/mapProgress';
import { jobsOnAllInstances, testCloud, TestCloud, waitFor } from '../support/localCloud';

let t: TestCloud;
const slice = { cpu: 0.5, memoryGb: 0.5 };

before(() => {
  t = testCloud({
    'tasks.py': [
      'import asyncio, time',
      'async def later_double(x):',
      '    await asyncio.sleep(0)',
      '    return 2 * x',
      'def double(x):',
      '    return 2 * x',
      'def flaky(x):',
      '    if x == 3:',
      '        raise ValueError(f"task {x} always fails")',
      '    return x',
      'def slow(x):',
      '    time.sleep(0.02)',
      '    return x',
      'def grow(x):',
      '    return x * 3',
    ].join('\n'),
  });
});
afterEach(async () => {
  assert.deepEqual(await jobsOnAllInstances(t.cloud), [], 'nothing is left allocated');
  assert.deepEqual(await t.cloud.queues.listPairs(), [], 'no queue is left');
});
after(() => t.dispose());

/** Records the pid of every worker's Python process, from the map's own events. */
function pidsOf(events: MapEvent[]): number[] {
  return [...new Set(events.flatMap((e) => (e.kind === 'worker' && e.worker.pid ? [e.worker.pid] : [])))];
}

/** Each worker's last reported state, "w0:idle-exited". */
function finalStates(events: MapEvent[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of events) if (e.kind === 'worker') out[e.worker.workerId.replace(/.*-/, '')] = e.worker.state;
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('10,000 tasks on 4 workers all return, in order', async () => {
  const events: MapEvent[] = [];
  const r = await t.engine.runMap('tasks.py:double', { kind: 'expression', expr: 'range(10_000)' }, {
    projectDir: t.project, workers: 4, resources: slice, onMapEvent: (e) => events.push(e),
  });
  assert.equal(r.status, 'succeeded');
  assert.equal(r.results.length, 10_000);
  r.results.forEach((x, i) => assert.ok(x.ok && x.value.json === String(2 * i), `task ${i}: ${JSON.stringify(x)}`));
  const workers = new Set(events.flatMap((e) => (e.kind === 'worker' ? [e.worker.workerId] : [])));
  assert.equal(workers.size, 4);
  assert.ok(events.filter((e) => e.kind === 'tasks').length < 1_000, 'task updates are batched');
  // Workers on the instance launched second may find the queue drained before they start: those
  // are stopped without running; every one that ran exits because nothing is left, none crashes.
  const pids = pidsOf(events);
  assert.ok(pids.length >= 2 && pids.length <= 4, `${pids.length} workers ran`);
  assert.deepEqual(pids.filter(alive), [], 'the workers have exited');
  const states = Object.values(finalStates(events));
  assert.equal(states.filter((s) => s === 'idle-exited').length, pids.length, `states: ${states}`);
  assert.equal(states.filter((s) => s === 'stopped').length, 4 - pids.length, `states: ${states}`);
});

test('arguments and results over a queue message\'s limit go through the payload store, which the map leaves empty', async () => {
  // Strings, so JSON: 300 KB of arguments and 900 KB of results, each over SQS's 256 KiB.
  const big = 'a'.repeat(300_000);
  const r = await t.engine.runMap('tasks.py:grow', { kind: 'values', values: ['x', big, 'y'] }, { projectDir: t.project, workers: 2, resources: slice });
  assert.equal(r.status, 'succeeded');
  assert.deepEqual(r.results.map((x) => x.ok && JSON.parse(x.value.json!).length), [3, 900_000, 3]);
  assert.ok(r.results[1].ok && JSON.parse(r.results[1].value.json!) === big.repeat(3));
  assert.deepEqual(fs.readdirSync(t.cloud.payloads.dir), [], "the map's payloads went with its queues");
});

test('an async def function is awaited for each task', async () => {
  const r = await t.engine.runMap('tasks.py:later_double', { kind: 'values', values: [1, 2, 3] }, { projectDir: t.project, workers: 1, resources: slice });
  assert.equal(r.status, 'succeeded');
  assert.deepEqual(r.results.map((x) => x.ok && x.value.json), ['2', '4', '6']);
});

test('a task that raises is reported with its traceback after max attempts; the others succeed', async () => {
  const failures: MapEvent[] = [];
  const r = await t.engine.runMap('tasks.py:flaky', { kind: 'values', values: [0, 1, 2, 3, 4, 5] }, {
    projectDir: t.project, workers: 2, resources: slice, maxAttempts: 2, onMapEvent: (e) => e.kind === 'failure' && failures.push(e),
  });
  assert.equal(r.status, 'failed');
  assert.equal(r.failed, 1);
  const failed = r.results[3];
  assert.ok(!failed.ok);
  assert.equal(failed.attempts, 2);
  assert.equal(failed.error.type, 'ValueError');
  assert.match(failed.error.traceback, /tasks\.py", line 9, in flaky/);
  assert.deepEqual(r.results.filter((x) => x.ok).map((x) => x.ok && x.value.json), ['0', '1', '2', '4', '5']);
  assert.deepEqual(failures.map((f) => f.kind === 'failure' && [f.task, f.attempt, f.final]), [[3, 1, false], [3, 2, true]]);
});

test('kill -9 of a worker mid-run: its tasks come back, a replacement starts, every task returns once', async () => {
  let killed = 0;
  const workersSeen = new Set<string>();
  const events: MapEvent[] = [];
  const r = await t.engine.runMap('tasks.py:slow', { kind: 'expression', expr: 'range(300)' }, {
    projectDir: t.project, workers: 2, resources: slice, visibilityS: 2,
    onMapEvent: (e) => {
      events.push(e);
      if (e.kind === 'worker') workersSeen.add(e.worker.workerId);
      if (e.kind === 'tasks' && !killed && e.updates.some((u) => u.state === 'done')) {
        killed = pidsOf(events)[0];
        process.kill(killed, 'SIGKILL');
      }
    },
  });
  assert.ok(killed > 0);
  assert.equal(r.status, 'succeeded');
  r.results.forEach((x, i) => assert.ok(x.ok && x.value.json === String(i), `task ${i}`));
  const states = events.flatMap((e) => (e.kind === 'worker' ? [`${e.worker.workerId.slice(-2)}:${e.worker.state}`] : []));
  assert.equal(workersSeen.size, 3, `one replacement worker was started: ${[...new Set(states)].join(' ')}`);
  const victim = events.find((e) => e.kind === 'worker' && e.worker.pid === killed);
  assert.ok(victim?.kind === 'worker');
  const last = events.filter((e) => e.kind === 'worker' && e.worker.workerId === victim.worker.workerId).pop();
  assert.ok(last?.kind === 'worker' && last.worker.state === 'crashed', `the killed worker crashed: ${JSON.stringify(last)}`);
  assert.match(last.worker.message ?? '', /SIGKILL|gone|died|lost/i, 'and says why');
  assert.deepEqual(Object.values(finalStates(events)).sort(), ['crashed', 'idle-exited', 'idle-exited']);
});

test('a whole instance stopped mid-run: its workers are replaced elsewhere and every task returns', async () => {
  let stopped = '';
  const r = await t.engine.runMap('tasks.py:slow', { kind: 'expression', expr: 'range(300)' }, {
    projectDir: t.project, workers: 2, resources: { cpu: 2, memoryGb: 4 }, visibilityS: 2,
    onMapEvent: (e) => {
      if (e.kind === 'worker' && e.worker.state === 'running' && e.worker.tasksDone > 0 && !stopped) {
        stopped = e.worker.instanceId;
        void t.cloud.provider.terminate(stopped);
      }
    },
  });
  assert.ok(stopped);
  assert.equal(r.status, 'succeeded');
  r.results.forEach((x, i) => assert.ok(x.ok && x.value.json === String(i), `task ${i}`));
  const record = await t.cloud.table.getInstance(stopped);
  assert.ok(!record || record.preventFurtherAllocation, 'the lost instance takes no new work');
  // The dead instance stays registered until the management functions reconcile it.
  if (record) await t.cloud.table.deregisterInstance(stopped);
});

test('cancel mid-run: no worker process, allocation or queue is left', async () => {
  const controller = new AbortController();
  const events: MapEvent[] = [];
  const r = await t.engine.runMap('tasks.py:slow', { kind: 'expression', expr: 'range(2000)' }, {
    projectDir: t.project, workers: 2, resources: slice, signal: controller.signal,
    onMapEvent: (e) => {
      events.push(e);
      if (e.kind === 'tasks' && e.updates.some((u) => u.state === 'done')) controller.abort();
    },
  });
  assert.equal(r.status, 'cancelled');
  assert.equal(pidsOf(events).length, 2);
  assert.deepEqual(Object.values(finalStates(events)), ['stopped', 'stopped'], 'cancelled workers were stopped, not crashed');
  const finished = events.find((e) => e.kind === 'finished');
  assert.equal(finished?.kind === 'finished' && finished.status, 'cancelled');
  await waitFor('worker processes to go', () => pidsOf(events).filter(alive).length === 0, 10_000);
});

test('arguments that do not evaluate: one clear error, and nothing allocated, launched or queued is left', async () => {
  for (const r of await t.cloud.provider.listRunning()) {
    await t.cloud.table.deregisterInstance(r.id);
    await t.cloud.provider.terminate(r.id);
  }
  await assert.rejects(
    t.engine.runMap('tasks.py:double', { kind: 'expression', expr: 'range(' }, { projectDir: t.project, workers: 2, resources: slice }),
    /The arguments expression has a syntax error/,
  );
  assert.deepEqual(await t.cloud.provider.listRunning(), [], 'the instance launched for it is gone');
  await assert.rejects(
    t.engine.runMap('tasks.py:nope', { kind: 'values', values: [1] }, { projectDir: t.project, workers: 1, resources: slice }),
    /tasks\.py has no function nope/,
  );
});
