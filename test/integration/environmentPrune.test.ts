// An instance's environments and the pruner (jobs/environments.py, run by `meadowrun envs prune`
// and by the instance's own watch) share one lock: a job that picks an environment while a pruner
// holds its lock waits for the verdict, and builds it again when it was removed. Real venvs, real
// python3; no cloud.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setImmediate } from 'node:timers/promises';
import { test } from 'node:test';
import { Environments, pruneEnvironments } from '../../src/agent/environments';
import { EnvironmentEvent, EnvironmentSpec } from '../../src/core/deployment';
import { waitFor } from '../support/localCloud';
import { tempDir } from '../support/tempDir';

// No packages: a bare venv is an environment like any other (and needs no index).
const spec: EnvironmentSpec = { source: 'test', requirements: '' };
const longAgo = new Date(Date.now() - 30 * 86_400_000);

async function builtEnvironment() {
  const workDir = tempDir('env-prune');
  const envs = new Environments(workDir);
  const first: EnvironmentEvent[] = [];
  const python = await envs.interpreterFor('python3', spec, (e) => first.push(e));
  assert.deepEqual(first.filter((e) => e.kind !== 'log').map((e) => e.kind), ['building', 'built']);
  const envDir = path.dirname(path.dirname(python));
  const marker = path.join(envDir, 'meadowrun-environment.json');
  fs.utimesSync(marker, longAgo, longAgo);
  return { workDir, envs, envDir, marker, python };
}

/** Holds the environment's lock as a pruner does (a directory naming a live pid). */
function holdLock(envDir: string): string {
  const lock = `${envDir}.lock`;
  fs.mkdirSync(lock, { mode: 0o700 });
  fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
  return lock;
}

/** A job picking the environment while the lock is held: it has marked it used, and waits. */
async function pickWhileLocked(o: Awaited<ReturnType<typeof builtEnvironment>>) {
  const events: EnvironmentEvent[] = [];
  let settled = false;
  const picked = o.envs.interpreterFor('python3', spec, (e) => events.push(e)).finally(() => (settled = true));
  await waitFor('the job to mark the environment used', () => fs.statSync(o.marker).mtimeMs > longAgo.getTime() + 1000);
  await setImmediate();
  assert.equal(settled, false, 'the job does not take an environment whose lock a pruner holds');
  return { picked, events };
}

test('a job that picks an environment a pruner has locked waits; when the pruner removes it, the job builds it again', async () => {
  const o = await builtEnvironment();
  const lock = holdLock(o.envDir);
  const { picked, events } = await pickWhileLocked(o);
  // The pruner decides to remove it (as environments.py does: out of sight, then gone), and lets go.
  fs.renameSync(o.envDir, `${o.envDir}.pruning-1`);
  fs.rmSync(`${o.envDir}.pruning-1`, { recursive: true });
  fs.rmSync(lock, { recursive: true });
  assert.equal(await picked, o.python);
  assert.deepEqual(events.filter((e) => e.kind !== 'log').map((e) => e.kind), ['building', 'built']);
  assert.ok(fs.existsSync(o.marker) && fs.existsSync(o.python));
});

test('a job that picks an environment a pruner has locked waits; when the pruner keeps it, the job reuses it', async () => {
  const o = await builtEnvironment();
  const lock = holdLock(o.envDir);
  const { picked, events } = await pickWhileLocked(o);
  fs.rmSync(lock, { recursive: true });
  assert.equal(await picked, o.python);
  assert.deepEqual(events.map((e) => e.kind), ['reused']);
});

test('the pruner never removes an environment whose mark a job has just refreshed, nor one whose lock is held; an old one goes', async () => {
  const o = await builtEnvironment();
  // Just used: kept, whatever the age asked.
  fs.utimesSync(o.marker, new Date(), new Date());
  assert.deepEqual(await pruneEnvironments(o.workDir, 3600), []);
  // Old, but locked: kept.
  fs.utimesSync(o.marker, longAgo, longAgo);
  const lock = holdLock(o.envDir);
  assert.deepEqual(await pruneEnvironments(o.workDir, 3600), []);
  assert.ok(fs.existsSync(o.python));
  fs.rmSync(lock, { recursive: true });
  // Old and free: removed, with no lock or leftover behind.
  assert.deepEqual(await pruneEnvironments(o.workDir, 3600), [path.basename(o.envDir)]);
  assert.deepEqual(fs.readdirSync(path.dirname(o.envDir)), []);
});
