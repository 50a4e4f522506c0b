// The idle watchdog: its decision (pure), and the instance's watch carrying it out against a table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentConfig, InstanceSide } from '../../src/cloud/ports';
import { idleVerdict, IdleInput } from '../../src/core/idleWatchdog';
import { InstanceWatch } from '../../src/agent/watch';
import { instanceRecord, job } from '../contracts/allocationTableContract';
import { MemoryAllocationTable } from '../support/memoryAllocationTable';

const base: IdleInput = { now: 0, startedAt: 0, timeoutS: 300, marginS: 120, record: { jobCount: 0, lastJobChangeAt: 0 } };
const at = (s: number, o: Partial<IdleInput> = {}) => idleVerdict({ ...base, ...o, now: s * 1000 });

test('an idle instance stops once idle for the timeout plus the margin, not before', () => {
  assert.deepEqual(at(419), { kind: 'idle', idleForMs: 419_000, stopAt: 420_000 });
  assert.deepEqual(at(420), { kind: 'stop', idleForMs: 420_000 });
});

test('an instance with a job is never stopped, however long since its last change', () => {
  assert.deepEqual(at(1e6, { record: { jobCount: 1, lastJobChangeAt: 0 } }), { kind: 'busy' });
});

test('the idle clock starts at the last job change; without a table row, when the watchdog started', () => {
  assert.equal(at(500, { record: { jobCount: 0, lastJobChangeAt: 100_000 } }).kind, 'idle');
  assert.equal(at(520, { record: { jobCount: 0, lastJobChangeAt: 100_000 } }).kind, 'stop');
  assert.equal(at(500, { record: undefined, startedAt: 100_000 }).kind, 'idle');
  assert.equal(at(520, { record: undefined, startedAt: 100_000 }).kind, 'stop');
});

test('a recent management run postpones it; once management has missed two runs (plus the margin), its timeout applies', () => {
  const managed = { at: 1000_000, idleTimeoutS: 600, intervalS: 60 };
  const record = { jobCount: 0, lastJobChangeAt: 0, managed };
  assert.deepEqual(at(1000, { record }), { kind: 'managed', until: 1000_000 + 240_000 });
  assert.equal(at(1239, { record }).kind, 'managed');
  assert.equal(at(1240, { record }).kind, 'stop', 'idle 1240 s > 600 + 120');
  // The management's idle timeout, not the default, once management is gone.
  const young = { jobCount: 0, lastJobChangeAt: 700_000, managed };
  assert.deepEqual(at(1240, { record: young }), { kind: 'idle', idleForMs: 540_000, stopAt: 700_000 + 720_000 });
});

/** A provider's instance side around the in-memory table, recording shutdowns. */
function fakeInstance(timeoutS = 10, marginS = 5) {
  const table = new MemoryAllocationTable();
  const calls: string[] = [];
  const config: AgentConfig = {
    provider: 'fake', instanceId: 'i-1', workDir: '/nonexistent', table: {}, queues: {}, payloads: {}, interruption: {},
    sweep: { intervalS: 1, graceS: 1e6 }, idle: { timeoutS, marginS },
  };
  const side: InstanceSide = {
    table: () => table,
    queues: () => { throw new Error('unused'); },
    payloads: () => { throw new Error('unused'); },
    interruptionAnnounced: async () => false,
    secret: async () => undefined,
    shutdown: async () => void calls.push('shutdown'),
  };
  let now = 0;
  const log: string[] = [];
  const watch = new InstanceWatch({ config, side, table, log: (l) => log.push(l), now: () => now });
  return { table, calls, log, watch, setNow: (s: number) => (now = s * 1000) };
}

test('the watch deregisters an idle instance, then shuts it down; a busy one it leaves', async () => {
  const f = fakeInstance();
  await f.table.registerInstance({ ...instanceRecord('i-1'), jobs: { a: job('a') }, lastJobChangeAt: 0 });
  f.setNow(100);
  assert.equal(await f.watch.tick(), false);
  assert.deepEqual(f.calls, [], 'busy: never stopped');
  await f.table.deallocateJob('i-1', 'a'); // the idle clock starts now (real time)
  const freedAt = (await f.table.getInstance('i-1'))!.lastJobChangeAt;
  f.setNow(freedAt / 1000 + 14);
  assert.equal(await f.watch.tick(), false);
  assert.ok((await f.table.getInstance('i-1')) !== undefined);
  f.setNow(freedAt / 1000 + 15);
  assert.equal(await f.watch.tick(), true);
  assert.equal(await f.table.getInstance('i-1'), undefined, 'deregistered');
  assert.deepEqual(f.calls, ['shutdown']);
});

test('an instance never registered (its launch failed midway) stops itself too', async () => {
  const f = fakeInstance();
  f.setNow(14);
  assert.equal(await f.watch.tick(), false);
  f.setNow(15);
  assert.equal(await f.watch.tick(), true);
  assert.deepEqual(f.calls, ['shutdown']);
});

test('a job allocated while the watchdog decides keeps the instance: deregistration is conditional', async () => {
  const f = fakeInstance();
  await f.table.registerInstance({ ...instanceRecord('i-1'), lastJobChangeAt: 0 });
  // The job arrives between the watchdog's read and its deregistration.
  const getInstance = f.table.getInstance.bind(f.table);
  f.table.getInstance = async (id) => {
    const r = await getInstance(id);
    await f.table.allocateJobs('i-1', r!.etag, [job('late')]);
    return r;
  };
  f.setNow(1000);
  assert.equal(await f.watch.tick(), false);
  assert.deepEqual(f.calls, []);
  assert.deepEqual(Object.keys((await getInstance('i-1'))!.jobs), ['late']);
});
