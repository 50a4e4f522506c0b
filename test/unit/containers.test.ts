// Container deployments without Docker: which references are taken, which registry they name,
// what a credentials secret may hold, and the exact `docker run` command line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkImageRef, containerName, dockerFailure, dockerRunArgs, imageRegistry, installFailure, INSTALL_FAILED, parseRegistryCredentials } from '../../src/core/containers';
import { parseDeploymentChoice } from '../../src/core/deployment';
import { deploymentFrom } from '../../src/cli/run';

test('image references: Docker’s forms are taken; options, spaces and upper-case paths are not', () => {
  for (const ref of ['python', 'python:3.12-slim', 'library/python:3', '127.0.0.1:5000/team/py:1', 'registry.example.com/a/b/c', `ghcr.io/x/y@sha256:${'a'.repeat(64)}`, 'localhost/app']) {
    assert.equal(checkImageRef(ref), ref);
  }
  for (const ref of ['', '-v/:/host', '--privileged', 'py thon', 'Python:3', 'a/b:', 'a:b:c']) {
    assert.throws(() => checkImageRef(ref), /is not a container image reference/, ref);
  }
});

test('the registry an image names: a first component that looks like a host, else Docker Hub', () => {
  assert.equal(imageRegistry('python:3.12'), 'docker.io');
  assert.equal(imageRegistry('team/app:1'), 'docker.io');
  assert.equal(imageRegistry('127.0.0.1:5000/team/py:1'), '127.0.0.1:5000');
  assert.equal(imageRegistry('ghcr.io/org/app'), 'ghcr.io');
  assert.equal(imageRegistry('localhost/app'), 'localhost');
});

test('registry credentials: JSON or user:password; anything else is refused without showing the value', () => {
  assert.deepEqual(parseRegistryCredentials('{"username": "alice", "password": "p:w"}', 'reg'), { username: 'alice', password: 'p:w' });
  assert.deepEqual(parseRegistryCredentials('{"user": "bob", "token": "t0k"}\n', 'reg'), { username: 'bob', password: 't0k' });
  assert.deepEqual(parseRegistryCredentials('alice:pa:ss\n', 'reg'), { username: 'alice', password: 'pa:ss' });
  for (const bad of ['justatoken-s3cret', ':s3cret', 'alice:', '{"username": "a"}', '{not json s3cret']) {
    assert.throws(
      () => parseRegistryCredentials(bad, 'reg'),
      (e: Error) => /Secret "reg" does not hold registry credentials/.test(e.message) && !e.message.includes('s3cret'),
      bad,
    );
  }
});

test('docker run: removed when done, an init, stdin kept open, the host network, the agent’s user, the folders at the same paths', () => {
  const args = dockerRunArgs({
    jobId: 'abc-123',
    image: 'py:1',
    interpreter: 'python3',
    script: '/w/forkserver-1.py',
    socketPath: '/w/run/agent-9.sock',
    mounts: ['/w', '/w/run', '/w'],
    cwd: '/w/projects/p',
    uid: 1000,
    gid: 1001,
  });
  assert.deepEqual(args, [
    'run', '--rm', '--init', '-i', '--name', 'meadowrun-job-abc-123', '--network', 'host', '--user', '1000:1001',
    '--env', 'MEADOWRUN_FORWARD_SIGINT=1', '--env', 'HOME=/tmp', '--workdir', '/w/projects/p',
    '--volume', '/w:/w', '--volume', '/w/run:/w/run',
    '--', 'py:1', 'python3', '-u', '/w/forkserver-1.py', '/w/run/agent-9.sock',
  ]);
  assert.throws(() => dockerRunArgs({ jobId: 'j', image: 'py', interpreter: 'python3', script: '/a:b/s.py', socketPath: '/a:b/s', mounts: ['/a:b'], cwd: '/a:b', uid: 0, gid: 0 }), /has a ':' in its path/);
  assert.equal(containerName('x/y z'), 'meadowrun-job-x_y_z');
});

test('docker’s failure in a line: its last error line', () => {
  assert.equal(
    dockerFailure('Using default tag: latest\nError response from daemon: Head "http://127.0.0.1:5000/v2/team/py/manifests/1": no basic auth credentials\n'),
    'Error response from daemon: Head "http://127.0.0.1:5000/v2/team/py/manifests/1": no basic auth credentials',
  );
  assert.equal(dockerFailure("docker: Error response from daemon: No such image: x.\nSee 'docker run --help'.\n"), 'Error response from daemon: No such image: x.');
  assert.equal(dockerFailure(''), 'docker failed with no output');
});

test('Docker’s installation failed: apt’s first error line, else the installer’s own, else its last line', () => {
  const apt = ['Reading package lists...', 'Building dependency tree...', 'E: Unable to locate package docker.io', `${INSTALL_FAILED} apt-get install docker.io failed`];
  assert.equal(installFailure(apt), 'E: Unable to locate package docker.io');
  assert.equal(installFailure(['Synchronizing state of docker.service', `${INSTALL_FAILED} could not start docker.service`]), 'could not start docker.service');
  assert.equal(installFailure(['sudo: a password is required']), 'sudo: a password is required');
  assert.equal(installFailure([]), 'the installer failed with no output');
});

test('choosing an image: --deployment image=REF or "image REF", --image, and --image-secret only with an image', () => {
  assert.deepEqual(parseDeploymentChoice('image=py:1'), { kind: 'image', image: 'py:1' });
  assert.deepEqual(parseDeploymentChoice('image py:1'), { kind: 'image', image: 'py:1' });
  assert.throws(() => parseDeploymentChoice('image'), /name the image/);
  assert.deepEqual(deploymentFrom({ deployment: { kind: 'auto' }, image: 'py:1', imageSecret: 'reg' }).deployment, { kind: 'image', image: 'py:1', imageSecret: 'reg' });
  assert.deepEqual(deploymentFrom({ deployment: parseDeploymentChoice('image=py:2'), imageSecret: 'reg' }).deployment, { kind: 'image', image: 'py:2', imageSecret: 'reg' });
  assert.throws(() => deploymentFrom({ deployment: { kind: 'requirements' }, image: 'py:1' }), /name two different deployments/);
  assert.throws(() => deploymentFrom({ deployment: { kind: 'auto' }, imageSecret: 'reg' }), /--image-secret is for a container image/);
});
