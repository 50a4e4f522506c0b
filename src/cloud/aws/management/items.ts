// The management function's own items in the allocation table (ids `management#…`, which the
// table's listing of instances skips): its configuration, read at every run so that new thresholds
// apply without a redeploy; a lock with an expiry, so that overlapping runs (a slow run and the next
// minute's, or a `run-once` from a client) never both act; and the last run's record, for status.
import { DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand, ResourceNotFoundException, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { JsonManagementItems } from '../../../management/managedRun';
import { conditionalWrite } from '../conditionalWrite';
import { MANAGEMENT_ITEM_PREFIX } from '../names';

const CONFIG = `${MANAGEMENT_ITEM_PREFIX}config`;
const LOCK = `${MANAGEMENT_ITEM_PREFIX}lock`;
const RUN = `${MANAGEMENT_ITEM_PREFIX}run`;

export class DynamoManagementItems extends JsonManagementItems {
  constructor(
    private readonly dynamo: DynamoDBClient,
    readonly tableName: string,
  ) {
    super();
  }

  /**
   * Takes the lock for `ttlMs` unless someone holds it unexpired. A holder that died loses it when
   * it expires: the function's timeout is well below the expiry, so an expired holder has stopped.
   */
  async acquireLock(holder: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    return conditionalWrite(
      this.dynamo.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: { id: { S: LOCK }, holder: { S: holder }, expiresAt: { N: String(now + ttlMs) } },
          ConditionExpression: 'attribute_not_exists(#id) OR #expires < :now',
          ExpressionAttributeNames: { '#id': 'id', '#expires': 'expiresAt' },
          ExpressionAttributeValues: { ':now': { N: String(now) } },
        }),
      ),
    );
  }

  /** Extends the lock when `holder` still holds it unexpired; false (changing nothing) otherwise. */
  async renewLock(holder: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    return conditionalWrite(
      this.dynamo.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { id: { S: LOCK } },
          UpdateExpression: 'SET #expires = :until',
          ConditionExpression: '#holder = :me AND #expires >= :now',
          ExpressionAttributeNames: { '#holder': 'holder', '#expires': 'expiresAt' },
          ExpressionAttributeValues: { ':me': { S: holder }, ':now': { N: String(now) }, ':until': { N: String(now + ttlMs) } },
        }),
      ),
    );
  }

  /** Gives the lock up if `holder` still has it. */
  async releaseLock(holder: string): Promise<void> {
    await conditionalWrite(
      this.dynamo.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { id: { S: LOCK } },
          ConditionExpression: '#holder = :me',
          ExpressionAttributeNames: { '#holder': 'holder' },
          ExpressionAttributeValues: { ':me': { S: holder } },
        }),
      ),
    );
  }

  /** Removes the items (uninstall); returns the ids there were. The table itself is `meadowrun aws uninstall`'s. */
  async deleteAll(): Promise<string[]> {
    const removed: string[] = [];
    for (const id of [CONFIG, LOCK, RUN]) {
      const r = await this.dynamo
        .send(new DeleteItemCommand({ TableName: this.tableName, Key: { id: { S: id } }, ReturnValues: 'ALL_OLD' }))
        .catch((e) => (e instanceof ResourceNotFoundException ? undefined : Promise.reject(e)));
      if (r?.Attributes && Object.keys(r.Attributes).length > 1) removed.push(id); // more than its key: it was there
    }
    return removed;
  }

  protected async readJson<T>(item: 'config' | 'run'): Promise<T | undefined> {
    const r = await this.dynamo
      .send(new GetItemCommand({ TableName: this.tableName, Key: { id: { S: `${MANAGEMENT_ITEM_PREFIX}${item}` } }, ConsistentRead: true }))
      .catch((e) => (e instanceof ResourceNotFoundException ? undefined : Promise.reject(e)));
    const json = r?.Item?.json?.S;
    return json === undefined ? undefined : (JSON.parse(json) as T);
  }

  protected async writeJson(item: 'config' | 'run', value: unknown): Promise<void> {
    await this.dynamo.send(new PutItemCommand({ TableName: this.tableName, Item: { id: { S: `${MANAGEMENT_ITEM_PREFIX}${item}` }, json: { S: JSON.stringify(value) } } }));
  }
}
