// The fold of a map's events into what the panel and the CLI show: counters, worker states and the
// one-line summary, at the end of a map that succeeded, completed with failures, was cancelled, or
// failed before it started.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyMapState, mapSummary, MapEvent, MapState, reduceMap, resultFigures, summarizeMap, TASK_STATES } from '../../src/core/mapProgress';

const fold = (events: MapEvent[]): MapState => events.reduce((s, e) => reduceMap(s, e), emptyMapState());
const worker = (n: number, state: 'starting' | 'running' | 'idle-exited', tasksDone = 0): MapEvent => ({
  kind: 'worker', at: 2, worker: { workerId: `w${n}`, instanceId: 'local-1', state, tasksDone, currentTask: state === 'running' ? n : undefined },
});

/** 40 tasks on 8 workers: 24 done, 8 running, 8 queued. */
function midRun(): MapEvent[] {
  const events: MapEvent[] = [{ kind: 'started', jobId: 'map-1', title: 't', taskCount: 40, workers: 8, at: 1000 }];
  for (let w = 0; w < 8; w++) events.push(worker(w, 'running'));
  events.push({ kind: 'tasks', at: 1500, updates: Array.from({ length: 32 }, (_, task) => ({ task, state: 'running' as const, attempt: 1 })) });
  events.push({ kind: 'tasks', at: 2500, updates: Array.from({ length: 24 }, (_, task) => ({ task, state: 'done' as const, attempt: 1 })) });
  return events;
}

test('after Cancel nothing is running: tasks in flight count as queued again, live workers as stopped', () => {
  const before = fold(midRun());
  assert.deepEqual(before.counts, { queued: 8, running: 8, done: 24, failed: 0, retried: 0 });
  const s = reduceMap(before, { kind: 'finished', at: 3000, status: 'cancelled' });
  assert.deepEqual(s.counts, { queued: 16, running: 0, done: 24, failed: 0, retried: 0 });
  assert.equal(s.tasks.filter((t) => TASK_STATES[t] === 'running').length, 0, 'no cell stays blue');
  assert.equal(s.tasks.filter((t) => TASK_STATES[t] === 'queued').length, 16);
  assert.deepEqual(new Set(Object.values(s.workers).map((w) => w.state)), new Set(['stopped']));
  assert.ok(Object.values(s.workers).every((w) => w.currentTask === undefined));
  assert.deepEqual(mapSummary(s), { outcome: 'cancelled', label: 'Cancelled', detail: 'after 24 of 40 tasks', text: 'Cancelled after 24 of 40 tasks' });
});

test('a worker that exited or crashed keeps its state when the map ends', () => {
  const events = midRun();
  events.push(worker(0, 'idle-exited', 3), { kind: 'worker', at: 2, worker: { workerId: 'w1', instanceId: 'local-1', state: 'crashed', message: 'killed by SIGKILL', tasksDone: 1 } });
  events.push({ kind: 'finished', at: 3000, status: 'cancelled' });
  const s = fold(events);
  assert.equal(s.workers.w0.state, 'idle-exited');
  assert.equal(s.workers.w1.state, 'crashed');
  assert.equal(s.workers.w1.message, 'killed by SIGKILL');
  assert.equal(s.workers.w2.state, 'stopped');
});

test('499 of 500 succeeded: completed, one task failed — not a failed map', () => {
  const events: MapEvent[] = [{ kind: 'started', jobId: 'map-2', title: 't', taskCount: 500, workers: 4, at: 0 }];
  events.push({ kind: 'tasks', at: 10, updates: Array.from({ length: 500 }, (_, task) => ({ task, state: task === 7 ? ('failed' as const) : ('done' as const), attempt: 1 })) });
  events.push({ kind: 'finished', at: 20, status: 'failed', message: '1 task failed' });
  const s = fold(events);
  assert.deepEqual(mapSummary(s), { outcome: 'completed', label: 'Completed', detail: '1 task failed', text: 'Completed — 1 task failed' });
  const figures = resultFigures({ status: 'failed', results: Array.from({ length: 500 }, (_, i) => ({ ok: i !== 7 })), failed: 1 });
  assert.equal(summarizeMap(figures).text, 'Completed — 1 task failed');
});

test('a map that failed before it started, or mid-run, is a failed map with its reason', () => {
  const early = fold([{ kind: 'finished', at: 5, status: 'failed', message: 'The arguments expression has a syntax error' }]);
  assert.equal(early.taskCount, 0);
  assert.deepEqual(mapSummary(early), { outcome: 'failed', label: 'Failed', detail: 'The arguments expression has a syntax error', text: 'Failed: The arguments expression has a syntax error' });
  const mid = fold([...midRun(), { kind: 'finished', at: 3000, status: 'failed', message: 'Map workers kept dying' }]);
  assert.equal(mapSummary(mid).outcome, 'failed');
  assert.equal(mid.counts.running, 0);
});

test('summaries of a success, and of a cancel before the start or of a cancelled map with holes in its results', () => {
  assert.equal(summarizeMap({ status: 'succeeded', taskCount: 1, done: 1, failed: 0 }).text, 'Succeeded — 1 task');
  assert.equal(summarizeMap({ status: 'succeeded', taskCount: 10_000, done: 10_000, failed: 0 }).text, 'Succeeded — 10,000 tasks');
  assert.equal(summarizeMap({ status: 'cancelled', taskCount: 0, done: 0, failed: 0 }).text, 'Cancelled before it started');
  const results: ({ ok: boolean } | undefined)[] = new Array(40);
  for (let i = 0; i < 24; i++) results[i] = { ok: true };
  assert.equal(summarizeMap(resultFigures({ status: 'cancelled', results, failed: 0 })).text, 'Cancelled after 24 of 40 tasks');
});
