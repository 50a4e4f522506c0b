// Jobs in a container image on the real local cloud, with Debian's Docker engine (a dockerd of this
// test's own: no bridge, no NAT, containers on the host's network) and an image made here from this
// machine's Python, served by a private registry on loopback that wants a password.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { MeadowrunError } from '../../src/core/errors';
import { JobEvent, JobOptions } from '../../src/jobs/engine';
import { Docker, dockerUnavailable, Registry, buildPythonImage, pushImage, startDocker, startRegistry } from '../support/docker';
import { agentProcesses } from '../support/instanceProcesses';
import { jobsOnAllInstances, makeProject, testCloud, TestCloud, waitFor } from '../support/localCloud';
import { runNode } from '../support/runNode';

const unavailable = dockerUnavailable();
if (unavailable) console.log(`# container tests skipped: ${unavailable}`);

let docker: Docker;
let registry: Registry;
let t: TestCloud;
const LOCAL_IMAGE = 'mr-python:1';
let privateImage: string;

before(async () => {
  if (unavailable) return;
  docker = await startDocker();
  // The local cloud's instances are this machine: they use the engine the client's DOCKER_HOST names.
  process.env.DOCKER_HOST = docker.host;
  await buildPythonImage(docker, LOCAL_IMAGE);
  registry = await startRegistry('alice', 'correct horse');
  privateImage = `${registry.address}/team/py:1`;
  await pushImage(docker, LOCAL_IMAGE, privateImage, registry.address, 'alice', 'correct horse');
  t = testCloud({}, { sweepIntervalS: 1 });
});

after(async () => {
  await t?.dispose();
  await registry?.close();
  await docker?.close();
});

const project = makeProject({
  'where.py': [
    'import os, sys',
    'def where(n):',
    '    print("hello from the container", flush=True)',
    '    with open("written-in-container.txt", "w") as f:',
    '        f.write("yes")',
    '    return {"n": n * 2, "dockerenv": os.path.exists("/.dockerenv"), "python": sys.executable, "job": os.environ.get("MEADOWRUN_JOB_ID")}',
    '',
  ].join('\n'),
  'exit3.py': 'import sys\nprint("bye")\nsys.exit(3)\n',
  'forever.py': 'import time\nprint("ready", flush=True)\nwhile True:\n    time.sleep(0.1)\n',
});

function options(image: string, events: JobEvent[] = [], extra: JobOptions = {}): JobOptions {
  return { projectDir: project, deployment: { kind: 'image', image }, onEvent: (e) => events.push(e), ...extra };
}

const containers = async () => (await docker.run(['ps', '-a', '--filter', 'name=meadowrun-job-', '--format', '{{.Names}}'])).split('\n').filter(Boolean);

test('a function runs inside the image: its own Python, the project mounted (files it writes are the project’s), output streamed', { skip: unavailable }, async () => {
  const events: JobEvent[] = [];
  let out = '';
  const r = await t.engine.runFunction('where.py:where', '[21]', { ...options(LOCAL_IMAGE, events), onOutput: (_s, d) => (out += d.toString()) });
  assert.equal(r.outcome.status, 'succeeded', JSON.stringify(r.outcome));
  const value = JSON.parse((r.outcome.status === 'succeeded' && r.outcome.value?.json) || '{}');
  assert.equal(value.n, 42);
  assert.equal(value.dockerenv, true, 'it ran in a container');
  assert.match(value.python, /^\/usr\/bin\/python3/);
  assert.equal(value.job, r.jobId);
  assert.match(out, /hello from the container/);
  assert.ok(events.some((e) => e.kind === 'deployment' && e.source === `image ${LOCAL_IMAGE}`));
  const workDir = (await t.cloud.table.getInstance(r.instanceId))!.workDir!;
  const started = events.find((e): e is Extract<JobEvent, { kind: 'started' }> => e.kind === 'started')!;
  assert.equal(fs.readFileSync(`${started.projectDir}/written-in-container.txt`, 'utf8'), 'yes');
  assert.ok(started.projectDir.startsWith(workDir));
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
  // The result is back once the job exits; its container goes right after.
  await waitFor('the container to be removed', async () => (await containers()).length === 0);
});

test('a map’s workers and its arguments run in the image too', { skip: unavailable }, async () => {
  const mapProject = makeProject({ 'tasks.py': 'import os\ndef tag(x):\n    return [x * 10, os.path.exists("/.dockerenv")]\n' });
  const r = await t.engine.runMap('tasks.py:tag', { kind: 'expression', expr: '[i for i in range(4) if __import__("os").path.exists("/.dockerenv")]' }, {
    projectDir: mapProject,
    deployment: { kind: 'image', image: LOCAL_IMAGE },
    workers: 2,
    resources: { cpu: 0.5, memoryGb: 0.5 },
  });
  assert.equal(r.status, 'succeeded');
  assert.deepEqual(r.results.map((x) => x?.ok && x.value.json), ['[0, true]', '[10, true]', '[20, true]', '[30, true]']);
  await waitFor('the workers’ containers to go', async () => (await containers()).length === 0);
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});

test('a script’s exit status comes back from the container', { skip: unavailable }, async () => {
  let out = '';
  const r = await t.engine.runCommand('exit3.py', [], { ...options(LOCAL_IMAGE), onOutput: (_s, d) => (out += d.toString()) });
  assert.deepEqual(r.outcome, { status: 'exited', exitCode: 3 });
  assert.equal(out, 'bye\n');
});

test('cancelling a job in a container interrupts it, removes the container and frees its allocation', { skip: unavailable }, async () => {
  const controller = new AbortController();
  const running = t.engine.runCommand('forever.py', [], {
    ...options(LOCAL_IMAGE),
    signal: controller.signal,
    onOutput: (_s, d) => d.toString().includes('ready') && controller.abort(),
  });
  const r = await running.then(
    (x) => x.outcome,
    (e: MeadowrunError) => ({ status: e.code }),
  );
  assert.equal(r.status, 'cancelled', JSON.stringify(r));
  await waitFor('the container to go', async () => (await containers()).length === 0);
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});

test('`docker run` killed outright: the container stops with it, and the sweep frees the allocation', { skip: unavailable }, async () => {
  const events: JobEvent[] = [];
  let pid = 0;
  const running = t.engine.runCommand('forever.py', [], {
    ...options(LOCAL_IMAGE, events),
    onOutput: (_s, d) => {
      if (d.toString().includes('ready')) {
        pid = (events.find((e) => e.kind === 'started') as Extract<JobEvent, { kind: 'started' }>).pid;
        process.kill(pid, 'SIGKILL');
      }
    },
  });
  const r = await running;
  assert.equal(r.outcome.status, 'crashed', JSON.stringify(r.outcome));
  assert.ok(pid > 0);
  await waitFor('the container to stop', async () => (await containers()).length === 0);
  await waitFor('the sweep to free the job', async () => (await jobsOnAllInstances(t.cloud)).length === 0);
});

test('the agent killed outright: its jobs’ containers stop with it, and the sweep frees their allocations', { skip: unavailable }, async () => {
  let killed = 0;
  const events: JobEvent[] = [];
  const running = t.engine.runCommand('forever.py', [], {
    ...options(LOCAL_IMAGE, events),
    onOutput: (_s, d) => {
      if (!d.toString().includes('ready') || killed) return;
      const instanceId = (events.find((e) => e.kind === 'allocated') as Extract<JobEvent, { kind: 'allocated' }>).instanceId;
      for (const pid of agentProcesses(instanceId, 'daemon')) {
        process.kill(pid, 'SIGKILL');
        killed++;
      }
    },
  });
  await running.catch(() => undefined); // the client lost its agent: how it says so is not this test's
  assert.ok(killed > 0, 'the agent daemon was found and killed');
  await waitFor('the container to stop', async () => (await containers()).length === 0);
  await waitFor('the sweep to free the job', async () => (await jobsOnAllInstances(t.cloud)).length === 0);
});

test('an image from a registry that wants a password, without credentials: one clear error at the environment stage, nothing left allocated', { skip: unavailable }, async () => {
  await assert.rejects(t.engine.runFunction('where.py:where', '[1]', options(privateImage)), (e: MeadowrunError) => {
    assert.equal(e.code, 'environment');
    assert.equal(e.stage, 'environment');
    assert.match(e.message, new RegExp(`^Container image ${privateImage.replace(/[.]/g, '\\.')}: docker pull failed: .*(no basic auth credentials|unauthorized)`));
    return true;
  });
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});

test('with the registry’s credentials from a secret: pulled once (streamed), run, and no Docker login left on the instance', { skip: unavailable }, async () => {
  await t.cloud.secrets.putSecret('registry', JSON.stringify({ username: 'alice', password: 'correct horse' }));
  const events: JobEvent[] = [];
  const r = await t.engine.runFunction('where.py:where', '[5]', options(privateImage, events, { deployment: { kind: 'image', image: privateImage, imageSecret: 'registry' } }));
  assert.equal(r.outcome.status, 'succeeded', JSON.stringify(r.outcome));
  assert.equal(JSON.parse((r.outcome.status === 'succeeded' && r.outcome.value?.json) || '{}').dockerenv, true);
  const env = events.flatMap((e) => (e.kind === 'environment' ? [e.event] : []));
  assert.deepEqual(env[0], { kind: 'pulling', image: privateImage });
  assert.equal(env.at(-1)!.kind, 'pulled');
  const workDir = (await t.cloud.table.getInstance(r.instanceId))!.workDir!;
  assert.deepEqual(fs.readdirSync(`${workDir}/docker`), [], 'the per-job Docker config (with the login) is gone');
  const log = fs.readFileSync(r.logPath!, 'utf8');
  assert.match(log, /Pulling image .* \(first time on this instance\)/);
  assert.ok(!log.includes('correct horse'), 'the password is not in the job log');
  // The second job finds the image there: nothing pulled.
  const again: JobEvent[] = [];
  const r2 = await t.engine.runFunction('where.py:where', '[6]', options(privateImage, again, { deployment: { kind: 'image', image: privateImage, imageSecret: 'registry' } }));
  assert.equal(r2.outcome.status, 'succeeded');
  assert.deepEqual(again.filter((e) => e.kind === 'environment'), []);
});

test('wrong registry credentials, or no such secret: one clear error naming the stage and the secret, nothing left allocated', { skip: unavailable }, async () => {
  await t.cloud.secrets.putSecret('wrong-registry', 'alice:battery staple');
  const image = (secret: string): JobOptions => ({ deployment: { kind: 'image', image: privateImage, imageSecret: secret } });
  await assert.rejects(t.engine.runFunction('where.py:where', '[1]', options(privateImage, [], image('wrong-registry'))), (e: MeadowrunError) => {
    assert.equal(e.stage, 'environment');
    assert.match(e.message, new RegExp(`^Container image ${privateImage.replace(/[.]/g, '\\.')}: docker login to ${registry.address.replace(/[.]/g, '\\.')} with the credentials in secret "wrong-registry" failed: .*401 unauthorized$`, "i"));
    assert.ok(!e.message.includes('battery'), 'the password is not in the message');
    return true;
  });
  await assert.rejects(t.engine.runFunction('where.py:where', '[1]', options(privateImage, [], image('nosuch'))), /: there is no secret "nosuch" \(meadowrun secret set nosuch\)$/);
  await assert.rejects(t.engine.runFunction('where.py:where', '[1]', options(privateImage, [], image('bad name'))), /"bad name" is not a secret name/);
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});

test('the CLI: --image with --image-secret runs in the image; --image-secret without an image is refused', { skip: unavailable, timeout: 120_000 }, async () => {
  const cli = (...args: string[]) => runNode(path.join(__dirname, '..', '..', 'dist', 'cli.js'), ['--state-dir', t.cloud.stateDir, ...args], { cwd: project, env: { ...process.env, DOCKER_HOST: docker.host } });
  await t.cloud.secrets.putSecret('registry', 'alice:correct horse');
  const ok = await cli('run-function', 'where.py:where', '--args', '[4]', '--image', privateImage, '--image-secret', 'registry', '--json');
  assert.equal(ok.code, 0, ok.stderr);
  const value = JSON.parse(JSON.parse(ok.stdout).outcome.value.json);
  assert.deepEqual([value.n, value.dockerenv], [8, true]);
  const bad = await cli('run-function', 'where.py:where', '--args', '[4]', '--image-secret', 'registry');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--image-secret is for a container image: add --image REF/);
});

test('a bad image reference is refused before anything is allocated', { skip: unavailable }, async () => {
  await assert.rejects(t.engine.runFunction('where.py:where', '[1]', options('-v/:/host')), (e: MeadowrunError) => {
    assert.equal(e.code, 'bad-deployment');
    assert.match(e.message, /is not a container image reference/);
    return true;
  });
});

test('overhead: a warm job in a container against one outside it', { skip: unavailable }, async () => {
  const time = async (o: JobOptions) => {
    const began = process.hrtime.bigint();
    const r = await t.engine.runFunction('where.py:where', '[1]', o);
    assert.equal(r.outcome.status, 'succeeded');
    return Number(process.hrtime.bigint() - began) / 1e6;
  };
  const plain: number[] = [];
  const boxed: number[] = [];
  for (let i = 0; i < 3; i++) {
    plain.push(await time({ projectDir: project, deployment: { kind: 'none' } }));
    boxed.push(await time(options(LOCAL_IMAGE)));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1];
  console.log(`# warm run_function: ${median(plain).toFixed(0)} ms without a container, ${median(boxed).toFixed(0)} ms in one (+${(median(boxed) - median(plain)).toFixed(0)} ms)`);
  assert.ok(median(boxed) > 0);
});

