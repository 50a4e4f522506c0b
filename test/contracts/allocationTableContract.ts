// What every AllocationTable must do (the port in src/cloud/ports.ts), as node:test tests that run
// against any implementation: call allocationTableContract from a test file with a factory.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { AgentConfig, AllocationTable, freeCapacity, InstanceRecord } from '../../src/cloud/ports';
import { checkHistories, History, runHistoryWorker } from '../support/tableHistory';

export interface TableUnderTest {
  table: AllocationTable;
  /** How another process opens the same table, as an instance's AgentConfig names it (provider and table), if it can. */
  spec?: Pick<AgentConfig, 'provider' | 'table'>;
}

export function instanceRecord(id: string, cpu = 2, memoryGb = 4): Omit<InstanceRecord, 'etag'> {
  return {
    id,
    typeName: 'local.medium',
    spot: false,
    price: 0.02,
    total: { cpu, memoryGb, gpus: 0 },
    jobs: {},
    preventFurtherAllocation: false,
    state: 'ready',
    ssh: { host: '127.0.0.1', port: 1, user: 'u', hostKey: 'k' },
    workDir: '/nowhere',
    nodeCommand: { command: ['node'], env: {} },
    registeredAt: Date.now(),
    lastJobChangeAt: Date.now(),
  };
}

export const job = (jobId: string, cpu = 1, memoryGb = 1) => ({ jobId, cpu, memoryGb, gpus: 0, allocatedAt: Date.now() });

/** The size of a randomized history: enough clients and writes to race hard, small enough for seconds. */
const CLIENTS = 8;
const ALLOCATIONS = 125;

export function allocationTableContract(name: string, make: () => TableUnderTest): void {
  test(`${name}: registered instances can be read and listed, and an id registers once`, async () => {
    const { table } = make();
    await table.registerInstance({ ...instanceRecord('i-2'), registeredAt: 2 });
    const etag = await table.registerInstance({ ...instanceRecord('i-1'), registeredAt: 1 });
    const r = (await table.getInstance('i-1'))!;
    assert.deepEqual(r, { ...instanceRecord('i-1'), registeredAt: 1, lastJobChangeAt: r.lastJobChangeAt, etag });
    assert.equal(typeof etag, 'string');
    assert.deepEqual((await table.listInstances()).map((x) => x.id), ['i-1', 'i-2'], 'oldest registration first');
    assert.equal(await table.getInstance('i-3'), undefined);
    await assert.rejects(table.registerInstance(instanceRecord('i-1')), /already registered/);
  });

  test(`${name}: allocate is a compare-and-swap: a stale etag loses and changes nothing`, async () => {
    const { table } = make();
    await table.registerInstance(instanceRecord('i-1'));
    const v1 = (await table.getInstance('i-1'))!;
    assert.equal(await table.allocateJobs('i-1', v1.etag, [job('a')]), true);
    assert.equal(await table.allocateJobs('i-1', v1.etag, [job('b')]), false, 'second writer with the same etag must lose');
    const now = (await table.getInstance('i-1'))!;
    assert.deepEqual(Object.keys(now.jobs), ['a']);
    assert.notEqual(now.etag, v1.etag, 'every write changes the etag');
    assert.equal(await table.allocateJobs('i-1', `${now.etag}x`, [job('c')]), false, 'an etag the table never issued loses');
    assert.equal(await table.allocateJobs('i-missing', v1.etag, [job('c')]), false);
    await table.deallocateJob('i-1', 'a');
    assert.notEqual((await table.getInstance('i-1'))!.etag, now.etag, 'a deallocation changes the etag too');
    assert.equal(await table.allocateJobs('i-1', now.etag, [job('d')]), false, 'so a writer that read before it loses');
  });

  test(`${name}: allocate refuses what does not fit and instances marked to take no more`, async () => {
    const { table } = make();
    await table.registerInstance(instanceRecord('i-1', 2, 4));
    let r = (await table.getInstance('i-1'))!;
    assert.equal(await table.allocateJobs('i-1', r.etag, [job('big', 3, 1)]), false);
    assert.equal(await table.allocateJobs('i-1', r.etag, [job('a', 1, 1), job('b', 1, 3)]), true, 'exactly fits');
    r = (await table.getInstance('i-1'))!;
    assert.deepEqual(freeCapacity(r), { cpu: 0, memoryGb: 0, gpus: 0 });
    assert.equal(await table.allocateJobs('i-1', r.etag, [job('c', 0.5, 0.5)]), false);
    await table.deallocateJob('i-1', 'a');
    await table.preventFurtherAllocation('i-1');
    r = (await table.getInstance('i-1'))!;
    assert.equal(r.preventFurtherAllocation, true);
    assert.equal(await table.allocateJobs('i-1', r.etag, [job('c')]), false);
    assert.deepEqual(Object.keys((await table.getInstance('i-1'))!.jobs), ['b']);
  });

  test(`${name}: allocate-if-fits needs no etag: it takes what fits the row as it is now, and refuses the rest`, async () => {
    const { table } = make();
    await table.registerInstance(instanceRecord('i-1', 2, 4));
    const a = await table.allocateIfFits('i-1', [job('a')]);
    assert.deepEqual(Object.keys(a?.jobs ?? {}), ['a']);
    assert.deepEqual(a, await table.getInstance('i-1'), 'it returns the record as written, at its new etag');
    // Writes of every kind in between: it sees the room as it is, whoever wrote last.
    await table.recordManagement('i-1', { at: 1, idleTimeoutS: 600, intervalS: 60 });
    assert.equal(await table.allocateIfFits('i-1', [job('big', 2, 1)]), undefined, 'one CPU is left');
    const full = await table.allocateIfFits('i-1', [job('b', 1, 2), job('c', 0, 1)]);
    assert.deepEqual(Object.keys(full?.jobs ?? {}).sort(), ['a', 'b', 'c'], 'exactly fits');
    assert.equal(await table.allocateIfFits('i-1', [job('d', 0.5, 0.5)]), undefined);
    assert.equal((await table.getInstance('i-1'))!.etag, full!.etag, 'a refusal changes nothing');
    assert.equal(await table.allocateJobs('i-1', a!.etag, [job('e', 0, 0)]), false, 'a compare-and-swap on an etag before it loses');
    await table.deallocateJob('i-1', 'b');
    assert.ok(await table.allocateIfFits('i-1', [job('d', 1, 2)]), 'what a job freed is room again');
    assert.equal(await table.allocateIfFits('i-1', [job('e', 0.5, 0.5)]), undefined);
    await table.deallocateJob('i-1', 'd');
    await table.preventFurtherAllocation('i-1');
    assert.equal(await table.allocateIfFits('i-1', [job('e')]), undefined, 'an instance that takes no more refuses');
    assert.equal(await table.allocateIfFits('i-missing', [job('e')]), undefined);
    assert.equal(await table.getInstance('i-missing'), undefined, 'and nothing appears');

    // A launching row that becomes ready keeps its room.
    const { ssh, workDir, nodeCommand, ...bare } = instanceRecord('i-2', 4, 4);
    await table.registerInstance({ ...bare, state: 'launching', jobs: { mine: job('mine', 2, 2) } });
    assert.ok(await table.allocateIfFits('i-2', [job('joined')]));
    assert.equal(await table.markReady('i-2', { ssh: ssh!, workDir: workDir!, nodeCommand: nodeCommand! }), true);
    assert.ok(await table.allocateIfFits('i-2', [job('f')]));
    assert.equal(await table.allocateIfFits('i-2', [job('g')]), undefined);
    assert.deepEqual(freeCapacity((await table.getInstance('i-2'))!), { cpu: 0, memoryGb: 0, gpus: 0 });
  });

  test(`${name}: deallocation is idempotent and deregistration waits for the last job`, async () => {
    const { table } = make();
    await table.registerInstance({ ...instanceRecord('i-1'), jobs: { a: job('a') } });
    assert.equal(await table.deregisterInstance('i-1'), false, 'must not deregister with a job on it');
    assert.equal((await table.getInstance('i-1'))?.id, 'i-1');
    assert.equal(await table.deallocateJob('i-1', 'a'), true);
    assert.equal(await table.deallocateJob('i-1', 'a'), false);
    assert.equal(await table.deallocateJob('i-missing', 'a'), false);
    assert.equal(await table.deregisterInstance('i-1'), true);
    assert.equal(await table.deregisterInstance('i-1'), false);
    assert.equal(await table.getInstance('i-1'), undefined);
    assert.deepEqual(await table.listInstances(), []);
  });

  test(`${name}: a management run's touch is recorded and changes nothing else`, async () => {
    const { table } = make();
    await table.registerInstance({ ...instanceRecord('i-1'), jobs: { a: job('a') } });
    const before = (await table.getInstance('i-1'))!;
    const touch = { at: 1234, idleTimeoutS: 600, intervalS: 60 };
    await table.recordManagement('i-1', touch);
    const after = (await table.getInstance('i-1'))!;
    assert.deepEqual(after.managed, touch);
    assert.notEqual(after.etag, before.etag, 'a write like any other: a compare-and-swap on the old etag loses');
    assert.equal(await table.allocateJobs('i-1', before.etag, [job('b')]), false);
    assert.deepEqual({ ...after, managed: undefined, etag: '' }, { ...before, managed: undefined, etag: '' });
    await table.recordManagement('i-missing', touch); // no error, and nothing appears
    assert.equal(await table.getInstance('i-missing'), undefined);
  });

  test(`${name}: a launching row takes jobs, then becomes ready once; a launch given up stays unready`, async () => {
    const { table } = make();
    const { ssh, workDir, nodeCommand, ...bare } = instanceRecord('i-1');
    const endpoint = { ssh: ssh!, workDir: workDir!, nodeCommand: nodeCommand! };
    await table.registerInstance({ ...bare, state: 'launching', jobs: { mine: { ...job('mine'), allocatedAt: 1 } } });
    let r = (await table.getInstance('i-1'))!;
    assert.equal(r.state, 'launching');
    assert.equal(r.ssh, undefined);
    assert.equal(await table.allocateJobs('i-1', r.etag, [job('joined')]), true, 'another client joins the launching instance');
    const before = (await table.getInstance('i-1'))!;
    assert.equal(await table.markReady('i-1', endpoint), true);
    r = (await table.getInstance('i-1'))!;
    assert.deepEqual({ state: r.state, ssh: r.ssh, workDir: r.workDir, nodeCommand: r.nodeCommand }, { state: 'ready', ...endpoint });
    assert.deepEqual(Object.keys(r.jobs).sort(), ['joined', 'mine'], 'the jobs stay');
    assert.ok(r.jobs.mine.allocatedAt >= before.jobs.joined.allocatedAt, "the sweep's grace restarts when the instance is ready");
    assert.notEqual(r.etag, before.etag);
    assert.equal(await table.markReady('i-1', endpoint), false, 'only a launching row becomes ready');
    assert.equal(await table.markReady('i-missing', endpoint), false);

    await table.registerInstance({ ...bare, id: 'i-2', state: 'launching' });
    await table.preventFurtherAllocation('i-2');
    assert.equal(await table.markReady('i-2', endpoint), false, 'a launch given up is not made ready');
    assert.equal((await table.getInstance('i-2'))!.state, 'launching');
  });

  test(`${name}: a randomized history of interleaved clients checks out`, async () => {
    const { table } = make();
    const seed = historySeed();
    await registerForHistory(table);
    const histories = await Promise.all(
      Array.from({ length: CLIENTS }, (_, w) => runHistoryWorker(table, `c${w}`, seed + w, ALLOCATIONS / 5)),
    );
    await assertHistoriesCheckOut(table, histories, seed);
  });

  const { spec } = make();
  if (spec === undefined) return;
  test(`${name}: a randomized history of ${CLIENTS} processes checks out`, async () => {
    const { table, spec } = make();
    const seed = historySeed();
    await registerForHistory(table);
    const worker = path.join(__dirname, '..', 'support', 'tableHistoryWorker.ts');
    const histories = await Promise.all(
      Array.from({ length: CLIENTS }, (_, w) =>
        new Promise<History>((resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', worker, JSON.stringify(spec), `p${w}`, String(seed + w), String(ALLOCATIONS)], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.on('error', reject);
          child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`client p${w} exited ${code} (seed ${seed})`))));
        }),
      ),
    );
    await assertHistoriesCheckOut(table, histories, seed);
  });
}

/** Random unless TABLE_HISTORY_SEED repeats a failed run's (the interleaving itself is up to the OS). */
function historySeed(): number {
  return Number(process.env.TABLE_HISTORY_SEED ?? Math.floor(Math.random() * 1e9));
}

/** Fewer CPUs than the clients want at once, so they race for the last one too. */
async function registerForHistory(table: AllocationTable): Promise<void> {
  for (const id of ['h-1', 'h-2', 'h-3']) await table.registerInstance(instanceRecord(id, 4, 100));
}

async function assertHistoriesCheckOut(table: AllocationTable, histories: History[], seed: number): Promise<void> {
  const final = await table.listInstances();
  const verdict = checkHistories(histories, final);
  const calls = histories.reduce((n, h) => n + h.calls.length, 0);
  assert.deepEqual(
    verdict.problems.slice(0, 20),
    [],
    `seed ${seed}: ${verdict.problems.length} problems in ${calls} calls: ${verdict.ghosts} ghost jobs, ` +
      `${verdict.misreported} writes that returned false but took effect, ${verdict.lost} that returned true but were lost`,
  );
  assert.ok(histories.every((h) => h.calls.some((c) => c.op === 'allocate' && c.result)), 'every client placed jobs');
  for (const r of final) assert.equal(await table.deregisterInstance(r.id), true, `${r.id} deregisters once empty`);
}
