// When the resident agent's socket is out of reach (a work directory too deep for a socket path, or
// an SSH server that refuses socket forwarding), jobs still run: each client gets a private agent on
// its own SSH channel instead.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Engine } from '../../src/jobs/engine';
import { jobsOnAllInstances, testCloud, TestCloud } from '../support/localCloud';
import { tempDir } from '../support/tempDir';

let t: TestCloud;

before(() => {
  const deep = path.join(tempDir('state'), 'a-state-directory-nested-deep-enough'.repeat(2));
  t = testCloud({ 'calc.py': 'def add(a, b):\n    return a + b\n' }, { stateDir: deep });
});

after(async () => {
  await t.dispose();
});

test('a work directory too deep for a socket path: jobs run on a per-client agent', async () => {
  const first = await t.engine.runFunction('calc.py:add', '[1, 2]', { projectDir: t.project });
  assert.equal(first.outcome.status === 'succeeded' && first.outcome.value!.repr, '3');
  const workDir = (await t.cloud.table.getInstance(first.instanceId))!.workDir;
  assert.ok(Buffer.byteLength(path.join(workDir, 'run', 'agent-0123456789abcdef.sock')) >= 100, 'the test needs a deep work directory');
  assert.deepEqual(fs.readdirSync(path.join(workDir, 'run')).filter((f) => f.endsWith('.sock') && f.startsWith('agent-') && !/^agent-\d+\.sock$/.test(f)), [], 'no daemon socket');
  const other = new Engine(t.cloud);
  try {
    const second = await other.runFunction('calc.py:add', '[3, 4]', { projectDir: t.project });
    assert.equal(second.outcome.status === 'succeeded' && second.outcome.value!.repr, '7');
  } finally {
    other.dispose();
  }
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});

test('an SSH server that refuses socket forwarding: jobs run on a per-client agent', async () => {
  const plain = testCloud({ 'calc.py': 'def add(a, b):\n    return a + b\n' });
  try {
    const first = await plain.engine.runFunction('calc.py:add', '[1, 1]', { projectDir: plain.project });
    assert.equal(first.outcome.status, 'succeeded');
    const instanceDir = path.dirname((await plain.cloud.table.getInstance(first.instanceId))!.workDir);
    // sshd takes the first value it reads for an option.
    const config = path.join(plain.cloud.provider.sshdDir(first.instanceId), 'sshd_config');
    const refusing = fs.readFileSync(config, 'utf8').replace(/^AllowStreamLocalForwarding .*$/m, 'AllowStreamLocalForwarding no');
    assert.match(refusing, /^AllowStreamLocalForwarding no$/m);
    fs.writeFileSync(config, refusing);
    // SIGHUP makes sshd re-read its configuration; give it a moment to listen again.
    process.kill(Number(fs.readFileSync(path.join(instanceDir, 'sshd.pid'), 'utf8')), 'SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    const client = new Engine(plain.cloud);
    try {
      const r = await client.runFunction('calc.py:add', '[5, 6]', { projectDir: plain.project });
      assert.equal(r.outcome.status === 'succeeded' && r.outcome.value!.repr, '11');
      assert.equal(r.instanceId, first.instanceId);
    } finally {
      client.dispose();
    }
    assert.deepEqual(await jobsOnAllInstances(plain.cloud), []);
  } finally {
    await plain.dispose();
  }
});
