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

/** User secrets (`meadowrun secret set`): the same contract for every store. */
export function userSecretsContract(name: string, make: () => SecretStoresUnderTest): void {
  test(`${name}: a secret set by one client is read, listed and deleted by another`, async () => {
    const stores = make();
    const [a, b] = [stores.client(), stores.client()];
    assert.deepEqual(await a.listSecrets(), []);
    assert.equal(await a.getSecret('index'), undefined);
    const value = 'user:pä55 word\nsecond line\n';
    await a.putSecret('index', value);
    await a.putSecret('git_key-2', 'key');
    assert.equal(await b.getSecret('index'), value, 'the value exactly, newlines and all');
    assert.deepEqual(await b.listSecrets(), ['git_key-2', 'index']);
    await b.putSecret('index', 'replaced');
    assert.equal(await a.getSecret('index'), 'replaced');
    assert.equal(await b.deleteSecret('index'), true);
    assert.equal(await b.deleteSecret('index'), false, 'gone already');
    assert.equal(await a.getSecret('index'), undefined);
    assert.deepEqual(await a.listSecrets(), ['git_key-2']);
    await a.putSecret('index', 'again');
    assert.equal(await a.getSecret('index'), 'again', 'a deleted name can be set again at once');
  });

  test(`${name}: user secrets are kept apart from the SSH key`, async () => {
    const stores = make();
    const s = stores.client();
    const pair = await s.getSshKeyPair();
    for (const n of ['ssh-key', 'id_ed25519', 'meadowrun-ssh-key']) await s.putSecret(n, 'not a key');
    assert.deepEqual(await stores.client().getSshKeyPair(), pair, 'no user secret replaces the key');
    assert.deepEqual(await s.listSecrets(), ['id_ed25519', 'meadowrun-ssh-key', 'ssh-key'], 'the key is not listed');
  });

  test(`${name}: names and values no store would take the same way are refused before anything is stored`, async () => {
    const s = make().client();
    for (const bad of ['', '../escape', 'a/b', 'with space', '-dash-first', 'x'.repeat(65), 'dot.ted']) {
      await assert.rejects(s.putSecret(bad, 'v'), (e: Error & { code?: string }) => e.code === 'bad-secret' && /not a secret name/.test(e.message), bad);
      await assert.rejects(s.getSecret(bad), /not a secret name/);
      await assert.rejects(s.deleteSecret(bad), /not a secret name/);
    }
    await assert.rejects(s.putSecret('empty', ''), /empty/);
    await assert.rejects(s.putSecret('big', 'x'.repeat(64 * 1024 + 1)), /at most 65536/);
    assert.deepEqual(await s.listSecrets(), []);
  });
}
