// The AWS implementations of the ports against moto server (test/support/moto.ts): every contract
// suite, unchanged, plus what only AWS has (tags, credentials messages). Clients get their endpoint
// and fake credentials from the environment moto hands out, as a user's would from theirs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { toItem } from '../../src/cloud/aws/attributes';
import { GetBucketTaggingCommand, S3Client } from '@aws-sdk/client-s3';
import { ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createAllocationTable, DynamoAllocationTable } from '../../src/cloud/aws/dynamoAllocationTable';
import { awsClient } from '../../src/cloud/aws/clients';
import { ensurePayloadBucket, S3PayloadStore } from '../../src/cloud/aws/s3PayloadStore';
import { deleteSshKeySecret, SecretsManagerSecretStore } from '../../src/cloud/aws/secretsManagerSecretStore';
import { SqsTaskQueues } from '../../src/cloud/aws/sqsTaskQueues';
import type { AllocationTable } from '../../src/cloud/ports';
import { allocationTableContract, instanceRecord, job } from '../contracts/allocationTableContract';
import { payloadStoreContract } from '../contracts/payloadStoreContract';
import { secretStoreContract, userSecretsContract } from '../contracts/secretStoreContract';
import { taskQueuesContract } from '../contracts/taskQueuesContract';
import { motoUnavailable, startMoto, type Moto } from '../support/moto';

const unavailable = motoUnavailable();

describe('AWS ports on moto', { skip: unavailable ? `skipped: moto could not be installed (${unavailable})` : false }, () => {
  let moto: Moto;
  before(async () => {
    moto = await startMoto();
    Object.assign(process.env, moto.env); // also for the history's client processes
  });
  after(async () => {
    await moto?.stop();
  });

  // The history's client processes open the table as an instance's agent does, through the AWS
  // instance side (their region, endpoint and keys from the environment moto hands out).
  let tables = 0;
  allocationTableContract('DynamoDB table', () => {
    const name = `meadowrun-test-${++tables}`;
    return { table: onNewTable(name), spec: { provider: 'aws', table: { tableName: name } } };
  });

  test("allocate-if-fits is one conditional write while the item's room is current, and the agent's release keeps it so", async () => {
    const dynamo = awsClient(DynamoDBClient, {});
    await createAllocationTable(dynamo, 'meadowrun-test-room');
    const operations: string[] = [];
    dynamo.middlewareStack.add((next, context) => (args) => (operations.push(String(context.commandName)), next(args)), { step: 'initialize' });
    const table = new DynamoAllocationTable(dynamo, 'meadowrun-test-room');
    const calls = async <T>(f: () => Promise<T>) => {
      operations.length = 0;
      const result = await f();
      return { result, operations: [...operations] };
    };
    await table.registerInstance(instanceRecord('i-1', 2, 4));
    const first = await calls(() => table.allocateIfFits('i-1', [job('a')]));
    assert.deepEqual(first.operations, ['UpdateItemCommand']);
    assert.deepEqual(Object.keys(first.result?.jobs ?? {}), ['a']);
    assert.deepEqual((await calls(() => table.deallocateJob('i-1', 'a'))).operations, ['UpdateItemCommand']);
    const again = await calls(() => table.allocateIfFits('i-1', [job('b', 2, 4)]));
    assert.deepEqual(again.operations, ['UpdateItemCommand'], 'the release gave the room back');
    assert.deepEqual(Object.keys(again.result?.jobs ?? {}), ['b']);
    const full = await calls(() => table.allocateIfFits('i-1', [job('c')]));
    assert.equal(full.result, undefined);
    assert.deepEqual(full.operations, ['UpdateItemCommand', 'GetItemCommand'], 'no room: the write is refused, and a read confirms it');
    // A write that leaves the room stale (a management touch): a read and a compare-and-swap, which make it current again.
    await table.deallocateJob('i-1', 'b');
    await table.recordManagement('i-1', { at: 1, idleTimeoutS: 600, intervalS: 60 });
    assert.deepEqual((await calls(() => table.allocateIfFits('i-1', [job('d')]))).operations, ['UpdateItemCommand', 'GetItemCommand', 'UpdateItemCommand']);
    assert.deepEqual((await calls(() => table.allocateIfFits('i-1', [job('e')]))).operations, ['UpdateItemCommand']);
    assert.deepEqual(Object.keys((await table.getInstance('i-1'))!.jobs).sort(), ['d', 'e']);
  });

  test("a release whose room DynamoDB cannot add up (a job without its numbers) still frees the job, and the room goes stale", async () => {
    const dynamo = awsClient(DynamoDBClient, {});
    await createAllocationTable(dynamo, 'meadowrun-test-room-bad');
    const table = new DynamoAllocationTable(dynamo, 'meadowrun-test-room-bad');
    const { jobs: _, ...bare } = instanceRecord('i-1', 2, 4);
    await dynamo.send(
      new PutItemCommand({
        TableName: 'meadowrun-test-room-bad',
        Item: { ...toItem(bare), jobs: { M: { odd: { M: { jobId: { S: 'odd' } } } } }, etag: { S: 'e1' }, roomAt: { S: 'e1' }, roomCpu: { N: '2' }, roomMemoryGb: { N: '4' }, roomGpus: { N: '0' } },
      }),
    );
    assert.equal(await table.deallocateJob('i-1', 'odd'), true);
    assert.deepEqual((await table.getInstance('i-1'))!.jobs, {});
    assert.ok(await table.allocateIfFits('i-1', [job('a', 2, 4)]), 'the next allocation reads the row and sets the room again');
    assert.equal(await table.allocateIfFits('i-1', [job('b')]), undefined);
  });

  // Each test its own prefix, as the contract expects an empty set of queues.
  let queues = 0;
  taskQueuesContract('SQS queues', () => SqsTaskQueues.open({}, `meadowrun-t${++queues}-`));

  let buckets = 0;
  payloadStoreContract('S3 payload store', () => {
    const bucket = `meadowrun-payloads-test-${++buckets}`;
    const s3 = awsClient(S3Client, {});
    const store = new S3PayloadStore(s3, bucket);
    const created = ensurePayloadBucket(s3, bucket, 'us-east-1');
    // The contract makes its store at once; the bucket is there before the first call.
    return new Proxy(store, { get: (t, m: keyof S3PayloadStore) => (typeof t[m] === 'function' ? async (...a: unknown[]) => (await created, (t[m] as (...x: unknown[]) => unknown).apply(t, a)) : t[m]) });
  });

  test('the payload bucket is made once, private and tagged meadowrun=true', async () => {
    const s3 = awsClient(S3Client, {});
    assert.equal(await ensurePayloadBucket(s3, 'meadowrun-payloads-tagged', 'us-east-1'), true);
    assert.equal(await ensurePayloadBucket(s3, 'meadowrun-payloads-tagged', 'us-east-1'), false);
    const { TagSet } = await s3.send(new GetBucketTaggingCommand({ Bucket: 'meadowrun-payloads-tagged' }));
    assert.deepEqual(TagSet, [{ Key: 'meadowrun', Value: 'true' }]);
  });

  let secrets = 0;
  secretStoreContract('Secrets Manager store', () => {
    const name = `meadowrun-ssh-key-test-${++secrets}`;
    return { client: () => SecretsManagerSecretStore.open({}, name) };
  });
  // Each store its own user prefix (and key), as the contract expects an empty store.
  userSecretsContract('Secrets Manager store', () => {
    const n = ++secrets;
    return { client: () => SecretsManagerSecretStore.open({}, `meadowrun-ssh-key-test-${n}`, `meadowrun-secret-t${n}-`) };
  });

  test('user secrets are meadowrun-secret-NAME, tagged meadowrun=true, and never the SSH key', async () => {
    const store = SecretsManagerSecretStore.open({});
    await store.getSshKeyPair();
    await store.putSecret('pypi', 'user:pass');
    const client = awsClient(SecretsManagerClient, {});
    const { SecretList } = await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['meadowrun-secret-pypi'] }] }));
    assert.deepEqual(SecretList?.find((s) => s.Name === 'meadowrun-secret-pypi')?.Tags, [{ Key: 'meadowrun', Value: 'true' }]);
    assert.ok((await store.listSecrets()).includes('pypi'));
    const listed = await store.listSecrets();
    assert.ok(!listed.includes('meadowrun-ssh-key') && !listed.includes('ssh-key'), `the key is not listed: ${listed}`);
    assert.equal(await store.deleteSecret('pypi'), true);
  });

  test('the SSH key secret is tagged meadowrun=true, and deleting it makes a new key next time', async () => {
    const store = SecretsManagerSecretStore.open({ endpoint: moto.endpoint, region: moto.region });
    const first = await store.getSshKeyPair();
    const client = awsClient(SecretsManagerClient, {});
    const { SecretList } = await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['meadowrun-ssh-key'] }] }));
    const secret = SecretList?.find((s) => s.Name === 'meadowrun-ssh-key');
    assert.deepEqual(secret?.Tags, [{ Key: 'meadowrun', Value: 'true' }]);
    await deleteSshKeySecret(client);
    await deleteSshKeySecret(client); // gone already: not an error
    const second = await SecretsManagerSecretStore.open({}).getSshKeyPair();
    assert.notEqual(second.publicKey, first.publicKey);
  });
});

/**
 * A table whose DynamoDB table is created on its first call: the contract makes its tables before
 * moto is up (to learn whether other processes can open them).
 */
function onNewTable(name: string): AllocationTable {
  let ready: Promise<AllocationTable> | undefined;
  const table = () =>
    (ready ??= (async () => {
      await createAllocationTable(awsClient(DynamoDBClient, {}), name);
      return DynamoAllocationTable.open({}, name);
    })());
  return new Proxy({} as AllocationTable, {
    get: (_, method: keyof AllocationTable) => async (...args: unknown[]) => {
      const t = await table();
      return (t[method] as (...a: unknown[]) => unknown).apply(t, args);
    },
  });
}
