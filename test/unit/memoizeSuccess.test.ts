// The clouds keep what is costly to get (the SSH key pair from a secret store) once it was got,
// but not a failure: a credentials or network error must not stick for the process's life.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoizeSuccess } from '../../src/cloud/memoizeSuccess';

test('a success is shared by every call, also the calls made while it is pending', async () => {
  let runs = 0;
  const get = memoizeSuccess(async () => ++runs);
  const [a, b] = await Promise.all([get(), get()]);
  assert.deepEqual([a, b, await get(), runs], [1, 1, 1, 1]);
});

test('a failure is not remembered: the next call runs the load again', async () => {
  let runs = 0;
  const get = memoizeSuccess(async () => {
    if (++runs === 1) throw new Error('network down');
    return runs;
  });
  await assert.rejects(get(), /network down/);
  assert.equal(await get(), 2);
  assert.equal(await get(), 2);
  assert.equal(runs, 2);
});
