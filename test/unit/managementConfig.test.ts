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

test('thresholds: GPU memory and CPU features are read as people write them, and checked', () => {
  const [t] = readThresholds([{ cpu: 1, memoryGb: 2, count: 1, gpus: 1, gpuMemoryGb: 16, cpuFeatures: 'AVX2, intel' }]);
  assert.deepEqual([t.gpuMemoryGb, t.cpuFeatures], [16, ['avx2', 'intel']]);
  assert.deepEqual(readThresholds([{ cpu: 1, memoryGb: 2, count: 1, cpuFeatures: ['AVX512'] }])[0].cpuFeatures, ['avx512']);
  assert.throws(() => readThresholds([{ cpu: 1, memoryGb: 2, count: 1, cpuFeatures: ['sse'] }]), /Threshold 1: unknown CPU feature "sse" \(known: avx, avx2, avx512, intel, amd\)/);
  assert.throws(() => readThresholds([{ cpu: 1, memoryGb: 2, count: 1, cpuFeatures: 2 }]), /Threshold 1: CPU features must be a list/);
  assert.throws(() => readThresholds([{ cpu: 1, memoryGb: 2, count: 1, gpuMemoryGb: 16 }]), /Threshold 1: GPU memory \(16 GB\) needs at least 1 GPU/);
});

test('a management configuration is refused when its times are not positive', () => {
  assert.throws(() => validateManagementConfig({ ...DEFAULT_MANAGEMENT_CONFIG, idleTimeoutS: 0 }), /idle timeout must be a number of seconds above 0/);
  assert.throws(() => validateManagementConfig({ ...DEFAULT_MANAGEMENT_CONFIG, intervalS: NaN }), /interval must be/);
  assert.deepEqual(validateManagementConfig(DEFAULT_MANAGEMENT_CONFIG), DEFAULT_MANAGEMENT_CONFIG);
});
