// Jobs in a container image on the emulated AWS (moto + instances that really boot): the instance
// has no Docker, so the first job in an image installs it — Debian's docker.io, from a local apt
// repository this test serves to the instances (built from Debian's packages by
// scripts/install-docker-apt-repo.sh), the instance's only package mirror — once, under a lock,
// shown as a step. dockerd then really runs inside the instance (a systemd-nspawn machine) and pulls
// the image from a registry on this machine that wants a password, with the credentials the agent
// reads from Secrets Manager with the instance's role. A mirror without docker.io, and wrong
// credentials, each give one clear message and leave nothing allocated or running.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DynamoAllocationTable } from '../../src/cloud/aws/dynamoAllocationTable';
import { WORK_DIR } from '../../src/cloud/cloudInit';
import { dockerAptRepo, forwardTcp, serveAptRepos, type AptRepos, type Forwarder } from '../support/aptRepo';
import { buildPythonImage, dockerUnavailable, pushImage, startDocker, startRegistry, type Docker, type Registry } from '../support/docker';
import { ec2EmulatorUnavailable, startEc2Emulator, type Ec2Emulator } from '../support/ec2emu';
import { startFakePricing, type FakePricing } from '../support/fakePricing';
import { makeProject } from '../support/localCloud';
import { startNode } from '../support/runNode';
import { tempDir } from '../support/tempDir';

const unavailable = ec2EmulatorUnavailable() ?? dockerUnavailable();
const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const MARKER = '/etc/meadowrun-test-image';

describe('jobs in a container image on the emulated AWS: Docker installed on first need', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let emu: Ec2Emulator;
  let pricing: FakePricing;
  let repos: AptRepos;
  let docker: Docker;
  let registry: Registry;
  let forwarder: Forwarder;
  let image: string;
  let project: string;
  let env: NodeJS.ProcessEnv;
  let machineFiles: Record<string, string>;

  before(async () => {
    const repoDir = dockerAptRepo();
    emu = await startEc2Emulator();
    pricing = await startFakePricing({ prices: { 'c5.large': 0.085, 'm5.large': 0.096 } });
    repos = await serveAptRepos(emu.gateway, { full: repoDir, empty: null });
    docker = await startDocker();
    await buildPythonImage(docker, 'mr-aws-py:1', { [MARKER]: 'the test image\n' });
    registry = await startRegistry('alice', 'correct horse');
    await pushImage(docker, 'mr-aws-py:1', `${registry.address}/team/py:1`, registry.address, 'alice', 'correct horse');
    // The instances reach the registry at the gateway; without TLS, as the instance's Docker is told.
    forwarder = await forwardTcp(emu.gateway, registry.address);
    image = `${forwarder.address}/team/py:1`;
    machineFiles = { '/etc/docker/daemon.json': JSON.stringify({ 'insecure-registries': [forwarder.address] }) };
    // The instances' package mirror at first lacks docker.io.
    emu.setMachineFiles({ ...machineFiles, '/etc/apt/sources.list': repos.source('empty') });
    project = makeProject({
      'where.py': [
        'import os, sys',
        'def where():',
        '    print(f"python {sys.version.split()[0]} in the image", flush=True)',
        `    return {"python": sys.version.split()[0], "image": open("${MARKER}").read().strip() if os.path.exists("${MARKER}") else None, "dockerenv": os.path.exists("/.dockerenv")}`,
        '',
      ].join('\n'),
    });
    const home = tempDir('aws-containers-home');
    env = {
      PATH: process.env.PATH,
      HOME: home,
      ...emu.moto.env,
      ...pricing.env,
      MEADOWRUN_AWS_INSTANCE_ENDPOINT: emu.instanceEndpoint,
      MEADOWRUN_AWS_DIR: path.join(home, 'aws'),
    };
  });

  after(async () => {
    await forwarder?.close();
    await registry?.close();
    await docker?.close();
    await repos?.close();
    await pricing?.stop();
    await emu?.stop();
  });

  /** A CLI run; `reached` settles once its stderr passes `when` (at once without it). */
  const meadowrun = (args: string[], input = '', when: (stderr: string) => boolean = () => true) => {
    const run = startNode(cli, ['--cloud', 'aws', '--ami', 'ami-12c6146b', '--ssh-from', '127.0.0.1/32', ...args], { cwd: project, env, input });
    return Object.assign(run.done, { reached: run.until((out) => when(out.stderr)), done: run.done });
  };
  const inImage = (secret: string) => ['run-function', 'where.py:where', '--image', image, '--image-secret', secret];
  const table = () => {
    Object.assign(process.env, emu.moto.env);
    return DynamoAllocationTable.open({}, 'meadowrun-allocation');
  };
  const nothingAllocated = async () => {
    for (const row of await table().listInstances()) assert.deepEqual(row.jobs, {}, `jobs left on ${row.id}`);
  };
  const onInstance = (id: string, command: string) => {
    const r = emu.exec(id, ['sh', '-c', command]);
    assert.equal(r.code, 0, `${command}: ${r.stderr}`);
    return r.stdout.trim();
  };

  /** `docker run --rm` removes a job's container once it has exited, after the result is back. */
  const noContainerLeft = async () => {
    const deadline = Date.now() + 30_000;
    while (onInstance(instanceId, 'docker ps -aq') !== '') {
      assert.ok(Date.now() < deadline, `containers left on the instance: ${onInstance(instanceId, 'docker ps -a')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  let instanceId: string;

  it('a mirror without docker.io: the step is shown, then one clear message with apt’s line; nothing left allocated', async () => {
    const r = await meadowrun(inImage('registry'));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Installing Docker on this instance \(first time\)/);
    assert.match(r.stderr, /Docker could not be installed on this instance: E: Unable to locate package docker\.io/);
    assert.equal(r.stderr.match(/could not be installed/g)?.length, 1, r.stderr);
    assert.ok(repos.requests.some((p) => p.startsWith('/empty/')), 'the instance asked the test’s mirror');
    instanceId = /failed on (i-[0-9a-f]+)/.exec(r.stderr)![1];
    assert.deepEqual(emu.instances().map((i) => i.id), [instanceId]);
    await nothingAllocated();
    // The instance was launched for the job: it goes with its failure.
    await emu.waitForGone(instanceId);
  });

  it('with the mirror fixed: two jobs at once install Docker once (an earlier installation interrupted first), pull the image with the credentials from Secrets Manager, and run in it', async () => {
    // dpkg's journal as an installation killed midway leaves it: apt refuses to install until dpkg finishes it.
    emu.setMachineFiles({ ...machineFiles, '/etc/apt/sources.list': repos.source('full'), '/var/lib/dpkg/updates/0001': '' });
    const set = await meadowrun(['secret', 'set', 'registry'], JSON.stringify({ username: 'alice', password: 'correct horse' }));
    assert.equal(set.code, 0, set.stderr);
    // Docker's package is held back until the second job too waits for the installation.
    const release = repos.hold(/^docker\.io_/);
    const first = meadowrun(inImage('registry'), '', (stderr) => stderr.includes('Installing Docker'));
    await first.reached;
    const second = meadowrun(inImage('registry'), '', (stderr) => stderr.includes('Installing Docker'));
    await second.reached;
    release();
    const [a, b] = await Promise.all([first.done, second.done]);
    instanceId = /Launched (i-[0-9a-f]+)/.exec(a.stderr)![1];
    for (const r of [a, b]) {
      assert.equal(r.code, 0, r.stderr);
      // The function's own output, and its result (printed as Python would), from inside the image.
      assert.match(r.stdout + r.stderr, /python 3\.\d+\.\d+ in the image/);
      assert.match(r.stdout, /'image': 'the test image', 'dockerenv': True/);
      assert.match(r.stderr, /Installing Docker on this instance \(first time\)/);
      assert.doesNotMatch(r.stderr, /Reading database \.\.\. \d+%/, 'dpkg’s redrawn progress is shown as a terminal would');
      assert.ok(!r.stderr.includes('correct horse'));
    }
    assert.match(b.stderr, new RegExp(`on ${instanceId}`), 'both on the same instance');
    assert.equal(emu.instances().length, 1);
    assert.equal(onInstance(instanceId, "grep -c '^Commandline: .* install .*docker.io' /var/log/apt/history.log"), '1', 'one installation');
    assert.equal(onInstance(instanceId, 'ls /var/lib/dpkg/updates | wc -l'), '0', 'the interrupted work was finished first');
    assert.match(onInstance(instanceId, 'docker info --format {{.Driver}}'), /\w+/);
    const installed = Number(/Docker installed in ([\d.]+) s/.exec(a.stderr + b.stderr)?.[1]);
    const held = repos.heldMs() / 1000;
    console.log(
      `aws: Docker installed on first need in ${(installed - held).toFixed(1)} s (${installed.toFixed(1)} s with docker.io held ${held.toFixed(1)} s for the second job); ` +
        `the first two jobs in the image took ${a.seconds.toFixed(1)} s (with the launch) and ${b.seconds.toFixed(1)} s, CLI to result`,
    );
    // The next job finds Docker and the image there: no step, no pull.
    const again = await meadowrun(inImage('registry'));
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout + again.stderr, /python 3\.\d+\.\d+ in the image/);
    assert.doesNotMatch(again.stderr, /Installing Docker|Pulling image/);
    const plain = await meadowrun(['run-function', 'where.py:where']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /'image': None, 'dockerenv': False/);
    console.log(`aws: the next job in the image ${again.seconds.toFixed(1)} s; the same function outside it ${plain.seconds.toFixed(1)} s (each a new CLI process)`);
    await nothingAllocated();
    await noContainerLeft();
    assert.equal(onInstance(instanceId, `ls -A ${WORK_DIR}/docker`), '', 'no Docker login left');
  });

  it('wrong registry credentials: one clear message naming the secret; nothing left allocated or running', async () => {
    const set = await meadowrun(['secret', 'set', 'wrong-registry'], 'alice:battery staple');
    assert.equal(set.code, 0, set.stderr);
    const r = await meadowrun(inImage('wrong-registry'));
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.includes('wrong-registry'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], new RegExp(`Container image ${image.replace(/[.]/g, '\\.')}: docker login to ${forwarder.address.replace(/[.]/g, '\\.')} with the credentials in secret "wrong-registry" failed: .*401 unauthorized`, 'i'));
    assert.ok(!r.stderr.includes('battery'));
    await nothingAllocated();
    await noContainerLeft();
    assert.equal(onInstance(instanceId, `ls -A ${WORK_DIR}/docker`), '', 'no Docker login left');
  });
});
