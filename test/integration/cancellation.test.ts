// Ctrl-C at any stage is a cancellation, never a failure: the CLI exits 130 and leaves nothing
// behind, even when it comes while an instance is still being launched (before any job runs).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { createLocalCloud } from '../../src/cloud/local';
import { makeProject, waitFor } from '../support/localCloud';
import { startNode } from '../support/runNode';
import { tempDir } from '../support/tempDir';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
let project: string;
let stateDir: string;
let gate: string;
let sshd: string;

before(() => {
  project = makeProject({ 'jobs.py': 'def cube(x):\n    return x ** 3\n' });
  stateDir = tempDir('cancel-state');
  // An sshd that starts only once the test opens the gate: the launch is held, and Ctrl-C lands in it.
  const bin = tempDir('cancel-bin');
  gate = path.join(bin, 'open');
  sshd = path.join(bin, 'sshd');
  const real = ['/usr/sbin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd'].find((p) => fs.existsSync(p))!;
  fs.writeFileSync(sshd, `#!/bin/sh\nwhile [ ! -e '${gate}' ]; do sleep 0.05; done\nexec '${real}' "$@"\n`, { mode: 0o755 });
});
after(async () => {
  const cloud = createLocalCloud({ stateDir });
  for (const r of await cloud.provider.listRunning()) await cloud.provider.terminate(r.id);
});

/** Runs the CLI, presses Ctrl-C once it says it is launching, then lets the launch finish. */
async function interruptedWhileLaunching(args: string[]): Promise<{ code: number | null; stderr: string }> {
  fs.rmSync(gate, { force: true });
  const run = startNode(cli, ['--state-dir', stateDir, ...args], { cwd: project, env: { ...process.env, MEADOWRUN_SSHD: sshd } });
  await waitFor('the launch to start', () => run.out.stderr.includes('Launching'), 30_000);
  run.child.kill('SIGINT');
  await waitFor('the CLI to take the Ctrl-C', () => run.out.stderr.includes('Cancelling'), 10_000);
  fs.writeFileSync(gate, '');
  return run.done;
}

async function nothingLeft(): Promise<void> {
  const cloud = createLocalCloud({ stateDir });
  assert.deepEqual(await cloud.table.listInstances(), [], 'no instance registered');
  assert.deepEqual(await cloud.provider.listRunning(), [], 'the instance launched for the job is gone');
}

test('Ctrl-C while run-function launches its instance: exit 130, "cancelled", nothing left', async () => {
  const { code, stderr } = await interruptedWhileLaunching(['run-function', 'jobs.py:cube', '--args', '[2]']);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /^meadowrun: cancelled$/m);
  assert.doesNotMatch(stderr, /AbortError|unexpected error/);
  await nothingLeft();
});

test('Ctrl-C while run-command launches its instance: exit 130, nothing left', async () => {
  fs.writeFileSync(path.join(project, 'hello.py'), 'print("hello")\n');
  const { code, stderr } = await interruptedWhileLaunching(['run-command', 'hello.py']);
  assert.equal(code, 130, stderr);
  assert.doesNotMatch(stderr, /AbortError|unexpected error/);
  await nothingLeft();
});

test('Ctrl-C while run-map launches its workers: exit 130, nothing left', async () => {
  const { code, stderr } = await interruptedWhileLaunching(['run-map', 'jobs.py:cube', '--args', '[1, 2, 3]', '--workers', '1', '--cpu', '0.5', '--memory', '0.5']);
  assert.equal(code, 130, stderr);
  assert.doesNotMatch(stderr, /AbortError|unexpected error/);
  await nothingLeft();
});

test('terminating an instance while its sshd is still starting waits for the boot, then leaves no process or file', async () => {
  fs.rmSync(gate, { force: true });
  const saved = process.env.MEADOWRUN_SSHD;
  process.env.MEADOWRUN_SSHD = sshd;
  try {
    const cloud = createLocalCloud({ stateDir: tempDir('cancel-boot-state') });
    const [type] = await cloud.provider.listInstanceTypes();
    const { id } = await cloud.provider.launch({ type, spot: false, price: type.onDemandPrice }, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== test');
    const sshdDir = cloud.provider.sshdDir(id);
    const stopping = cloud.provider.terminate(id);
    fs.writeFileSync(gate, '');
    await stopping;
    const running = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(sshdDir);
      } catch {
        return false;
      }
    });
    assert.deepEqual(running, [], 'no sshd of the instance runs');
    assert.equal(fs.existsSync(sshdDir), false, 'its sshd files are gone');
    assert.deepEqual(await cloud.provider.listRunning(), [], 'the instance is gone');
  } finally {
    if (saved === undefined) delete process.env.MEADOWRUN_SSHD;
    else process.env.MEADOWRUN_SSHD = saved;
  }
});

test('an instance whose state directory was deleted is stopped by the next launch: its sshd no longer listens', async () => {
  const gone = tempDir('orphan-state');
  const orphaned = createLocalCloud({ stateDir: gone });
  const [type] = await orphaned.provider.listInstanceTypes();
  const { id } = await orphaned.provider.launch({ type, spot: false, price: type.onDemandPrice }, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== test');
  const { ssh } = await orphaned.provider.waitReady(id);
  assert.equal(await answers(ssh.port), true, 'the instance listens before');
  fs.rmSync(gone, { recursive: true, force: true });

  await createLocalCloud({ stateDir: tempDir('orphan-next-state') }).provider.prepare();
  await waitFor('the orphan to stop listening', async () => !(await answers(ssh.port)), 10_000);
  assert.equal(fs.existsSync(orphaned.provider.sshdDir(id)), false, 'its sshd files are gone');
});

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
