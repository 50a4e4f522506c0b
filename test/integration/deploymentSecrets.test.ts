// Deployments that need secrets, on the real local cloud: a private package index (HTTP basic
// authentication) whose credentials the instance reads from the secret store and hands to pip in
// a netrc file; the password never reaches a command line, the job's log or the client's events.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { EnvironmentEvent } from '../../src/core/deployment';
import { MeadowrunError } from '../../src/core/errors';
import { JobOptions } from '../../src/jobs/engine';
import { makeProject, testCloud, TestCloud } from '../support/localCloud';
import { PackageIndex, startPackageIndex } from '../support/packageIndex';

// Quotes, a space, a hash and a backslash: what a netrc file must carry intact.
const PASSWORD = 'pa#ss w"rd\\x';
let t: TestCloud;
let index: PackageIndex;

before(async () => {
  index = await startPackageIndex([{ name: 'tinyc', version: '0.1' }], { auth: { user: 'alice', password: PASSWORD } });
  t = testCloud({});
  await t.cloud.secrets.putSecret('index-creds', `alice:${PASSWORD}\n`);
  await t.cloud.secrets.putSecret('index-wrong', 'alice:not-it');
});

after(async () => {
  await t.dispose();
  await index.close();
});

const project = makeProject({ 'requirements.txt': 'tinyc==0.1\n', 'job.py': 'import tinyc\ndef version():\n    return tinyc.VERSION\n' });

function options(events: EnvironmentEvent[], indexSecret?: string): JobOptions {
  return {
    projectDir: project,
    deployment: { kind: 'auto' },
    index: { indexUrl: index.url, indexSecret },
    onEvent: (e) => e.kind === 'environment' && events.push(e.event),
  };
}

async function environmentError(indexSecret?: string): Promise<MeadowrunError> {
  const events: EnvironmentEvent[] = [];
  const e = await t.engine.runFunction('job.py:version', '[]', options(events, indexSecret)).then(
    () => assert.fail('the build should fail'),
    (e: unknown) => e as MeadowrunError,
  );
  assert.ok(e instanceof MeadowrunError, String(e));
  assert.equal(e.stage, 'environment');
  assert.ok(!JSON.stringify(events).includes('not-it'), 'no password in the events');
  return e;
}

test('a wrong password in the index secret is one environment message naming the secret', async () => {
  const e = await environmentError('index-wrong');
  assert.match(e.message, /^requirements\.txt: the index at 127\.0\.0\.1:\d+ refused the credentials in secret index-wrong \(HTTP 401\): check them, and set them again with `meadowrun secret set index-wrong`$/);
  assert.ok(!e.message.includes('\n'));
});

test('an index that asks for credentials, with no secret named, says to name one', async () => {
  const e = await environmentError();
  assert.match(e.message, /the index at 127\.0\.0\.1:\d+ asks for credentials \(HTTP 401\): keep them in a secret/);
});

test('a secret that does not exist is named, with the command that makes it', async () => {
  const e = await environmentError('no-such-secret');
  assert.equal(e.message, 'requirements.txt: there is no secret no-such-secret (the index secret): create it with `meadowrun secret set no-such-secret`');
});

test('an index secret without an index to use it for is refused before anything is allocated', async () => {
  const e = await t.engine.runFunction('job.py:version', '[]', { projectDir: project, deployment: { kind: 'auto' }, index: { indexSecret: 'index-creds' } }).catch((x: MeadowrunError) => x);
  assert.ok(e instanceof MeadowrunError);
  assert.equal(e.stage, 'check');
  assert.match(e.message, /The index secret index-creds needs the index it is for: set --index-url/);
  const bad = await t.engine.runFunction('job.py:version', '[]', { projectDir: project, deployment: { kind: 'auto' }, index: { indexUrl: index.url, indexSecret: '../x' } }).catch((x: MeadowrunError) => x);
  assert.match((bad as Error).message, /"\.\.\/x" is not a secret name/);
});

test('with the right secret, pip installs from the private index; the password is in no log and no file is left', async () => {
  const events: EnvironmentEvent[] = [];
  const r = await t.engine.runFunction('job.py:version', '[]', options(events, 'index-creds'));
  assert.equal(r.outcome.status, 'succeeded', JSON.stringify(r.outcome));
  assert.equal(r.outcome.status === 'succeeded' && r.outcome.value?.json, '"0.1"');
  assert.ok(events.some((e) => e.kind === 'log' && /credentials from secret index-creds/.test(e.line)));
  const expected = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
  assert.ok(index.authorizations.includes(expected), 'pip sent the credentials from the netrc file');
  const log = fs.readFileSync(r.logPath!, 'utf8');
  for (const text of [log, JSON.stringify(events)]) assert.ok(!text.includes(PASSWORD) && !text.includes(expected.slice(6)), 'the password is never shown');
  const envs = path.join((await t.cloud.table.getInstance(r.instanceId))!.workDir!, 'envs');
  assert.deepEqual(fs.readdirSync(envs).filter((f) => f.startsWith('.netrc')), [], 'the netrc file went with the build');
});
