import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packJobs, PackableInstance, pickInstanceForJob } from '../../src/core/packing';
import { Resources } from '../../src/core/resources';

const inst = (id: string, cpu: number, memoryGb: number, gpus = 0, preventFurtherAllocation?: boolean): PackableInstance => ({
  id,
  free: { cpu, memoryGb, gpus },
  gpus,
  spot: false,
  preventFurtherAllocation,
});
const job = (cpu: number, memoryGb: number, gpus = 0, extra: Partial<Resources> = {}): Resources => ({
  cpu,
  memoryGb,
  gpus,
  maxEvictionRatePct: 0,
  ...extra,
});

test('fullest that fits first', () => {
  const pool = [inst('empty', 8, 32), inst('half', 4, 16), inst('nearlyFull', 1, 4), inst('tooFull', 0.5, 1)];
  assert.equal(pickInstanceForJob(pool, job(1, 2))?.id, 'nearlyFull');
  assert.equal(pickInstanceForJob(pool, job(2, 2))?.id, 'half');
  // Equal CPU: least free memory, then GPUs, then id.
  assert.equal(pickInstanceForJob([inst('b', 2, 8), inst('a', 2, 4)], job(1, 1))?.id, 'a');
  assert.equal(pickInstanceForJob([inst('g', 2, 4, 1), inst('n', 2, 4, 0)], job(1, 1))?.id, 'n');
  assert.equal(pickInstanceForJob([inst('b', 2, 4), inst('a', 2, 4)], job(1, 1))?.id, 'a');
  // A GPU job skips fuller instances without GPUs.
  assert.equal(pickInstanceForJob([inst('cpu', 1, 4), inst('gpu', 8, 32, 1)], job(1, 1, 1))?.id, 'gpu');
});

test('skips instances with preventFurtherAllocation', () => {
  const pool = [inst('draining', 1, 4, 0, true), inst('open', 8, 32)];
  assert.equal(pickInstanceForJob(pool, job(1, 2))?.id, 'open');
  assert.equal(pickInstanceForJob([inst('draining', 8, 32, 0, true)], job(1, 2)), undefined);
  assert.deepEqual(packJobs(pool, job(1, 2), 2), { placements: [{ id: 'open', jobs: 2 }], unplaced: 0 });
});

test('multiple jobs fill an instance before moving on', () => {
  const pool = [inst('big', 8, 32), inst('small', 2, 8)];
  const got = packJobs(pool, job(1, 2), 5);
  // small takes 2 (it is fuller), then big takes the rest.
  assert.deepEqual(got, { placements: [{ id: 'small', jobs: 2 }, { id: 'big', jobs: 3 }], unplaced: 0 });
  // The caller's capacities are untouched.
  assert.deepEqual(pool[1].free, { cpu: 2, memoryGb: 8, gpus: 0 });
  // Fractional needs: 0.1 + 0.2 fits 0.3 of free CPU, all three times.
  assert.deepEqual(packJobs([inst('f', 0.3, 3)], job(0.1, 1), 3), { placements: [{ id: 'f', jobs: 3 }], unplaced: 0 });
});

test('unplaced count when capacity runs out', () => {
  const pool = [inst('a', 2, 4), inst('b', 1, 8)];
  assert.deepEqual(packJobs(pool, job(1, 2), 5), {
    placements: [{ id: 'b', jobs: 1 }, { id: 'a', jobs: 2 }],
    unplaced: 2,
  });
  assert.deepEqual(packJobs([], job(1, 1), 3), { placements: [], unplaced: 3 });
  assert.deepEqual(packJobs(pool, job(1, 1), 0), { placements: [], unplaced: 0 });
});
