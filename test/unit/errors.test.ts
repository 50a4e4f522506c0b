// Cancellation has one shape: whatever aborted, what leaves the engine is our 'cancelled' error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RestError } from '@azure/core-rest-pipeline';
import { atStage, describeError, isCancellation, MeadowrunError, ownCancellation, throwIfCancelled, withStage } from '../../src/core/errors';

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

test("an Azure storage error is one line: status, the service's code and why, without its request id, time or XML", () => {
  // Blob and Queue (and Azurite for every service) send XML; the authentication detail says why.
  const xml = new RestError(
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Error>\n  <Code>AuthenticationFailed</Code>\n  <Message>Server failed to authenticate the request.\nRequestId:ec93\nTime:2026-12-01T10:48:39.822Z</Message>\n  <AuthenticationErrorDetail>Lifetime validation failed. The token is expired.</AuthenticationErrorDetail>\n</Error>',
    { statusCode: 403 },
  );
  assert.equal(describeError(xml), 'HTTP 403 AuthenticationFailed: Lifetime validation failed. The token is expired.');
  // Tables send JSON (odata), the message value with the request id on its next lines.
  const json = new RestError(
    JSON.stringify({ 'odata.error': { code: 'AuthorizationPermissionMismatch', message: { lang: 'en-US', value: 'This request is not authorized to perform this operation using this permission.\nRequestId:5e1c\nTime:2026-12-01T10:00:00Z' } } }),
    { statusCode: 403, code: 'AuthorizationPermissionMismatch' },
  );
  assert.equal(describeError(json), 'HTTP 403 AuthorizationPermissionMismatch: This request is not authorized to perform this operation using this permission.');
  // What the SDK already parsed: its code and the message's first line.
  assert.equal(describeError(new RestError('The specified queue does not exist.\nRequestId:1\nTime:2', { statusCode: 404, code: 'QueueNotFound' })), 'HTTP 404 QueueNotFound: The specified queue does not exist.');
  assert.equal(describeError(new Error('plain\nsecond line')), 'plain\nsecond line', 'other errors as they are');
});
