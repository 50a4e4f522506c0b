import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { FilePayloadStore } from '../../src/cloud/local/filePayloadStore';
import { tempDir } from '../support/tempDir';

test('payloads are stored privately, read back by reference, streamed in, and deleted with their job', async () => {
  const store = new FilePayloadStore(path.join(tempDir('payloads'), 'payloads'));
  const ref = await store.put('map-1/a', Buffer.from('big argument'));
  const streamed = await store.put('map-1/b', Readable.from([Buffer.from('big '), Buffer.from('result')]));
  const other = await store.put('map-2/a', Buffer.from('another job'));
  assert.equal((await store.get(ref)).toString(), 'big argument');
  assert.equal((await store.get(streamed)).toString(), 'big result');
  assert.equal((fs.statSync(path.join(store.dir, 'map-1')).mode & 0o777).toString(8), '700');
  assert.equal((fs.statSync(path.join(store.dir, 'map-1', 'a')).mode & 0o777).toString(8), '600');
  await store.deleteJob('map-1');
  await assert.rejects(store.get(ref), /does not exist: its map job has ended/);
  assert.equal((await store.get(other)).toString(), 'another job', "another job's payloads stay");
  await store.deleteJob('map-1'); // again: not an error
});

test('a key that could reach outside the store is refused', async () => {
  const store = new FilePayloadStore(tempDir('payloads'));
  for (const key of ['../escape', 'map-1/../../x', 'map-1', 'map-1/a/b', '/etc/passwd', 'map-1/.']) {
    await assert.rejects(store.put(key, Buffer.from('x')), /Not a payload key/, key);
  }
  await assert.rejects(store.deleteJob('..'), /Not a payload key/);
});
