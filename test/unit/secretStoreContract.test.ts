// The secret store's contract on the local cloud's files (the AWS one runs in test/integration/awsPorts.test.ts).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { FileSecretStore } from '../../src/cloud/local/fileSecretStore';
import { secretStoreContract, userSecretsContract } from '../contracts/secretStoreContract';
import { tempDir } from '../support/tempDir';

secretStoreContract('file secret store', () => {
  const dir = tempDir('secrets');
  return { client: () => new FileSecretStore(dir) };
});

userSecretsContract('file secret store', () => {
  const dir = tempDir('secrets');
  return { client: () => new FileSecretStore(dir) };
});

test('file secret store: user secrets are files only the user can read, in a directory only the user can open', async () => {
  const dir = tempDir('secrets');
  const store = new FileSecretStore(path.join(dir, 'secrets'));
  await store.putSecret('token', 'abc');
  const file = path.join(dir, 'secrets', 'user', 'token');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['token'], 'no temporary file left');
});
