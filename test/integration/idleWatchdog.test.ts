// The idle watchdog on the real local cloud, with no management installed: an instance nobody uses
// deregisters and stops itself after the idle timeout plus the margin; one with a running job, or
// one a management run touched recently, stays. Each "stays" is shown against a witness: an idle
// instance launched later than it, whose going proves the watchdog's deadline has passed.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { localLayout } from '../../src/cloud/local/paths';
import { agentProcesses } from '../support/instanceProcesses';
import { testCloud, TestCloud, waitFor } from '../support/localCloud';
import { tempDir } from '../support/tempDir';

const TIMEOUT_S = 2;
const MARGIN_S = 1;
let t: TestCloud;
let markers: string;

beforeEach(() => {
  t = testCloud(
    {
      'f.py': [
        'import os, time',
        'def quick():',
        '    return os.getpid()',
        'def wait_for(marker):',
        '    while not os.path.exists(marker):',
        '        time.sleep(0.05)',
        '    return "released"',
        '',
      ].join('\n'),
    },
    { sweepIntervalS: 1, idleTimeoutS: TIMEOUT_S, idleMarginS: MARGIN_S },
  );
  markers = tempDir('markers');
});
afterEach(() => t.dispose());

const running = async () => (await t.cloud.provider.listRunning()).map((r) => r.id);
const registered = async () => (await t.cloud.table.listInstances()).map((r) => r.id);
const gone = async (id: string) => !(await running()).includes(id) && !(await registered()).includes(id);
const watchLog = (id: string) => fs.readFileSync(path.join(localLayout(t.cloud.stateDir).instancesDir, id, 'watch.log'), 'utf8');
const sshdPid = (id: string) => Number(fs.readFileSync(path.join(localLayout(t.cloud.stateDir).instancesDir, id, 'sshd.pid'), 'utf8'));
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

test('an instance launched by a job and never used again stops itself after the timeout plus the margin', async () => {
  assert.equal((await t.cloud.management.status()).installed, false, 'no management installed');
  const r = await t.engine.runFunction('f.py:quick', '[]', { projectDir: t.project });
  assert.equal(r.outcome.status, 'succeeded');
  const id = r.instanceId;
  const sshd = sshdPid(id);
  const processes = agentProcesses(id);
  assert.ok(agentProcesses(id, 'daemon').length === 1 && agentProcesses(id, 'watch').length === 1, 'the agent daemon and the watch run');
  const idleSince = (await t.cloud.table.getInstance(id))!.lastJobChangeAt;

  await waitFor('the idle instance to stop itself', () => gone(id), 30_000);
  assert.ok(Date.now() >= idleSince + (TIMEOUT_S + MARGIN_S) * 1000, 'not before the timeout plus the margin');
  await waitFor('its sshd, agent and watch to exit', () => !alive(sshd) && processes.every((p) => !alive(p)), 5000);
  assert.equal(fs.existsSync(path.join(localLayout(t.cloud.stateDir).instancesDir, id)), false, 'its directory is removed');
});

test('an instance with a running job is never stopped', async () => {
  const marker = path.join(markers, 'release');
  let started = false;
  const busy = t.engine.runFunction('f.py:wait_for', JSON.stringify([marker]), {
    projectDir: t.project,
    resources: { cpu: 1, memoryGb: 1 },
    onEvent: (e) => void (e.kind === 'started' && (started = true)),
  });
  await waitFor('the long job to start', () => started, 30_000);
  // The witness: a second job, which the busy instance has no room for, launches another instance.
  const witness = await t.engine.runFunction('f.py:quick', '[]', { projectDir: t.project, resources: { cpu: 1, memoryGb: 1 } });
  const busyId = (await t.cloud.table.listInstances()).find((r) => r.id !== witness.instanceId)!.id;
  assert.notEqual(busyId, witness.instanceId);
  await waitFor('the idle witness to stop itself', () => gone(witness.instanceId), 30_000);

  assert.ok((await running()).includes(busyId) && (await registered()).includes(busyId), 'the busy instance still runs');
  assert.match(watchLog(busyId), /idle watchdog: busy/);
  assert.doesNotMatch(watchLog(busyId), /deregistered/);
  fs.writeFileSync(marker, '');
  const r = await busy;
  assert.equal(r.outcome.status === 'succeeded' && r.outcome.value!.repr, "'released'", 'the job ran to its end');
  await waitFor('the instance, idle at last, to stop itself', () => gone(busyId), 30_000);
});

test('a management run touching the instance postpones the watchdog', async () => {
  const first = await t.engine.runFunction('f.py:quick', '[]', { projectDir: t.project, resources: { cpu: 1, memoryGb: 1 } });
  const run = await t.cloud.management.runOnce(); // as the scheduled run would (default config: idle timeout 300 s)
  assert.match(run.result.kept[first.instanceId] ?? '', /^idle/);
  assert.equal((await t.cloud.table.getInstance(first.instanceId))!.managed?.idleTimeoutS, 300, 'the run touched it');
  // The witness: launched later (it needs more than the first instance has), touched by no run.
  const witness = await t.engine.runFunction('f.py:quick', '[]', { projectDir: t.project, resources: { cpu: 2, memoryGb: 1 } });
  assert.notEqual(witness.instanceId, first.instanceId);
  await waitFor('the untouched witness to stop itself', () => gone(witness.instanceId), 30_000);

  assert.ok((await running()).includes(first.instanceId) && (await registered()).includes(first.instanceId), 'the touched instance still runs');
  assert.match(watchLog(first.instanceId), /idle watchdog: management runs; postponed/);
});
