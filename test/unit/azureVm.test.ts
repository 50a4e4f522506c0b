// The Azure VM provider's pure parts: the Ubuntu image for a size, Resource Manager's error codes as
// they reach the provider (a RestError's code, or the code in a failed operation's message), and
// the quota message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { armErrorCode, quotaError, ubuntuImage } from '../../src/cloud/azure/vmProvider';

test('Ubuntu 24.04: generation 2 on x64, generation 1 where a size has only that, Arm64 on Ampere sizes', () => {
  assert.equal(ubuntuImage({ architecture: 'x86_64', hyperVGenerations: ['V1', 'V2'] }).sku, 'server');
  assert.equal(ubuntuImage({ architecture: 'x86_64', hyperVGenerations: ['V1'] }).sku, 'server-gen1');
  assert.equal(ubuntuImage({ architecture: 'arm64', hyperVGenerations: ['V2'] }).sku, 'server-arm64');
  assert.deepEqual(ubuntuImage(undefined), { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' });
});

test("armErrorCode reads a RestError's code, its details, or a failed operation's message; network errors have none", () => {
  assert.equal(armErrorCode({ code: 'SkuNotAvailable', message: 'x' }), 'SkuNotAvailable');
  assert.equal(armErrorCode({ details: { error: { code: 'OperationNotAllowed' } } }), 'OperationNotAllowed');
  assert.equal(armErrorCode(new Error('The long-running operation has failed. AllocationFailed. Allocation failed. We do not have sufficient capacity')), 'AllocationFailed');
  assert.equal(armErrorCode({ code: 'ECONNRESET', message: 'socket hang up' }), '');
  assert.equal(armErrorCode(undefined), '');
});

test('a used-up quota names it: the family from the message, Spot as Total Regional Spot vCPUs; other OperationNotAllowed errors are not quotas', () => {
  const type = { name: 'Standard_D2s_v5', cpu: 2, memoryGb: 8, gpus: 0, onDemandPrice: 0.096, spotPrice: 0.02 };
  const family = quotaError(
    { code: 'OperationNotAllowed', message: 'Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota. Additional details …' },
    { type, spot: false, price: 0.096 },
    'eastus',
  );
  assert.equal(family?.code, 'quota');
  assert.match(family!.message, /"standardDSv5Family vCPUs" in eastus is used up \(launching Standard_D2s_v5\)/);
  const spot = quotaError({ code: 'OperationNotAllowed', message: 'exceeding approved LowPriorityCores Cores quota' }, { type, spot: true, price: 0.02 }, 'eastus');
  assert.match(spot!.message, /"Total Regional Spot vCPUs".*or run pay-as-you-go/);
  assert.equal(quotaError({ code: 'OperationNotAllowed', message: 'The VM is being deleted' }, { type, spot: false, price: 0.096 }, 'eastus'), undefined);
  assert.equal(quotaError({ code: 'SkuNotAvailable', message: 'quota' }, { type, spot: false, price: 0.096 }, 'eastus'), undefined);
});
