import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_MANAGEMENT_CONFIG, readThresholds, validateManagementConfig } from '../../src/core/management';

test('thresholds: optional fields default, and each invalid one is refused naming the threshold and the field', () => {
  assert.deepEqual(readThresholds([{ cpu: 1, memoryGb: 2, count: 1 }]), [{ cpu: 1, memoryGb: 2, count: 1, gpus: 0, maxEvictionRatePct: 0 }]);
  assert.deepEqual(readThresholds([{ name: 'gpu', cpu: 4, memoryGb: 16, gpus: 1, maxEvictionRatePct: 20, count: 2, instanceTypes: ['p3.*'] }])[0].gpus, 1);
  for (const [raw, message] of [
    [{}, /Threshold 1: cpu is required/],
    [[{ cpu: 1, memoryGb: 2, count: 1 }, { name: 'big', cpu: 0, memoryGb: 2, count: 1 }], /Threshold 2 \(big\): CPU must be more than 0/],
    [[{ cpu: 1, memoryGb: 2, count: 0 }], /count must be a whole number ≥ 1 \(got 0\)/],
    [[{ cpu: 1, memoryGb: 2, count: 1, gpus: 0.5 }], /GPUs must be a whole number/],
    [[{ cpu: 1, memoryGb: 2, count: 1, maxEvictionRatePct: 120 }], /max eviction rate must be between 0 and 100/],
    [[{ cpu: 1, memoryGb: 2, count: 1, cpus: 2 }], /unknown field cpus/],
    [[{ cpu: 1, memoryGb: 2, count: 1, instanceTypes: 'local.*' }], /instanceTypes must be a list/],
    [['2 CPUs'], /Threshold 1: must be an object/],
  ] as const) {
    const input = Array.isArray(raw) ? raw : [raw];
    assert.throws(() => readThresholds(input), (e: Error & { code?: string }) => message.test(e.message) && e.code === 'bad-config', JSON.stringify(raw));
  }
  assert.throws(() => readThresholds({ cpu: 1 }), /Thresholds must be a list/);
});

test('a management configuration is refused when its times are not positive', () => {
  assert.throws(() => validateManagementConfig({ ...DEFAULT_MANAGEMENT_CONFIG, idleTimeoutS: 0 }), /idle timeout must be a number of seconds above 0/);
  assert.throws(() => validateManagementConfig({ ...DEFAULT_MANAGEMENT_CONFIG, intervalS: NaN }), /interval must be/);
  assert.deepEqual(validateManagementConfig(DEFAULT_MANAGEMENT_CONFIG), DEFAULT_MANAGEMENT_CONFIG);
});
