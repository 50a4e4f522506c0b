import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { MeadowrunError } from '../../src/core/errors';
import { createCloud, KNOWN_CLOUDS } from '../../src/cloud/registry';
import { tempDir } from '../support/tempDir';

const providerLoaded = (name: string) => Object.keys(require.cache).some((f) => f.includes(`${path.sep}cloud${path.sep}${name}${path.sep}`));
const localProviderLoaded = () => providerLoaded('local');

test('an unknown cloud is one clear error naming the known ones, and loads no provider', async () => {
  for (const name of ['nope', 'constructor', 'LOCAL', '']) {
    await assert.rejects(createCloud(name), (e: unknown) => {
      assert.ok(e instanceof MeadowrunError);
      assert.equal(e.message, `Unknown cloud "${name}" (known: local, aws, azure)`);
      assert.equal(e.code, 'unknown-cloud');
      return true;
    });
  }
  assert.deepEqual(KNOWN_CLOUDS.map((c) => c.name), ['local', 'aws', 'azure']);
  assert.equal(localProviderLoaded(), false, 'the local provider is loaded only when chosen');
  assert.equal(providerLoaded('aws'), false, 'nor the AWS one (and its SDK)');
});

test('"local" loads the local provider with its settings, management included', async () => {
  const stateDir = path.join(tempDir('registry'), 'state');
  const cloud = await createCloud('local', { local: { stateDir, instanceTypes: [{ name: 'local.only', cpu: 1, memoryGb: 1, gpus: 0, onDemandPrice: 0.01 }] } });
  assert.ok(localProviderLoaded());
  assert.equal(cloud.provider.name, 'local');
  assert.equal(cloud.location, `state in ${stateDir}`);
  assert.deepEqual((await cloud.provider.listInstanceTypes()).map((t) => t.name), ['local.only']);
  const status = await cloud.management.status();
  assert.equal(status.installed, false);
  assert.equal(status.logFile, path.join(stateDir, 'management', 'runner.log'));
  assert.equal((await cloud.management.config()).idleTimeoutS, 300);
});
