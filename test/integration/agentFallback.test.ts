// When the resident agent's socket is out of reach (a work directory too deep for a socket path, or
// an SSH server that refuses socket forwarding), jobs still run: each client gets a private agent on
// its own SSH channel instead.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Logger } from '../../src/core/logger';
import { Engine } from '../../src/jobs/engine';
import { agentSocketPath } from '../../src/remote/agentBundle';
import { SshConnection } from '../../src/remote/connection';
import { jobsOnAllInstances, testCloud, TestCloud, waitFor } from '../support/localCloud';
import { tempDir } from '../support/tempDir';

let t: TestCloud;

/** A logger that keeps what it was told: the fallback says which path it took. */
function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => void lines.push(`${level} ${m}`);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

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
  const workDir = (await t.cloud.table.getInstance(first.instanceId))!.workDir!;
  assert.ok(Buffer.byteLength(path.join(workDir, 'run', 'agent-0123456789abcdef.sock')) >= 100, 'the test needs a deep work directory');
  assert.deepEqual(fs.readdirSync(path.join(workDir, 'run')).filter((f) => f.endsWith('.sock') && f.startsWith('agent-') && !/^agent-\d+\.sock$/.test(f)), [], 'no daemon socket');
  const log = recordingLog();
  const other = new Engine(t.cloud, { log });
  try {
    const second = await other.runFunction('calc.py:add', '[3, 4]', { projectDir: t.project });
    assert.equal(second.outcome.status === 'succeeded' && second.outcome.value!.repr, '7');
    assert.ok(log.lines.some((l) => l.includes(`${second.instanceId}: the agent's socket path is too long to forward; using a private agent`)), log.lines.join('\n'));
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
    const instanceDir = path.dirname((await plain.cloud.table.getInstance(first.instanceId))!.workDir!);
    // sshd takes the first value it reads for an option.
    const config = path.join(plain.cloud.provider.sshdDir(first.instanceId), 'sshd_config');
    const refusing = fs.readFileSync(config, 'utf8').replace(/^AllowStreamLocalForwarding .*$/m, 'AllowStreamLocalForwarding no');
    assert.match(refusing, /^AllowStreamLocalForwarding no$/m);
    fs.writeFileSync(config, refusing);
    // SIGHUP makes sshd re-read its configuration: wait until a new connection is refused a socket.
    process.kill(Number(fs.readFileSync(path.join(instanceDir, 'sshd.pid'), 'utf8')), 'SIGHUP');
    const record = (await plain.cloud.table.getInstance(first.instanceId))!;
    const { privateKey } = await plain.cloud.secrets.getSshKeyPair();
    await waitFor('sshd to refuse socket forwarding', async () => {
      const c = await SshConnection.open({ instanceId: record.id, endpoint: record.ssh!, privateKey, attempts: 1 }).catch(() => undefined);
      if (!c) return false;
      try {
        (await c.streamLocal(agentSocketPath(record.workDir!))).end();
        return false;
      } catch {
        return true;
      } finally {
        c.close();
      }
    });
    const log = recordingLog();
    const client = new Engine(plain.cloud, { log });
    try {
      const r = await client.runFunction('calc.py:add', '[5, 6]', { projectDir: plain.project });
      assert.equal(r.outcome.status === 'succeeded' && r.outcome.value!.repr, '11');
      assert.equal(r.instanceId, first.instanceId);
      assert.ok(log.lines.some((l) => l.includes(`${r.instanceId}: the resident agent's socket can't be reached`)), `the private agent was used:\n${log.lines.join('\n')}`);
    } finally {
      client.dispose();
    }
    assert.deepEqual(await jobsOnAllInstances(plain.cloud), []);
  } finally {
    await plain.dispose();
  }
});
