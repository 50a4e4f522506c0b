// What Meadowrun has in an AWS account and region, for `meadowrun aws status` and `uninstall`:
// its instances, the allocation table, the SSH key secret, the payload bucket, map queues left by a
// client that died, the instance role and profile and the security group. Uninstall terminates the instances (the group cannot go while they use it), then
// removes the rest; each step finds what is there, so running it again is harmless.
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client, waitUntilInstanceTerminated } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AwsCloud } from '.';
import { awsClient } from './clients';
import { deleteAllocationTable } from './dynamoAllocationTable';
import { ALLOCATION_TABLE, SSH_KEY_SECRET } from './names';
import { describePrepared, removePrepared } from './prepare';
import { deletePayloadBucket, payloadBucketExists } from './s3PayloadStore';
import { deleteSshKeySecret } from './secretsManagerSecretStore';

export interface AccountResource {
  kind: string;
  name: string;
}

function clients(cloud: AwsCloud) {
  return {
    ec2: awsClient(EC2Client, cloud.settings),
    iam: awsClient(IAMClient, cloud.settings),
    dynamo: awsClient(DynamoDBClient, cloud.settings),
    secrets: awsClient(SecretsManagerClient, cloud.settings),
    s3: awsClient(S3Client, cloud.settings),
  };
}

const missing = (e: unknown) => /NotFound|NoSuchEntity/.test((e as Error)?.name ?? '');

/** Everything of Meadowrun's in the cloud's region, instances first. */
export async function describeAccount(cloud: AwsCloud): Promise<AccountResource[]> {
  const c = clients(cloud);
  const found: AccountResource[] = (await cloud.provider.listRunning()).map((i) => ({
    kind: 'EC2 instance',
    name: `${i.id} (${[i.typeName, i.market, i.zone, i.state].filter(Boolean).join(', ')})`,
  }));
  const table = await c.dynamo.send(new DescribeTableCommand({ TableName: ALLOCATION_TABLE })).catch((e) => (missing(e) ? undefined : Promise.reject(e)));
  if (table) found.push({ kind: 'DynamoDB table', name: ALLOCATION_TABLE });
  const secret = await c.secrets.send(new DescribeSecretCommand({ SecretId: SSH_KEY_SECRET })).catch((e) => (missing(e) ? undefined : Promise.reject(e)));
  if (secret && !secret.DeletedDate) found.push({ kind: 'Secrets Manager secret', name: SSH_KEY_SECRET });
  const bucket = await cloud.payloadBucket();
  if (await payloadBucketExists(c.s3, bucket)) found.push({ kind: 'S3 bucket', name: bucket });
  for (const p of await cloud.queues.listPairs()) found.push({ kind: 'SQS queues', name: `${cloud.queues.prefix}${p.jobId}-request|result` });
  found.push(...(await describePrepared(c.ec2, c.iam)));
  return found;
}

/** Terminates Meadowrun's instances and removes everything else it created in the region. */
export async function uninstallAccount(cloud: AwsCloud, say: (line: string) => void = () => undefined): Promise<void> {
  const c = clients(cloud);
  const ids = (await cloud.provider.listRunning()).map((i) => i.id);
  for (const id of ids) await cloud.provider.terminate(id);
  if (ids.length) {
    say(`Waiting for ${ids.length} instance(s) to terminate…`);
    await waitUntilInstanceTerminated({ client: c.ec2, maxWaitTime: 600, minDelay: 2, maxDelay: 10 }, { InstanceIds: ids });
  }
  say('Removing the security group, instance role and profile…');
  await removePrepared(c.ec2, c.iam);
  say(`Removing the table ${ALLOCATION_TABLE}…`);
  await deleteAllocationTable(c.dynamo, ALLOCATION_TABLE);
  say('Removing the SSH key secret…');
  await deleteSshKeySecret(c.secrets);
  say('Removing the payload bucket and leftover queues…');
  await deletePayloadBucket(c.s3, await cloud.payloadBucket());
  for (const p of await cloud.queues.listPairs()) await cloud.queues.deletePair(p.jobId);
}
