// The Azure implementations of the data-plane ports against Azurite (test/support/azurite.ts):
// every contract suite, unchanged, including the table history run by separate processes that open
// the table through the Azure instance side, as a VM's agent does. Twice: with Azurite's shared key
// over http (a connection string), and over https with tokens as on Azure (`--oauth basic`): the
// client's from the Azure CLI login (the stand-in az), the history processes' from a VM's managed
// identity (a stand-in metadata service).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TableClient } from '@azure/data-tables';
import type { PipelineRequest, SendRequest } from '@azure/core-rest-pipeline';
import { QueueServiceClient } from '@azure/storage-queue';
import type { AzureAgentConfig } from '../../src/cloud/azure/agentConfig';
import { BlobPayloadStore, ensurePayloadContainer } from '../../src/cloud/azure/blobPayloadStore';
import { QueueTaskQueues } from '../../src/cloud/azure/queueTaskQueues';
import { statusCode, storageErrorCode, type StorageAccess } from '../../src/cloud/azure/storage';
import { createAllocationTable, TableAllocationTable } from '../../src/cloud/azure/tableAllocationTable';
import type { AllocationTable, PayloadStore } from '../../src/cloud/ports';
import { allocationTableContract, instanceRecord, job } from '../contracts/allocationTableContract';
import { payloadStoreContract } from '../contracts/payloadStoreContract';
import { taskQueuesContract } from '../contracts/taskQueuesContract';
import { azureCredential } from '../../src/cloud/azure/credentials';
import { startAzurite, type Azurite } from '../support/azurite';
import { startImds, type Imds } from '../support/azureImds';
import { testCredential } from '../support/accessToken';
import { fakeAz } from '../support/fakeAz';
import { trustCaInThisProcess } from '../support/trustCa';

describe('Azure ports on Azurite', () => {
  let azurite: Azurite;
  let access: StorageAccess;
  before(async () => {
    azurite = await startAzurite();
    access = { connectionString: azurite.connectionString };
  });
  after(async () => {
    await azurite?.stop();
  });

  // The contract makes its tables before Azurite is up (to learn whether other processes can open
  // them): each is created on its first call, and its spec read when a process needs it.
  let tables = 0;
  allocationTableContract('Azure table', () => {
    const name = `meadowrunTest${++tables}`;
    const spec = {
      provider: 'azure',
      table: { tableName: name },
      get storage(): AzureAgentConfig['storage'] {
        return { account: 'devstoreaccount1', connectionString: azurite.connectionString };
      },
    };
    return { table: onFirstCall(() => createAllocationTable(access, name).then(() => TableAllocationTable.open(access, name))), spec };
  });

  test('numbers are stored as Double, so ms timestamps and fractions come back exact', async () => {
    await createAllocationTable(access, 'meadowrunDoubles');
    const table = TableAllocationTable.open(access, 'meadowrunDoubles');
    const record = { ...instanceRecord('i-1', 16, 0.5), registeredAt: 1764560000123, price: 16, evictionRatePct: 5 };
    await table.registerInstance(record);
    // The service's JSON shows a Double with a decimal point (16.0) and an Int32 without (16).
    let body = '';
    const capture = {
      name: 'capture',
      sendRequest: async (request: PipelineRequest, next: SendRequest) => {
        const response = await next(request);
        body = response.bodyAsText ?? '';
        return response;
      },
    };
    await TableClient.fromConnectionString(azurite.connectionString, 'meadowrunDoubles', {
      allowInsecureConnection: true,
      additionalPolicies: [{ policy: capture, position: 'perRetry' }],
    }).getEntity('instances', 'i-1');
    assert.match(body, /"registeredAt":1764560000123\.0\b/);
    assert.match(body, /"price":16\.0\b/);
    assert.match(body, /"evictionRatePct":5\.0\b/);
    const back = (await table.getInstance('i-1'))!;
    assert.deepEqual([back.registeredAt, back.price, back.total.memoryGb, back.evictionRatePct], [1764560000123, 16, 0.5, 5]);
  });

  test("a big instance's jobs (more JSON than one property holds) are stored in parts and come back whole", async () => {
    await createAllocationTable(access, 'meadowrunBig');
    const table = TableAllocationTable.open(access, 'meadowrunBig');
    const jobs = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`map-mk2ab3c-a1b2c3.${i}`, { ...job(`map-mk2ab3c-a1b2c3.${i}`, 0.25, 0.5), allocatedAt: 1764560000000 + i }]));
    assert.ok(JSON.stringify(jobs).length > 64 * 1024);
    await table.registerInstance({ ...instanceRecord('i-big', 1000, 1000), jobs });
    const r = (await table.getInstance('i-big'))!;
    assert.deepEqual(r.jobs, jobs);
    const raw = await TableClient.fromConnectionString(azurite.connectionString, 'meadowrunBig', { allowInsecureConnection: true }).getEntity<Record<string, unknown>>('instances', 'i-big');
    const parts = Object.keys(raw).filter((k) => k.startsWith('jobsJson'));
    assert.ok(parts.length >= 3, parts.join());
    assert.ok(parts.every((k) => (raw[k] as string).length <= 32 * 1024), 'each part within a string property');
    // A write reads it back whole and writes it in parts again.
    assert.equal(await table.deallocateJob('i-big', 'map-mk2ab3c-a1b2c3.0'), true);
    delete jobs['map-mk2ab3c-a1b2c3.0'];
    assert.deepEqual((await table.getInstance('i-big'))!.jobs, jobs);
  });

  // Each test its own prefix, as the contract expects an empty set of queues.
  let queues = 0;
  taskQueuesContract('Azure queues', () => QueueTaskQueues.open(access, `meadowrun-t${++queues}-`));

  test('a pair is tagged meadowrun and refuses job ids Azure cannot name; bodies are XML text', async () => {
    const q = QueueTaskQueues.open(access, 'meadowrun-tags-');
    const { request } = await q.createPair('map-abc-123');
    const props = await QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient(request).getProperties();
    assert.equal(props.metadata?.meadowrun, 'true');
    await assert.rejects(q.createPair('Upper_Case'), /lower-case letters, digits and single hyphens/);
    // What XML text cannot carry as it is is refused, not changed on the way; JSON escapes all of it.
    await assert.rejects(q.send(request, ['not a character: \uFFFE']), /U\+FFFE at 17/);
    for (const body of ['a\r\nb', 'x\u0001y', 'lone \ud800 surrogate']) {
      await assert.rejects(q.send(request, [body]), /Azure Queues carry XML text only, and the body has U\+[0-9A-F]{4} at \d+/, JSON.stringify(body));
      const json = JSON.stringify({ body });
      await q.send(request, [json]);
      const [m] = await q.receive(request, 1, 30, { waitS: 2 });
      assert.equal(JSON.parse(m.body).body, body, 'the same text as JSON comes through intact');
      await q.acknowledge(request, [m.receipt]);
    }
    await q.send(request, ['😀 \t <&>]]>']);
    assert.equal((await q.receive(request, 1, 30, { waitS: 2 }))[0].body, '😀 \t <&>]]>', 'surrogate pairs, tabs and markup go as they are');
    await q.deletePair('map-abc-123');
  });

  let containers = 0;
  payloadStoreContract('Blob payload store', () => {
    const container = `meadowrun-payloads-test-${++containers}`;
    return onFirstCall(async () => {
      await ensurePayloadContainer(access, container);
      return BlobPayloadStore.open(access, container);
    }) as PayloadStore;
  });

  test('the payload container is made once', async () => {
    assert.equal(await ensurePayloadContainer(access, 'meadowrun-payloads-once'), true);
    assert.equal(await ensurePayloadContainer(access, 'meadowrun-payloads-once'), false);
  });
});

describe('Azure ports on Azurite over https, with tokens (OAuth)', () => {
  let azurite: Azurite;
  let imds: Imds;
  let access: StorageAccess;
  const az = fakeAz();
  let azCalls = 0;
  before(async () => {
    azurite = await startAzurite({ oauth: true });
    imds = await startImds();
    // This process trusts Azurite's CA as NODE_EXTRA_CA_CERTS makes the history processes (spawned with this environment) trust it.
    trustCaInThisProcess(azurite.ca!);
    process.env.NODE_EXTRA_CA_CERTS = azurite.caFile;
    process.env.PATH = az.path;
    for (const k of ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET']) delete process.env[k];
    // The client's own credential chain, counting the tokens the Azure CLI gave.
    const login = azureCredential();
    const credential = { getToken: (...a: Parameters<typeof login.getToken>) => (azCalls++, login.getToken(...a)) };
    access = { account: 'devstoreaccount1', credential, endpoints: azurite.endpoints };
  });
  after(async () => {
    await imds?.stop();
    await azurite?.stop();
  });

  let tables = 0;
  allocationTableContract('Azure table with tokens', () => {
    const name = `meadowrunOauth${++tables}`;
    const spec = {
      provider: 'azure',
      table: { tableName: name },
      // As a VM's config: the account's endpoints and the metadata service, no connection string.
      get storage(): AzureAgentConfig['storage'] {
        return { account: 'devstoreaccount1', endpoints: azurite.endpoints };
      },
      get interruption(): AzureAgentConfig['interruption'] {
        return { imdsEndpoint: imds.endpoint };
      },
    };
    return { table: onFirstCall(() => createAllocationTable(access, name).then(() => TableAllocationTable.open(access, name))), spec };
  });

  let queues = 0;
  taskQueuesContract('Azure queues with tokens', () => QueueTaskQueues.open(access, `meadowrun-o${++queues}-`));

  let containers = 0;
  payloadStoreContract('Blob payload store with tokens', () => {
    const container = `meadowrun-payloads-oauth-${++containers}`;
    return onFirstCall(async () => {
      await ensurePayloadContainer(access, container);
      return BlobPayloadStore.open(access, container);
    }) as PayloadStore;
  });

  test("the tokens were the Azure CLI login's and the metadata service's, for storage; a token Azurite refuses is an error saying why", async () => {
    assert.ok(azCalls > 0, 'the client asked its credential');
    assert.ok(imds.tokenRequests.length > 0, 'the history processes asked the metadata service');
    assert.ok(imds.tokenRequests.every((q) => q.get('resource') === 'https://storage.azure.com'));
    await createAllocationTable(access, 'meadowrunRefused');
    // The storage services' own error: AuthenticationFailed, with the reason (in the message, or the detail the SDK parsed).
    const refused = async (credential: ReturnType<typeof testCredential>, why: RegExp) => {
      const with_ = { ...access, credential } as StorageAccess;
      const saysWhy = (e: unknown) => {
        assert.equal(statusCode(e), 403);
        assert.equal(storageErrorCode(e), 'AuthenticationFailed');
        const err = e as { message: string; details?: { authenticationErrorDetail?: string } };
        assert.match(`${err.message} ${err.details?.authenticationErrorDetail ?? ''}`, why);
        return true;
      };
      await assert.rejects(TableAllocationTable.open(with_, 'meadowrunRefused').listInstances(), saysWhy);
      await assert.rejects(QueueTaskQueues.open(with_, 'meadowrun-refused-').createPair('job-1'), saysWhy);
      await assert.rejects(BlobPayloadStore.open(with_, 'meadowrun-payloads-oauth-1').put('job-1/x', Buffer.from('x')), saysWhy);
    };
    await refused(testCredential({ expiresInS: -60 }), /The token is expired/);
    await refused(testCredential({ issuer: 'https://login.example.com/' }), /Invalid token issuer/);
  });
});

/** A port whose implementation is made on its first call: the contracts make theirs before Azurite is up. */
function onFirstCall<T extends object>(make: () => Promise<T>): T & AllocationTable {
  let ready: Promise<T> | undefined;
  return new Proxy({} as T & AllocationTable, {
    get: (_, method: string) => async (...args: unknown[]) => {
      const t = (await (ready ??= make())) as Record<string, (...a: unknown[]) => unknown>;
      return t[method].apply(t, args);
    },
  });
}
