// What the cloud-init (EC2 user data, Azure custom data) gives an instance for jobs in container
// images: the root-owned installer the agent may run through sudo (no arguments: nothing else as
// root), the agent's config naming it, and the docker group for the login user before any login.
// The e2e (integration/awsContainers.test.ts) runs all of it on an emulated instance.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { INSTALL_DOCKER, SSH_USER, userData } from '../../src/cloud/cloudInit';
import { AgentConfig } from '../../src/cloud/ports';

const config = {
  provider: 'aws',
  workDir: '/home/meadowrun/work',
  table: {},
  queues: {},
  payloads: {},
  interruption: {},
  sweep: { intervalS: 30, graceS: 60 },
  idle: { timeoutS: 420, marginS: 60 },
} as Omit<AgentConfig, 'instanceId'>;

function cloudConfig(): { write_files: { path: string; permissions: string; content: string }[]; runcmd: string[][] } {
  const text = Buffer.from(userData('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpAwknZX0JyNJVY7oitHQsb7EU x', config, { command: ['/usr/bin/node'], env: {} }, { known: 'vm-1' }), 'base64').toString();
  assert.ok(text.startsWith('#cloud-config\n'));
  return JSON.parse(text.slice('#cloud-config\n'.length));
}

test('the Docker installer: root-owned, valid sh, apt’s docker.io under a lock; sudo allows it without arguments only', () => {
  const files = cloudConfig().write_files;
  const installer = files.find((f) => f.path === INSTALL_DOCKER)!;
  assert.equal(installer.permissions, '0755');
  execFileSync('sh', ['-n'], { input: installer.content }); // throws on a syntax error
  assert.match(installer.content, /^#!\/bin\/sh\n/);
  assert.match(installer.content, /flock 9/);
  assert.match(installer.content, /apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends docker\.io/);
  const sudoers = files.find((f) => f.path === '/etc/sudoers.d/meadowrun')!;
  assert.equal(sudoers.permissions, '0440');
  // `""` after a command: sudo runs it only without arguments.
  assert.equal(sudoers.content, `${SSH_USER} ALL=(root) NOPASSWD: /usr/sbin/shutdown -h now, ${INSTALL_DOCKER} ""\n`);
});

test('the agent’s config names the installer; the login user joins the docker group at boot', () => {
  const { write_files: files, runcmd } = cloudConfig();
  const agentConfig = JSON.parse(files.find((f) => f.path === '/etc/meadowrun/agent.json.in')!.content);
  assert.deepEqual(agentConfig.docker, { install: INSTALL_DOCKER });
  assert.match(runcmd[0][2], new RegExp(`usermod -aG docker ${SSH_USER}`));
});
