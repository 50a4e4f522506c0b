// What every PayloadStore must do (the port in src/cloud/ports.ts): call payloadStoreContract from
// a test file with a factory of empty stores.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { MeadowrunError } from '../../src/core/errors';
import { PayloadStore } from '../../src/cloud/ports';

export function payloadStoreContract(name: string, make: () => PayloadStore): void {
  test(`${name}: payloads are read back by reference, streamed in, and deleted with their job only`, async () => {
    const store = make();
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const ref = await store.put('map-1/a', big);
    const streamed = await store.put('map-1/b', Readable.from([Buffer.from('big '), Buffer.from('result')]));
    const other = await store.put('map-2/a', Buffer.from('another job'));
    assert.ok((await store.get(ref)).equals(big));
    assert.equal((await store.get(streamed)).toString(), 'big result');
    await store.deleteJob('map-1');
    await assert.rejects(store.get(ref), (e) => e instanceof MeadowrunError && e.code === 'payload-gone' && /does not exist: its map job has ended/.test(e.message));
    await assert.rejects(store.get(streamed), /does not exist/);
    assert.equal((await store.get(other)).toString(), 'another job', "another job's payloads stay");
    await store.deleteJob('map-1'); // again: not an error
  });

  test(`${name}: a key that could reach outside the store is refused`, async () => {
    const store = make();
    for (const key of ['../escape', 'map-1/../../x', 'map-1', 'map-1/a/b', '/etc/passwd', 'map-1/.']) {
      await assert.rejects(store.put(key, Buffer.from('x')), /Not a payload key/, key);
    }
    await assert.rejects(store.deleteJob('..'), /Not a payload key/);
  });
}
