// What Set Default Resources offers at each step, checked against the local cloud's catalog.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { choicesAt, featureCounts, plural, problemAt } from '../../src/core/resourceChoices';
import { DEFAULT_LOCAL_INSTANCE_TYPES as types } from '../../src/cloud/local/instanceTypes';

test('units are pluralised properly, with a space', () => {
  assert.deepEqual([plural(1, 'CPU'), plural(2, 'CPU'), plural(0.5, 'CPU'), plural(0, 'GPU')], ['1 CPU', '2 CPUs', '0.5 CPUs', '0 GPUs']);
});

test('the CPU step offers what some type has, the current value marked, each with its cheapest price', () => {
  const choices = choicesAt('cpu', types, {}, 2);
  assert.deepEqual(choices.map((c) => c.label), ['0.5 CPUs', '1 CPU', '2 CPUs', '4 CPUs', '8 CPUs']);
  assert.deepEqual(choices.filter((c) => c.current).map((c) => c.value), [2]);
  assert.equal(choices.find((c) => c.value === 2)!.description, 'from $0.0208/h (local.medium)');
});

test('a current value that fits nothing is still shown, with the reason', () => {
  const [sixteen] = choicesAt('cpu', types, {}, 16).filter((c) => c.current);
  assert.equal(sixteen.label, '16 CPUs');
  assert.equal(sixteen.description, 'fits no instance type: No instance type has 16 CPUs: the largest, local.xlarge, has 8 CPUs');
});

test('a typed value is checked against the catalog, with the reason', () => {
  assert.equal(problemAt('cpu', '16', types, {}), 'No instance type has 16 CPUs: the largest, local.xlarge, has 8 CPUs');
  assert.equal(problemAt('cpu', '6', types, {}), undefined);
  assert.equal(problemAt('cpu', 'two', types, {}), 'Type a number of CPUs');
  assert.equal(problemAt('cpu', '0', types, {}), 'Must be more than 0 CPUs');
  assert.equal(problemAt('memoryGb', '32', types, { cpu: 8 }), 'No instance type with 8 CPUs has 32 GB: the most is 16 GB (local.xlarge)');
  assert.equal(problemAt('gpus', '1.5', types, { cpu: 1, memoryGb: 1 }), 'GPUs must be a whole number');
  assert.equal(problemAt('gpus', '1', types, { cpu: 8, memoryGb: 2 }), 'No instance type with 8 CPUs and 2 GB has GPUs');
  assert.equal(problemAt('gpus', '2', types, { cpu: 2, memoryGb: 2 }), 'No instance type with 2 CPUs and 2 GB has 2 GPUs: the most is 1 GPU (local.gpu)');
  assert.match(problemAt('gpuMemoryGb', '24', types, { cpu: 2, memoryGb: 2, gpus: 1 })!, /not enough GPU memory \(the types big enough have at most 16 GB per GPU\)/);
  assert.equal(problemAt('maxEvictionRatePct', '101', types, {}), 'An eviction rate is at most 100%');
  assert.equal(problemAt('cpu', '16', undefined, {}), undefined, 'without a catalog only the range is checked');
});

test('later steps offer only what fits the earlier choices', () => {
  assert.deepEqual(choicesAt('memoryGb', types, { cpu: 8 }, 2).map((c) => c.label), ['0.5 GB', '1 GB', '2 GB', '4 GB', '8 GB', '16 GB']);
  assert.deepEqual(choicesAt('gpus', types, { cpu: 8, memoryGb: 2 }, 0).map((c) => c.label), ['No GPUs']);
  const gpus = choicesAt('gpus', types, { cpu: 2, memoryGb: 4 }, 0);
  assert.deepEqual(gpus.map((c) => [c.label, c.description]), [['No GPUs', 'from $0.0208/h (local.medium)'], ['1 GPU', 'from $0.5260/h (local.gpu)']]);
  assert.deepEqual(choicesAt('gpuMemoryGb', types, { cpu: 2, memoryGb: 4, gpus: 1 }, 0).map((c) => c.label), ['Any', '8 GB', '16 GB']);
  const eviction = choicesAt('maxEvictionRatePct', types, { cpu: 2, memoryGb: 4, gpus: 0 }, 0);
  assert.deepEqual(eviction.map((c) => [c.label, c.description]), [
    ['0% (on-demand only)', 'from $0.0208/h (local.medium)'],
    ['5% (spot allowed)', 'from $0.0208/h (local.medium)'],
    ['10% (spot allowed)', 'from $0.0062/h (local.medium, spot)'],
    ['15% (spot allowed)', 'from $0.0062/h (local.medium, spot)'],
    ['20% (spot allowed)', 'from $0.0062/h (local.medium, spot)'],
    ['100% (spot allowed)', 'from $0.0062/h (local.medium, spot)'],
  ]);
  assert.deepEqual(featureCounts(types, { cpu: 8, memoryGb: 16, gpus: 0 }, ['avx512', 'intel']), { avx512: '1 of 1 fitting type', intel: '0 of 1 fitting type' });
});
