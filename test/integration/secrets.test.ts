// `meadowrun secret set|list|delete` end to end on the local cloud's store: values from stdin or a
// file (never argv), never printed, kept in 0600 files apart from Meadowrun's own SSH key.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../support/tempDir';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const stateDir = path.join(tempDir('secrets-cli'), 'state');

function meadowrun(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [cli, '--state-dir', stateDir, ...args], { input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('secret set from stdin and from a file, list, delete; values never printed', () => {
  const value = 'alice:s3cr3t-Pa55';
  const set = meadowrun(['secret', 'set', 'index-creds'], value + '\n');
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stderr, /^Secret index-creds set \(18 bytes\) on the local cloud \(state in /);
  const keyFile = path.join(tempDir('secrets-cli-key'), 'id');
  fs.writeFileSync(keyFile, '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n', { mode: 0o600 });
  assert.equal(meadowrun(['secret', 'set', 'git_key', '--file', keyFile]).code, 0);

  const file = path.join(stateDir, 'secrets', 'user', 'index-creds');
  assert.equal(fs.readFileSync(file, 'utf8'), value + '\n', 'stored exactly as given');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.readFileSync(path.join(stateDir, 'secrets', 'user', 'git_key'), 'utf8'), fs.readFileSync(keyFile, 'utf8'));

  const list = meadowrun(['secret', 'list']);
  assert.equal(list.stdout, 'git_key\nindex-creds\n');
  assert.deepEqual(JSON.parse(meadowrun(['secret', 'list', '--json']).stdout), ['git_key', 'index-creds']);

  assert.equal(meadowrun(['secret', 'delete', 'git_key']).code, 0);
  const again = meadowrun(['secret', 'delete', 'git_key']);
  assert.equal(again.code, 1);
  assert.equal(again.stderr, 'meadowrun: There is no secret git_key\n');
  assert.equal(meadowrun(['secret', 'list']).stdout, 'index-creds\n');
  for (const r of [set, list]) assert.ok(!(r.stdout + r.stderr).includes('s3cr3t'), 'the value is never printed');
});

test('a bad name, an empty value, a missing file or a value on the command line: one line, nothing stored', () => {
  const bad = meadowrun(['secret', 'set', '../x'], 'v');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^meadowrun: "\.\.\/x" is not a secret name: use 1 to 64 letters, digits, - and _/);
  assert.match(meadowrun(['secret', 'set', 'empty'], '').stderr, /The value for secret empty is empty/);
  assert.match(meadowrun(['secret', 'set', 'nofile', '--file', '/nonexistent/x']).stderr, /^meadowrun: Cannot read \/nonexistent\/x: ENOENT\n$/);
  const argv = meadowrun(['secret', 'set', 'inline', 'the-value'], '');
  assert.notEqual(argv.code, 0, 'no way to pass the value as an argument');
  assert.ok(!meadowrun(['secret', 'list']).stdout.match(/inline|empty|nofile/), 'nothing stored');
});
