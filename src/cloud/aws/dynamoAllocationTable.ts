// The allocation table as a DynamoDB table: one item per instance, the record's fields as its
// attributes (so an instance can update its own row with a plain UpdateItem), and `etag` a random
// token replaced by every write. Allocation is a compare-and-swap on it: a conditional write.
import { randomUUID } from 'crypto';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  ScanCommand,
  UpdateItemCommand,
  waitUntilTableExists,
  waitUntilTableNotExists,
} from '@aws-sdk/client-dynamodb';
import { fits } from '../../core/resources';
import { AllocationTable, freeCapacity, InstanceEndpoint, InstanceRecord, JobAllocation, ManagementTouch } from '../ports';
import { fromItem, toAttribute, toItem } from './attributes';
import { awsClient, AwsSettings } from './clients';
import { HOST_KEY_ATTRIBUTE, MANAGEMENT_ITEM_PREFIX, MEADOWRUN_TAGS } from './names';

// Every attribute through a name placeholder: `jobs`, `id` and others are not reserved today, but
// DynamoDB's reserved words are many.
const NAMES = {
  '#id': 'id',
  '#jobs': 'jobs',
  '#etag': 'etag',
  '#changed': 'lastJobChangeAt',
  '#prevent': 'preventFurtherAllocation',
  '#managed': 'managed',
  '#state': 'state',
  '#ssh': 'ssh',
  '#workDir': 'workDir',
  '#node': 'nodeCommand',
};

export class DynamoAllocationTable implements AllocationTable {
  /**
   * The last record read of each instance. An etag is never issued twice, so a record read at the
   * etag a caller allocates against is the record at that etag: no need to read it again.
   */
  private readonly seen = new Map<string, InstanceRecord>();

  constructor(
    private readonly dynamo: DynamoDBClient,
    readonly tableName: string,
  ) {}

  static open(settings: AwsSettings, tableName: string): DynamoAllocationTable {
    return new DynamoAllocationTable(awsClient(DynamoDBClient, settings), tableName);
  }

  async registerInstance(record: Omit<InstanceRecord, 'etag'>): Promise<string> {
    const etag = randomUUID();
    try {
      await this.dynamo.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: toItem({ ...record, etag }),
          ConditionExpression: 'attribute_not_exists(#id)',
          ExpressionAttributeNames: { '#id': 'id' },
        }),
      );
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) throw new Error(`instance ${record.id} is already registered`);
      throw e;
    }
    return etag;
  }

  async listInstances(): Promise<InstanceRecord[]> {
    const records: InstanceRecord[] = [];
    let start: Record<string, never> | undefined;
    do {
      // No table yet (the first launch in this account and region prepares it): no instances.
      const page = await this.dynamo.send(new ScanCommand({ TableName: this.tableName, ConsistentRead: true, ExclusiveStartKey: start })).catch((e) => {
        if (e instanceof ResourceNotFoundException) return { Items: [], LastEvaluatedKey: undefined };
        throw e;
      });
      for (const item of page.Items ?? []) {
        // The management function's own items (config, lock, last run) share the table.
        if (item.id?.S?.startsWith(MANAGEMENT_ITEM_PREFIX)) continue;
        records.push(this.remember(fromItem(item) as unknown as InstanceRecord));
      }
      start = page.LastEvaluatedKey as typeof start;
    } while (start);
    return records.sort((a, b) => a.registeredAt - b.registeredAt || a.id.localeCompare(b.id));
  }

  async getInstance(id: string): Promise<InstanceRecord | undefined> {
    const { Item } = await this.dynamo.send(new GetItemCommand({ TableName: this.tableName, Key: { id: { S: id } }, ConsistentRead: true }));
    if (!Item) this.seen.delete(id);
    return Item && this.remember(fromItem(Item) as unknown as InstanceRecord);
  }

  /** The SSH host key an instance wrote to its own row as it booted (userData.ts), if it has. */
  async publishedHostKey(id: string): Promise<string | undefined> {
    const { Item } = await this.dynamo.send(
      new GetItemCommand({ TableName: this.tableName, Key: { id: { S: id } }, ConsistentRead: true, ProjectionExpression: '#k', ExpressionAttributeNames: { '#k': HOST_KEY_ATTRIBUTE } }),
    );
    return Item?.[HOST_KEY_ATTRIBUTE]?.S;
  }

  private remember(r: InstanceRecord): InstanceRecord {
    this.seen.set(r.id, r);
    return structuredClone(r); // callers may change theirs
  }

  async allocateJobs(id: string, etag: string, jobs: JobAllocation[]): Promise<boolean> {
    // Checked on the record as it is at `etag`, written only if it is still at `etag`.
    const seen = this.seen.get(id);
    const current = seen?.etag === etag ? seen : await this.getInstance(id);
    if (!current || current.etag !== etag || current.preventFurtherAllocation) return false;
    const need = jobs.reduce((s, j) => ({ cpu: s.cpu + j.cpu, memoryGb: s.memoryGb + j.memoryGb, gpus: s.gpus + j.gpus }), { cpu: 0, memoryGb: 0, gpus: 0 });
    if (!fits(need, freeCapacity(current))) return false;
    const next = { ...current.jobs };
    for (const j of jobs) next[j.jobId] = j;
    return this.conditionalUpdate(id, {
      UpdateExpression: 'SET #jobs = :jobs, #changed = :now, #etag = :next',
      ConditionExpression: '#etag = :etag AND #prevent = :false',
      ExpressionAttributeNames: pick('#jobs', '#changed', '#etag', '#prevent'),
      ExpressionAttributeValues: { ':jobs': toAttribute(next), ':now': toAttribute(Date.now()), ':next': { S: randomUUID() }, ':etag': { S: etag }, ':false': { BOOL: false } },
    });
  }

  async deallocateJob(id: string, jobId: string): Promise<boolean> {
    return this.conditionalUpdate(id, {
      UpdateExpression: 'REMOVE #jobs.#job SET #changed = :now, #etag = :next',
      ConditionExpression: 'attribute_exists(#jobs.#job)',
      ExpressionAttributeNames: { ...pick('#jobs', '#changed', '#etag'), '#job': jobId },
      ExpressionAttributeValues: { ':now': toAttribute(Date.now()), ':next': { S: randomUUID() } },
    });
  }

  async preventFurtherAllocation(id: string): Promise<void> {
    await this.conditionalUpdate(id, {
      UpdateExpression: 'SET #prevent = :true, #etag = :next',
      ConditionExpression: 'attribute_exists(#id) AND #prevent = :false',
      ExpressionAttributeNames: pick('#id', '#prevent', '#etag'),
      ExpressionAttributeValues: { ':true': { BOOL: true }, ':false': { BOOL: false }, ':next': { S: randomUUID() } },
    });
  }

  async markReady(id: string, endpoint: InstanceEndpoint): Promise<boolean> {
    // The jobs' allocatedAt restart, so the write is a compare-and-swap on the row as read.
    for (;;) {
      const current = await this.getInstance(id);
      if (!current || current.state !== 'launching' || current.preventFurtherAllocation) return false;
      const now = Date.now();
      const jobs = Object.fromEntries(Object.entries(current.jobs).map(([k, j]) => [k, { ...j, allocatedAt: now }]));
      const written = await this.conditionalUpdate(id, {
        UpdateExpression: 'SET #state = :ready, #ssh = :ssh, #workDir = :workDir, #node = :node, #jobs = :jobs, #etag = :next',
        ConditionExpression: '#etag = :etag',
        ExpressionAttributeNames: pick('#state', '#ssh', '#workDir', '#node', '#jobs', '#etag'),
        ExpressionAttributeValues: {
          ':ready': { S: 'ready' },
          ':ssh': toAttribute(endpoint.ssh),
          ':workDir': toAttribute(endpoint.workDir),
          ':node': toAttribute(endpoint.nodeCommand),
          ':jobs': toAttribute(jobs),
          ':next': { S: randomUUID() },
          ':etag': { S: current.etag },
        },
      });
      if (written) return true;
    }
  }

  async recordManagement(id: string, touch: ManagementTouch): Promise<void> {
    await this.conditionalUpdate(id, {
      UpdateExpression: 'SET #managed = :touch, #etag = :next',
      ConditionExpression: 'attribute_exists(#id)',
      ExpressionAttributeNames: pick('#id', '#managed', '#etag'),
      ExpressionAttributeValues: { ':touch': toAttribute(touch), ':next': { S: randomUUID() } },
    });
  }

  async deregisterInstance(id: string): Promise<boolean> {
    try {
      await this.dynamo.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { id: { S: id } },
          ConditionExpression: 'attribute_exists(#id) AND size(#jobs) = :zero',
          ExpressionAttributeNames: pick('#id', '#jobs'),
          ExpressionAttributeValues: { ':zero': { N: '0' } },
        }),
      );
      return true;
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return false;
      throw e;
    }
  }

  /** An UpdateItem that returns false, having changed nothing, when its condition does not hold. */
  private async conditionalUpdate(id: string, update: Omit<ConstructorParameters<typeof UpdateItemCommand>[0], 'TableName' | 'Key'>): Promise<boolean> {
    try {
      await this.dynamo.send(new UpdateItemCommand({ TableName: this.tableName, Key: { id: { S: id } }, ...update }));
      return true;
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return false;
      throw e;
    }
  }
}

function pick(...names: (keyof typeof NAMES)[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, NAMES[n]]));
}

/**
 * Creates the table (on-demand billing, tagged) if it does not exist, and waits until it can be
 * used. Returns whether it created it.
 */
export async function createAllocationTable(dynamo: DynamoDBClient, tableName: string): Promise<boolean> {
  let created = true;
  try {
    await dynamo.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        Tags: MEADOWRUN_TAGS,
      }),
    );
  } catch (e) {
    if (!(e instanceof ResourceInUseException)) throw e;
    created = false;
  }
  await waitUntilTableExists({ client: dynamo, maxWaitTime: 300, minDelay: 1, maxDelay: 5 }, { TableName: tableName });
  return created;
}

/** Deletes the table if it exists and waits until it is gone. Returns whether it was there. */
export async function deleteAllocationTable(dynamo: DynamoDBClient, tableName: string): Promise<boolean> {
  try {
    await dynamo.send(new DeleteTableCommand({ TableName: tableName }));
  } catch (e) {
    if (e instanceof ResourceNotFoundException) return false;
    throw e;
  }
  await waitUntilTableNotExists({ client: dynamo, maxWaitTime: 300, minDelay: 1, maxDelay: 5 }, { TableName: tableName });
  return true;
}
