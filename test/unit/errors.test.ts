// Cancellation has one shape: whatever aborted, what leaves the engine is our 'cancelled' error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { atStage, isCancellation, MeadowrunError, ownCancellation, throwIfCancelled, withStage } from '../../src/core/errors';

test('a platform AbortError and ours are cancellations; other errors are not', () => {
  const controller = new AbortController();
  controller.abort();
  let platform: unknown;
  try {
    controller.signal.throwIfAborted();
  } catch (e) {
    platform = e;
  }
  assert.equal(isCancellation(platform), true);
  assert.equal(isCancellation(new MeadowrunError('Cancelled', 'cancelled')), true);
  assert.equal(isCancellation(new MeadowrunError('no room', 'no-room')), false);
  assert.equal(isCancellation(new Error('boom')), false);
  assert.equal(isCancellation(undefined), false);
});

test('ownCancellation turns an AbortError into ours, keeping it as the cause; other errors pass unchanged', () => {
  const abort = Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
  const ours = ownCancellation(abort) as MeadowrunError;
  assert.ok(ours instanceof MeadowrunError);
  assert.equal(ours.code, 'cancelled');
  assert.equal(ours.cause, abort);
  const other = new MeadowrunError('x', 'sync');
  assert.equal(ownCancellation(other), other);
});

test('throwIfCancelled and atStage never let a bare AbortError out', async () => {
  const controller = new AbortController();
  assert.doesNotThrow(() => throwIfCancelled(controller.signal));
  controller.abort();
  assert.throws(() => throwIfCancelled(controller.signal), (e: unknown) => e instanceof MeadowrunError && e.code === 'cancelled');
  await assert.rejects(
    atStage('launch', 'local-1', () => controller.signal.throwIfAborted()),
    (e: unknown) => e instanceof MeadowrunError && e.code === 'cancelled' && e.stage === 'launch' && (e.cause as Error).name === 'AbortError',
  );
  assert.equal(withStage(new TypeError('bug'), 'run').code, 'internal');
});
