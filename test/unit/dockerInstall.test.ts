// The agent's side of Docker's installation (agent/containers.ts), with a stand-in installer in
// place of the cloud-init's root script and an engine address nothing answers on: jobs that ask
// while it runs join the one installation and hear its lines; its failure is one line.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Containers, ImageError, PrepareProgress } from '../../src/agent/containers';
import { tempDir } from '../support/tempDir';

function recorder() {
  const events: string[] = [];
  let installing!: () => void;
  const started = new Promise<void>((r) => (installing = r));
  const progress: PrepareProgress = {
    installing: () => {
      events.push('installing');
      installing();
    },
    installed: () => events.push('installed'),
    line: (l) => events.push(`| ${l}`),
  };
  return { events, progress, started };
}

test('two jobs at once: one installation, both shown the step and its lines (dpkg’s redrawn line once); a failure is apt’s line', async () => {
  const dir = tempDir('docker-install');
  const count = path.join(dir, 'runs');
  const gate = path.join(dir, 'gate');
  const installer = [
    'sh', '-c',
    `echo run >> '${count}'; while [ ! -e '${gate}' ]; do sleep 0.05; done; printf 'Reading database ... \\r(Reading database ... 50%%\\r(Reading database ... 100%%\\n'; echo 'Docker is running'`,
  ];
  const containers = new Containers({ workDir: dir, dockerHost: `unix://${dir}/nothing.sock`, installDocker: installer });
  const a = recorder();
  const b = recorder();
  const image = { ref: 'mr-none:1' };
  // After the installation the pull fails (no engine here): what matters is what came before it.
  const first = containers.prepare(image, 'j1', a.progress).catch((e: Error) => e);
  await a.started;
  const second = containers.prepare(image, 'j2', b.progress).catch((e: Error) => e);
  await b.started;
  fs.writeFileSync(gate, '');
  const [ea, eb] = await Promise.all([first, second]);
  for (const e of [ea, eb]) assert.ok(e instanceof ImageError && /^docker pull failed/.test(e.message), String(e));
  assert.equal(fs.readFileSync(count, 'utf8'), 'run\n', 'one installation');
  for (const r of [a, b]) assert.deepEqual(r.events.slice(0, 4), ['installing', '| (Reading database ... 100%', '| Docker is running', 'installed']);

  const failing = new Containers({ workDir: dir, dockerHost: `unix://${dir}/nothing.sock`, installDocker: ['sh', '-c', 'echo Reading package lists...; echo "E: Unable to locate package docker.io" >&2; echo "meadowrun-docker-install-failed: apt-get install docker.io failed"; exit 1'] });
  await assert.rejects(failing.prepare(image, 'j3', recorder().progress), { message: 'Docker could not be installed on this instance: E: Unable to locate package docker.io' });
  const noSudo = new Containers({ workDir: dir, dockerHost: `unix://${dir}/nothing.sock`, installDocker: [path.join(dir, 'no-such-sudo'), '-n', '/x'] });
  await assert.rejects(noSudo.prepare(image, 'j4', recorder().progress), { message: `Docker could not be installed on this instance: ${path.join(dir, 'no-such-sudo')} is not installed on it` });
});
