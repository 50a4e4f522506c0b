// The Key Vault SecretStore against the fake Key Vault (test/support/fakeKeyVault.ts: HTTPS on
// 127.0.0.1, the 401 challenge, the SDK's recorded shapes), with the client's real credential chain
// and a stand-in `az` (test/support/fakeAz.ts). The secret store contracts run unchanged.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SecretClient } from '@azure/keyvault-secrets';
import { azureCredential } from '../../src/cloud/azure/credentials';
import { deleteSshKeySecret, KeyVaultSecretStore } from '../../src/cloud/azure/keyVaultSecretStore';
import { MeadowrunError } from '../../src/core/errors';
import { secretStoreContract, userSecretsContract } from '../contracts/secretStoreContract';
import { fakeAz } from '../support/fakeAz';
import { startFakeKeyVault, type FakeKeyVault } from '../support/fakeKeyVault';

const az = fakeAz();
process.env.PATH = az.path;
for (const k of Object.keys(process.env)) if (/^AZURE_/.test(k)) delete process.env[k];

describe('Key Vault secret store on a fake Key Vault', () => {
  let vault: FakeKeyVault;
  before(async () => {
    vault = await startFakeKeyVault();
  });
  after(async () => {
    await vault?.stop();
  });

  /** A client as the cloud makes one, trusting the fake's certificate (a child process would use NODE_EXTRA_CA_CERTS). */
  const client = () => new SecretClient(vault.url, azureCredential(), { disableChallengeResourceVerification: true, tlsOptions: { ca: vault.ca } });

  // Each store its own key and user prefix, as the contracts want separate stores.
  let stores = 0;
  const make = () => {
    const n = ++stores;
    return { client: () => new KeyVaultSecretStore(client(), `meadowrun-ssh-key-test-${n}`, `meadowrun-secret-t${n}-`) };
  };
  secretStoreContract('Key Vault store', make);
  userSecretsContract('Key Vault store', make);

  test('racing clients each add a version, and all use the oldest', async () => {
    const name = 'meadowrun-ssh-key-race';
    const pairs = await Promise.all(Array.from({ length: 4 }, () => new KeyVaultSecretStore(client(), name).getSshKeyPair()));
    for (const p of pairs) assert.deepEqual(p, pairs[0]);
    const versions = [];
    for await (const v of client().listPropertiesOfSecretVersions(name)) versions.push(v);
    versions.sort((a, b) => a.createdOn!.getTime() - b.createdOn!.getTime() || a.version!.localeCompare(b.version!));
    const oldest = await client().getSecret(name, { version: versions[0].version });
    assert.deepEqual(JSON.parse(oldest.value!), pairs[0], `the oldest of ${versions.length} versions`);
  });

  test('user secret names that differ only in case or by _ are kept apart, and a value over 25 KiB is refused', async () => {
    const store = make().client();
    await store.putSecret('Index', 'upper');
    await store.putSecret('index', 'lower');
    await store.putSecret('my_key', 'underscore');
    await store.putSecret('my-key', 'dash');
    assert.deepEqual(await store.listSecrets(), ['Index', 'index', 'my-key', 'my_key']);
    assert.equal(await store.getSecret('Index'), 'upper');
    assert.equal(await store.getSecret('my_key'), 'underscore');
    await assert.rejects(store.putSecret('big', 'x'.repeat(25 * 1024 + 1)), /Azure Key Vault holds at most 25600/);
  });

  test('a secret deleted by hand (soft, still recoverable) is recovered and set again', async () => {
    const store = new KeyVaultSecretStore(client(), 'meadowrun-ssh-key-soft', 'meadowrun-secret-soft-');
    await store.putSecret('token', 'first');
    let id = '';
    for await (const p of client().listPropertiesOfSecrets()) if (p.name.startsWith('meadowrun-secret-soft-')) id = p.name;
    await (await client().beginDeleteSecret(id, { intervalInMs: 50 })).pollUntilDone();
    assert.equal(await store.getSecret('token'), undefined, 'deleted');
    await store.putSecret('token', 'second');
    assert.equal(await store.getSecret('token'), 'second');
    assert.ok(vault.requests.includes(`POST /deletedsecrets/${id}/recover`), 'recovered, not refused');
  });

  test('the first request gets the challenge, then the Azure CLI token is sent; uninstall deletes and purges the key', async () => {
    const challengesBefore = vault.challenges;
    const store = new KeyVaultSecretStore(client(), 'meadowrun-ssh-key-gone');
    const first = await store.getSshKeyPair();
    assert.equal(vault.challenges, challengesBefore + 1, 'one challenge for a new client, then its token is reused');
    assert.deepEqual([...vault.tokens], ['fake-token-for-tests'], "the Azure CLI's token");
    await deleteSshKeySecret(client(), 'meadowrun-ssh-key-gone');
    await deleteSshKeySecret(client(), 'meadowrun-ssh-key-gone'); // gone already: not an error
    assert.ok(vault.requests.includes('DELETE /deletedsecrets/meadowrun-ssh-key-gone'), 'purged');
    const second = await new KeyVaultSecretStore(client(), 'meadowrun-ssh-key-gone').getSshKeyPair();
    assert.notEqual(second.publicKey, first.publicKey, 'a new key after uninstall');
  });
  test('without an Azure login, the first call fails with the one message that says to run az login', async () => {
    az.logout();
    try {
      const e = await new KeyVaultSecretStore(client(), 'meadowrun-ssh-key-nologin').getSshKeyPair().then(
        () => assert.fail('it succeeded'),
        (e: unknown) => e,
      );
      assert.ok(e instanceof MeadowrunError, `not ours: ${(e as Error).name}: ${(e as Error).message}`);
      assert.equal(e.code, 'cloud-credentials');
      assert.match(e.message, /^No Azure login: run `az login`/);
    } finally {
      az.login();
    }
  });
});
