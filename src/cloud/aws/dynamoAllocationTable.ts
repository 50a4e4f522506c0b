// The allocation table as a DynamoDB table: one item per instance, the record's fields as its
// attributes (so an instance can update its own row with a plain UpdateItem), and `etag` a random
// token replaced by every write. Allocation is a compare-and-swap on it: a conditional write.
// Beside the record, an item keeps the instance's free capacity (`room*`, see allocateIfFits), so
// that a client can allocate to an instance it knows without reading it first.
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
import { AllocationTable, freeCapacity, InstanceEndpoint, InstanceRecord, JobAllocation, jobsNeed, ManagementTouch } from '../ports';
import { fromItem, Item, toAttribute, toItem } from './attributes';
import { awsClient, AwsSettings } from './clients';
import { conditionalWrite } from './conditionalWrite';
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
  '#roomCpu': 'roomCpu',
  '#roomMem': 'roomMemoryGb',
  '#roomGpus': 'roomGpus',
  '#roomAt': 'roomAt',
  '#cpu': 'cpu',
  '#mem': 'memoryGb',
  '#gpus': 'gpus',
};

/**
 * The free capacity kept in an item (`room*`) counts only while its `roomAt` is the item's etag.
 * The writes here that change the jobs keep both up to date; any other write (a management touch,
 * a fence, a writer of an older version) changes the etag alone and so leaves them stale, and the
 * next allocation there takes the slower way (a read and a compare-and-swap), which sets them again.
 */
const ROOM_SET = '#roomCpu = :roomCpu, #roomMem = :roomMem, #roomGpus = :roomGpus, #roomAt = :next';

function roomValues(r: Pick<InstanceRecord, 'total' | 'jobs'>): Item {
  const free = freeCapacity(r);
  return { ':roomCpu': toAttribute(free.cpu), ':roomMem': toAttribute(free.memoryGb), ':roomGpus': toAttribute(free.gpus) };
}

/** An item as the record it holds (without the room, which is the table's own). */
function toRecord(item: Item): InstanceRecord {
  const { roomCpu: _c, roomMemoryGb: _m, roomGpus: _g, roomAt: _a, ...record } = fromItem(item);
  return record as unknown as InstanceRecord;
}

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
          Item: toItem({ ...record, etag, ...room(record, etag) }),
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
        records.push(this.remember(toRecord(item)));
      }
      start = page.LastEvaluatedKey as typeof start;
    } while (start);
    return records.sort((a, b) => a.registeredAt - b.registeredAt || a.id.localeCompare(b.id));
  }

  async getInstance(id: string): Promise<InstanceRecord | undefined> {
    const { Item } = await this.dynamo.send(new GetItemCommand({ TableName: this.tableName, Key: { id: { S: id } }, ConsistentRead: true }));
    if (!Item) this.seen.delete(id);
    return Item && this.remember(toRecord(Item));
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
    if (!current || current.etag !== etag) return false;
    return (await this.compareAndAllocate(current, jobs)) !== undefined;
  }

  /** The record with the jobs in it, written only if it is still at its etag, or undefined. */
  private async compareAndAllocate(current: InstanceRecord, jobs: JobAllocation[]): Promise<InstanceRecord | undefined> {
    if (current.preventFurtherAllocation || !fits(jobsNeed(jobs), freeCapacity(current))) return undefined;
    const next: InstanceRecord = { ...current, jobs: { ...current.jobs, ...Object.fromEntries(jobs.map((j) => [j.jobId, j])) }, lastJobChangeAt: Date.now(), etag: randomUUID() };
    const written = await this.conditionalUpdate(current.id, {
      UpdateExpression: `SET #jobs = :jobs, #changed = :now, #etag = :next, ${ROOM_SET}`,
      ConditionExpression: '#etag = :etag AND #prevent = :false',
      ExpressionAttributeNames: pick('#jobs', '#changed', '#etag', '#prevent', '#roomCpu', '#roomMem', '#roomGpus', '#roomAt'),
      ExpressionAttributeValues: {
        ':jobs': toAttribute(next.jobs),
        ':now': toAttribute(next.lastJobChangeAt),
        ':next': { S: next.etag },
        ':etag': { S: current.etag },
        ':false': { BOOL: false },
        ...roomValues(next),
      },
    });
    return written ? this.remember(next) : undefined;
  }

  /**
   * One conditional write where the item's room is up to date (see ROOM_SET): the jobs go in and
   * their resources come off the room only if they fit it. Else (the room is stale, or the jobs do
   * not fit) a read and a compare-and-swap.
   */
  async allocateIfFits(id: string, jobs: JobAllocation[]): Promise<InstanceRecord | undefined> {
    const need = jobsNeed(jobs);
    const names: Record<string, string> = pick('#jobs', '#changed', '#etag', '#prevent', '#roomCpu', '#roomMem', '#roomGpus', '#roomAt');
    const values: Item = {
      ':cpu': toAttribute(need.cpu),
      ':mem': toAttribute(need.memoryGb),
      ':gpus': toAttribute(need.gpus),
      ':now': toAttribute(Date.now()),
      ':next': { S: randomUUID() },
      ':false': { BOOL: false },
    };
    jobs.forEach((j, i) => ((names[`#j${i}`] = j.jobId), (values[`:j${i}`] = toAttribute(j))));
    try {
      const { Attributes } = await this.dynamo.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { id: { S: id } },
          UpdateExpression:
            `SET ${jobs.map((_, i) => `#jobs.#j${i} = :j${i}`).join(', ')}, ` +
            '#roomCpu = #roomCpu - :cpu, #roomMem = #roomMem - :mem, #roomGpus = #roomGpus - :gpus, #changed = :now, #etag = :next, #roomAt = :next',
          ConditionExpression:
            '#roomAt = #etag AND #prevent = :false AND #roomCpu >= :cpu AND #roomMem >= :mem AND #roomGpus >= :gpus' +
            jobs.map((_, i) => ` AND attribute_not_exists(#jobs.#j${i})`).join(''),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return this.remember(toRecord(Attributes!));
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
    }
    for (;;) {
      const current = await this.getInstance(id);
      if (!current || current.preventFurtherAllocation || !fits(need, freeCapacity(current))) return undefined;
      const written = await this.compareAndAllocate(current, jobs);
      if (written) return structuredClone(written);
    }
  }

  async deallocateJob(id: string, jobId: string): Promise<boolean> {
    const names = { ...pick('#jobs', '#changed', '#etag'), '#job': jobId };
    const values = { ':now': toAttribute(Date.now()), ':next': { S: randomUUID() } };
    // Where the room is up to date it takes back the job's resources, read from the item as it was
    // before this write.
    const keepingRoom = await this.conditionalUpdate(id, {
      UpdateExpression:
        'REMOVE #jobs.#job SET #changed = :now, #etag = :next, #roomAt = :next, ' +
        '#roomCpu = #roomCpu + #jobs.#job.#cpu, #roomMem = #roomMem + #jobs.#job.#mem, #roomGpus = #roomGpus + #jobs.#job.#gpus',
      ConditionExpression: 'attribute_exists(#jobs.#job) AND #roomAt = #etag',
      ExpressionAttributeNames: { ...names, ...pick('#roomCpu', '#roomMem', '#roomGpus', '#roomAt', '#cpu', '#mem', '#gpus') },
      ExpressionAttributeValues: values,
    }).catch((e) => {
      // A release must never fail for the room's sake: an item the arithmetic cannot be done on (a
      // job without its numbers, written by something else) is freed the plain way, its room stale.
      if ((e as Error).name === 'ValidationException') return false;
      throw e;
    });
    if (keepingRoom) return true;
    // The job is not there, or the room is stale (and stays so).
    return this.conditionalUpdate(id, {
      UpdateExpression: 'REMOVE #jobs.#job SET #changed = :now, #etag = :next',
      ConditionExpression: 'attribute_exists(#jobs.#job)',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
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
        UpdateExpression: `SET #state = :ready, #ssh = :ssh, #workDir = :workDir, #node = :node, #jobs = :jobs, #etag = :next, ${ROOM_SET}`,
        ConditionExpression: '#etag = :etag',
        ExpressionAttributeNames: pick('#state', '#ssh', '#workDir', '#node', '#jobs', '#etag', '#roomCpu', '#roomMem', '#roomGpus', '#roomAt'),
        ExpressionAttributeValues: {
          ':ready': { S: 'ready' },
          ':ssh': toAttribute(endpoint.ssh),
          ':workDir': toAttribute(endpoint.workDir),
          ':node': toAttribute(endpoint.nodeCommand),
          ':jobs': toAttribute(jobs),
          ':next': { S: randomUUID() },
          ':etag': { S: current.etag },
          ...roomValues(current),
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
    return conditionalWrite(
      this.dynamo.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { id: { S: id } },
          ConditionExpression: 'attribute_exists(#id) AND size(#jobs) = :zero',
          ExpressionAttributeNames: pick('#id', '#jobs'),
          ExpressionAttributeValues: { ':zero': { N: '0' } },
        }),
      ),
    );
  }

  /** An UpdateItem that returns false, having changed nothing, when its condition does not hold. */
  private conditionalUpdate(id: string, update: Omit<ConstructorParameters<typeof UpdateItemCommand>[0], 'TableName' | 'Key'>): Promise<boolean> {
    return conditionalWrite(this.dynamo.send(new UpdateItemCommand({ TableName: this.tableName, Key: { id: { S: id } }, ...update })));
  }
}

function pick(...names: (keyof typeof NAMES)[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, NAMES[n]]));
}

/** A new item's room, as its attributes, valid at `etag`. */
function room(r: Pick<InstanceRecord, 'total' | 'jobs'>, etag: string): Record<string, unknown> {
  const free = freeCapacity(r);
  return { roomCpu: free.cpu, roomMemoryGb: free.memoryGb, roomGpus: free.gpus, roomAt: etag };
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
