// The management functions on the real local cloud: reconcile, idle timeout, thresholds, the
// scheduled runner, and the instance-side interruption check.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { allocateJob } from '../../src/jobs/allocate';
import { DEFAULT_MANAGEMENT_CONFIG, ManagementConfig } from '../../src/core/management';
import { makeProject, testCloud, TestCloud, waitFor } from '../support/localCloud';
import { runNode } from '../support/runNode';

let t: TestCloud;
const small = { cpu: 1, memoryGb: 2, gpus: 0, maxEvictionRatePct: 0 };

before(() => {
  t = testCloud({});
});
afterEach(async () => {
  await t.cloud.management.uninstall();
  for (const r of await t.cloud.provider.listRunning()) {
    const record = await t.cloud.table.getInstance(r.id);
    for (const jobId of Object.keys(record?.jobs ?? {})) await t.cloud.table.deallocateJob(r.id, jobId);
    await t.cloud.table.deregisterInstance(r.id);
    await t.cloud.provider.terminate(r.id);
  }
});
after(() => t.dispose());

function configure(c: Partial<ManagementConfig>): void {
  fs.mkdirSync(t.cloud.management.dir, { recursive: true });
  fs.writeFileSync(path.join(t.cloud.management.dir, 'config.json'), JSON.stringify({ ...DEFAULT_MANAGEMENT_CONFIG, ...c }));
}

/** An idle instance, as a finished job leaves it. */
async function idleInstance(): Promise<string> {
  const { instance } = await allocateJob(t.cloud, small, 'setup');
  await t.cloud.table.deallocateJob(instance.id, 'setup');
  return instance.id;
}

const runningIds = async () => (await t.cloud.provider.listRunning()).map((r) => r.id).sort();
const registeredIds = async () => (await t.cloud.table.listInstances()).map((r) => r.id).sort();

test('the installed runner stops an idle instance once the idle timeout has passed', async () => {
  const id = await idleInstance();
  await t.cloud.management.install({ ...DEFAULT_MANAGEMENT_CONFIG, idleTimeoutS: 3, intervalS: 0.5 });
  const status = await t.cloud.management.status();
  assert.equal(status.installed, true);
  assert.equal(status.config!.idleTimeoutS, 3);
  let kept: string | undefined;
  await waitFor('a first run that keeps the young idle instance', async () => (kept = (await t.cloud.management.status()).lastRun?.kept[id]) !== undefined);
  assert.match(kept!, /^idle \ds$/);
  await waitFor('the idle instance to be terminated', async () => (await runningIds()).length === 0, 20_000);
  assert.deepEqual(await registeredIds(), []);
  const after = await t.cloud.management.status();
  assert.ok(after.nextRunAt! > Date.now() - 1000, `the next run is scheduled ${JSON.stringify(after)} now ${Date.now()}`);
  await t.cloud.management.uninstall();
  assert.equal((await t.cloud.management.status()).installed, false);
});

test('an instance with a job is never stopped, however long the idle timeout has passed', async () => {
  const { instance } = await allocateJob(t.cloud, small, 'busy-job');
  configure({ idleTimeoutS: 0.001 });
  // A run a second from now: the idle timeout has long passed, with no waiting.
  const { result } = await t.cloud.management.runOnce({ now: Date.now() + 1000 });
  assert.deepEqual(result.terminated, []);
  assert.equal(result.kept[instance.id], 'busy');
  assert.deepEqual(await runningIds(), [instance.id]);
});

test('an unmet threshold launches capacity, and the instance it keeps outlives the idle timeout', async () => {
  configure({ idleTimeoutS: 0.001, thresholds: [{ cpu: 2, memoryGb: 4, gpus: 0, maxEvictionRatePct: 0, count: 1 }] });
  const first = await t.cloud.management.runOnce();
  assert.equal(first.result.launched.length, 1, JSON.stringify(first.result));
  const [launched] = first.result.launched;
  assert.equal((await t.cloud.table.getInstance(launched))!.typeName, 'local.medium', 'the cheapest type with 2 CPU, 4 GB');
  const second = await t.cloud.management.runOnce({ now: Date.now() + 1000 });
  assert.deepEqual(second.result.launched, [], 'no needless launch once met');
  assert.deepEqual(second.result.terminated, []);
  assert.equal(second.result.kept[launched], 'threshold 1×(2 CPU, 4 GB)');
  assert.deepEqual(await runningIds(), [launched]);
});

test('a registered instance whose machine died is deregistered, with its stale allocations', async () => {
  const { instance } = await allocateJob(t.cloud, small, 'orphaned-job');
  const sshdPid = Number(fs.readFileSync(path.join(t.cloud.stateDir, 'instances', instance.id, 'sshd.pid'), 'utf8'));
  process.kill(sshdPid, 'SIGKILL');
  await waitFor('sshd to die', async () => !(await runningIds()).includes(instance.id));
  configure({});
  const { result } = await t.cloud.management.runOnce();
  assert.deepEqual(result.deregistered, [instance.id]);
  assert.deepEqual(await registeredIds(), []);
  assert.equal(fs.existsSync(path.join(t.cloud.stateDir, 'instances', instance.id)), false, 'its files are cleaned up');
});

test('a dry run only plans', async () => {
  const id = await idleInstance();
  configure({ idleTimeoutS: 0.001 });
  const run = await t.cloud.management.runOnce({ dryRun: true, now: Date.now() + 1000 });
  assert.deepEqual(run.plan!.actions, [{ kind: 'terminate', id, reason: 'idle' }]);
  assert.deepEqual(await runningIds(), [id]);
});

test('two adjusters started at once do no harm: the missing capacity is launched once', async () => {
  configure({ thresholds: [{ cpu: 1, memoryGb: 2, gpus: 0, maxEvictionRatePct: 0, count: 2 }] });
  const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
  const runs = await Promise.all(
    [0, 1].map(async () => {
      const r = await runNode(cli, ['--state-dir', t.cloud.stateDir, 'manage', 'run-once', '--json']);
      assert.equal(r.code, 0, `run-once exited ${r.code}:\n${r.stderr}`);
      return JSON.parse(r.stdout) as { result: { launched: string[]; skipped?: string } };
    }),
  );
  // Whether the second waited out the first (and found the threshold met) or skipped while the
  // first held the lock, one local.medium (2 units, priced as two smalls) is all that launched.
  const launched = runs.flatMap((r) => r.result.launched);
  assert.equal(launched.length, 1, `exactly the missing capacity is launched: ${JSON.stringify(runs)}`);
  assert.deepEqual(await runningIds(), launched);
  const again = await t.cloud.management.runOnce();
  assert.deepEqual(again.result.launched, []);
});

test('an announced interruption stops further allocation on the instance', async () => {
  const id = await idleInstance();
  const record = (await t.cloud.table.getInstance(id))!;
  fs.writeFileSync(path.join(record.workDir!, 'interruption-notice'), 'simulated spot interruption');
  await waitFor('the sweep to see the notice', async () => (await t.cloud.table.getInstance(id))!.preventFurtherAllocation);
  const { instance, launched } = await allocateJob(t.cloud, small, 'after-notice');
  assert.equal(launched, true, 'the next job goes to a new instance');
  assert.notEqual(instance.id, id);
  await t.cloud.table.deallocateJob(instance.id, 'after-notice');
});

test('queue pairs of map jobs unused for longer than the configured age are deleted', async () => {
  await t.cloud.queues.createPair('map-stale');
  await t.cloud.queues.createPair('map-fresh');
  fs.writeFileSync(path.join(t.cloud.queues.dir, 'map-stale', 'pair.json'), JSON.stringify({ lastUsedAt: Date.now() - 2 * 3600_000 }));
  const payload = await t.cloud.payloads.put('map-stale/big-argument', Buffer.from('x'));
  configure({ queueMaxAgeS: 3600 });
  const dry = await t.cloud.management.runOnce({ dryRun: true });
  assert.deepEqual(dry.result.deletedQueues, ['map-stale']);
  assert.equal((await t.cloud.queues.listPairs()).length, 2, 'a dry run deletes nothing');
  const { result } = await t.cloud.management.runOnce();
  assert.deepEqual(result.deletedQueues, ['map-stale']);
  assert.deepEqual((await t.cloud.queues.listPairs()).map((p) => p.jobId), ['map-fresh']);
  await assert.rejects(t.cloud.payloads.get(payload), /does not exist/, "the stale job's payloads went with its queues");
  await t.cloud.queues.deletePair('map-fresh');
});

test('a management run removes environments unused longer than environmentMaxAgeS, and keeps the recent ones', async () => {
  const id = await idleInstance();
  // A job makes the instance ready (its agent and work directory exist).
  const r = await t.engine.runFunction('m.py:f', '[]', { projectDir: makeProject({ 'm.py': 'def f():\n    return 1\n' }) });
  assert.equal(r.outcome.status, 'succeeded');
  const workDir = (await t.cloud.table.getInstance(r.instanceId))!.workDir!;
  // Two environments as the agent leaves them, one last used ten days ago.
  const old = new Date(Date.now() - 10 * 86400_000);
  for (const [hash, usedAt] of [['0000old000000000', old], ['1111new111111111', new Date()]] as const) {
    const dir = path.join(workDir, 'envs', hash);
    fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
    const marker = path.join(dir, 'meadowrun-environment.json');
    fs.writeFileSync(marker, JSON.stringify({ hash, source: 'requirements.txt', builtAt: old.toISOString() }));
    fs.utimesSync(marker, usedAt, usedAt);
  }
  configure({ idleTimeoutS: 3600, environmentMaxAgeS: 7 * 86400 });
  // Runs look at environments once an hour: forget earlier tests' runs.
  fs.rmSync(path.join(t.cloud.management.dir, 'environments-pruned.json'), { force: true });
  const { result } = await t.cloud.management.runOnce();
  assert.deepEqual(result.removedEnvironments, [`${r.instanceId}/0000old000000000`]);
  assert.deepEqual(fs.readdirSync(path.join(workDir, 'envs')), ['1111new111111111']);
  assert.ok((await runningIds()).includes(id));
});
