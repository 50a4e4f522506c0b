// A command that ends at once still reports its exit status when the client reads the server's
// acknowledgement of the exec and the exit status together: ssh2 then emits 'exit' before the caller
// of SshConnection.channel() resumes, so the status is listened for in ssh2's callback (and taken
// from 'close' too). A quick `test -s agent || exit N` is the first exec on a just-booted EC2
// instance, where a start "ended without an exit status" was seen.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SshConnection } from '../../src/remote/connection';
import { testCloud, TestCloud } from '../support/localCloud';

let t: TestCloud;

before(() => {
  t = testCloud({ 'calc.py': 'def one():\n    return 1\n' });
});

after(async () => {
  await t.dispose();
});

test('quick commands report their exit status, even when the client reads the acknowledgement and the status together', async () => {
  const first = await t.engine.runFunction('calc.py:one', '[]', { projectDir: t.project });
  const instance = (await t.cloud.table.getInstance(first.instanceId))!;
  const conn = await SshConnection.open({ instanceId: instance.id, endpoint: instance.ssh!, privateKey: (await t.cloud.secrets.getSshKeyPair()).privateKey });
  try {
    // Hold this client's reads from the moment each exec request goes out (ssh2's protocol writes
    // it), so that the acknowledgement and the exit status of the quick command are read together.
    const client = (conn as unknown as { client: { _sock: { pause(): void; resume(): void }; _protocol: { exec: (...a: unknown[]) => unknown } } }).client;
    const exec = client._protocol.exec.bind(client._protocol);
    client._protocol.exec = (...a: unknown[]) => {
      const sent = exec(...a);
      client._sock.pause();
      setTimeout(() => client._sock.resume(), 200);
      return sent;
    };
    for (let i = 1; i <= 5; i++) assert.equal((await conn.exec(`exit ${i}`)).exitCode, i);
  } finally {
    conn.close();
  }
});
