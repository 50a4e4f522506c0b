// The Azure client's credential: the real @azure/identity chain (environment, then Azure CLI) with a
// stand-in `az` on PATH. A missing login, or no Azure CLI at all, is one MeadowrunError naming
// `az login`; a login gives a token and the CLI's default subscription.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { azureCredential, azureSettingsFromEnv, DEFAULT_RESOURCE_GROUP, requireLocation, resolveSubscription } from '../../src/cloud/azure/credentials';
import { MeadowrunError } from '../../src/core/errors';
import { fakeAz } from '../support/fakeAz';
import { tempDir } from '../support/tempDir';

const originalPath = process.env.PATH;
const az = fakeAz();

beforeEach(() => {
  for (const k of Object.keys(process.env)) if (/^(AZURE_|MEADOWRUN_AZURE_)/.test(k)) delete process.env[k];
  process.env.PATH = az.path;
  az.login();
});

async function credentialsFailure(p: Promise<unknown>): Promise<MeadowrunError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof MeadowrunError, `not ours: ${(e as Error).name}: ${(e as Error).message}`);
    assert.equal(e.code, 'cloud-credentials');
    return e;
  }
  assert.fail('it succeeded');
}

test('logged in with the Azure CLI: a token for the scope, and its default subscription', async () => {
  const token = await azureCredential().getToken('https://management.azure.com/.default');
  assert.equal(token?.token, 'fake-token-for-tests');
  assert.ok(token!.expiresOnTimestamp > Date.now());
  assert.equal(await resolveSubscription({}), az.subscription);
});

test("a storage token from the Azure CLI is a JWT for storage's audience from an Entra issuer, as Azurite's --oauth basic checks", async () => {
  const token = await azureCredential().getToken('https://storage.azure.com/.default');
  const claims = JSON.parse(Buffer.from(token!.token.split('.')[1], 'base64url').toString());
  assert.equal(claims.aud, 'https://storage.azure.com');
  assert.match(claims.iss, /^https:\/\/sts\.windows\.net\/[0-9a-z-]+\/$/);
  assert.ok(claims.nbf <= Date.now() / 1000 && claims.exp > Date.now() / 1000 + 3000);
  assert.ok(Math.abs(token!.expiresOnTimestamp - claims.exp * 1000) < 1000);
});

test('storage endpoints for a token (MEADOWRUN_AZURE_STORAGE_ENDPOINTS, MEADOWRUN_AZURE_INSTANCE_STORAGE_ENDPOINTS): JSON of https URLs, else a message naming the variable', async () => {
  const endpoints = { table: 'https://127.0.0.1:3/devstoreaccount1', queue: 'https://127.0.0.1:2/devstoreaccount1', blob: 'https://127.0.0.1:1/devstoreaccount1' };
  process.env.MEADOWRUN_AZURE_STORAGE_ENDPOINTS = JSON.stringify(endpoints);
  assert.deepEqual(azureSettingsFromEnv({}).endpoints?.storage, endpoints);
  const { openDataPorts } = await import('../../src/cloud/azure/data');
  const credential = { getToken: async () => null };
  const ports = openDataPorts({ storageAccount: 'acct', vaultName: 'v', credential, endpoints: azureSettingsFromEnv({}).endpoints });
  assert.deepEqual(ports.storage, { account: 'acct', credential, endpoints }, 'the account with the credential, at the endpoints');
  // A connection string (a key) is still the emulator's way when given.
  assert.deepEqual(openDataPorts({ storageAccount: 'acct', vaultName: 'v', credential, endpoints: { storageConnectionString: 'UseDevelopmentStorage=true', storage: endpoints } }).storage, { connectionString: 'UseDevelopmentStorage=true' });
  assert.equal(openDataPorts({ storageAccount: 'acct', vaultName: 'v', credential }).storage.endpoints, undefined, 'Azure: the account\'s own endpoints');
  for (const bad of ['{"table": "http://127.0.0.1:3"}', 'https://127.0.0.1:3']) {
    process.env.MEADOWRUN_AZURE_STORAGE_ENDPOINTS = bad;
    assert.throws(() => azureSettingsFromEnv({}), (e: Error) => e instanceof MeadowrunError && /^MEADOWRUN_AZURE_STORAGE_ENDPOINTS must be JSON naming the https URL of each storage service/.test(e.message));
  }
  delete process.env.MEADOWRUN_AZURE_STORAGE_ENDPOINTS;
  const { azureOptionsFromEnv } = await import('../../src/cloud/azure');
  assert.deepEqual(azureOptionsFromEnv({ MEADOWRUN_AZURE_INSTANCE_STORAGE_ENDPOINTS: JSON.stringify(endpoints) }).instance?.storageEndpoints, endpoints);
  assert.throws(() => azureOptionsFromEnv({ MEADOWRUN_AZURE_INSTANCE_STORAGE_ENDPOINTS: '{}' }), /^MeadowrunError: MEADOWRUN_AZURE_INSTANCE_STORAGE_ENDPOINTS must be JSON/);
});

test('a subscription given in the settings or AZURE_SUBSCRIPTION_ID is used without asking the CLI', async () => {
  az.logout();
  assert.equal(await resolveSubscription({ subscription: 'from-settings' }), 'from-settings');
  process.env.AZURE_SUBSCRIPTION_ID = 'from-env';
  assert.equal(await resolveSubscription({}), 'from-env');
});

test('not logged in: one message saying to run az login, for the token and for the subscription', async () => {
  az.logout();
  const e = await credentialsFailure(azureCredential().getToken('https://management.azure.com/.default'));
  assert.match(e.message, /^No Azure login: run `az login`/);
  const s = await credentialsFailure(resolveSubscription({}));
  assert.match(s.message, /No Azure subscription: run `az login`/);
});

test('no Azure CLI installed: the message says to install it, then az login', async () => {
  process.env.PATH = tempDir('empty-path');
  const e = await credentialsFailure(azureCredential().getToken('https://management.azure.com/.default'));
  assert.match(e.message, /Azure CLI \(az\) is not installed.*aka\.ms\/azure-cli.*`az login`/);
  const s = await credentialsFailure(resolveSubscription({}));
  assert.match(s.message, /set meadowrun\.azure\.subscription.*install the Azure CLI and run `az login`/);
  process.env.PATH = originalPath;
});

test('settings: defaults, the environment, and a missing location named', () => {
  process.env.MEADOWRUN_AZURE_STORAGE_CONNECTION_STRING = 'UseDevelopmentStorage=true';
  process.env.AZURE_LOCATION = 'westeurope';
  const s = azureSettingsFromEnv({ subscription: 'sub' });
  assert.equal(s.resourceGroup, DEFAULT_RESOURCE_GROUP);
  assert.equal(s.location, 'westeurope');
  assert.equal(s.endpoints?.storageConnectionString, 'UseDevelopmentStorage=true');
  assert.equal(azureSettingsFromEnv({ resourceGroup: 'rg', location: 'eastus' }).location, 'eastus');
  delete process.env.AZURE_LOCATION;
  assert.throws(() => requireLocation({}), /No Azure location: set meadowrun\.azure\.location \(or --location/);
});

test('the SSH source: meadowrun.azure.sshFrom / --ssh-from wins over MEADOWRUN_AZURE_SSH_FROM and reaches the VM provider; a bad one names the setting', async () => {
  process.env.MEADOWRUN_AZURE_SSH_FROM = '10.0.0.0/16';
  process.env.MEADOWRUN_AZURE_DIR = tempDir('azure-ssh-from');
  assert.equal(azureSettingsFromEnv({}).sshFrom, '10.0.0.0/16');
  assert.equal(azureSettingsFromEnv({ sshFrom: '192.0.2.0/24' }).sshFrom, '192.0.2.0/24');
  const { createAzureCloud } = await import('../../src/cloud/azure');
  const options = (c: Awaited<ReturnType<typeof createAzureCloud>>) => (c.provider as unknown as { o: { sshFrom?: string } }).o;
  assert.equal(options(await createAzureCloud({ subscription: 'sub', location: 'eastus' })).sshFrom, '10.0.0.0/16');
  assert.equal(options(await createAzureCloud({ subscription: 'sub', location: 'eastus', sshFrom: '192.0.2.0/24' })).sshFrom, '192.0.2.0/24');
  // Refused before anything is created in the subscription: the message names the setting and the flag.
  await assert.rejects(
    createAzureCloud({ subscription: 'sub', location: 'eastus', sshFrom: 'my-vpn' }),
    (e: MeadowrunError) => e.code === 'bad-config' && /meadowrun\.azure\.sshFrom \(--ssh-from\) must be an IPv4 CIDR such as 203\.0\.113\.7\/32 \(got "my-vpn"\)/.test(e.message),
  );
});
