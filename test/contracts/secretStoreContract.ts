// What every SecretStore must do (the port in src/cloud/ports.ts): call secretStoreContract from a
// test file with a factory of stores that share one backing store, each as a separate client would.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { utils } from 'ssh2';
import { SecretStore } from '../../src/cloud/ports';

export interface SecretStoresUnderTest {
  /** A new client of the same, initially empty, store. */
  client(): SecretStore;
}

export function secretStoreContract(name: string, make: () => SecretStoresUnderTest): void {
  test(`${name}: the first use makes an ed25519 key pair whose halves belong together`, async () => {
    const { privateKey, publicKey } = await make().client().getSshKeyPair();
    const priv = utils.parseKey(privateKey);
    const pub = utils.parseKey(publicKey);
    assert.ok(!(priv instanceof Error) && !(pub instanceof Error), 'both halves parse');
    assert.equal(priv.type, 'ssh-ed25519');
    assert.match(publicKey, /^ssh-ed25519 [A-Za-z0-9+/=]+ meadowrun$/);
    assert.ok(priv.isPrivateKey() && !pub.isPrivateKey());
    const data = Buffer.from('meadowrun');
    assert.ok(pub.verify(data, priv.sign(data)), 'a signature of the private half verifies with the public one');
  });

  test(`${name}: the same pair for every later use and every other client`, async () => {
    const stores = make();
    const a = stores.client();
    const first = await a.getSshKeyPair();
    assert.deepEqual(await a.getSshKeyPair(), first);
    assert.deepEqual(await stores.client().getSshKeyPair(), first);
  });

  test(`${name}: clients that use it first at the same moment agree on one pair`, async () => {
    const stores = make();
    const pairs = await Promise.all(Array.from({ length: 6 }, () => stores.client().getSshKeyPair()));
    for (const p of pairs) assert.deepEqual(p, pairs[0]);
    assert.deepEqual(await stores.client().getSshKeyPair(), pairs[0], 'and it is the one kept');
  });

  test(`${name}: separate stores have separate keys`, async () => {
    const [a, b] = await Promise.all([make().client().getSshKeyPair(), make().client().getSshKeyPair()]);
    assert.notEqual(a.publicKey, b.publicKey);
  });
}
