// The management Function's own items in the Azure Table of instances, in a partition of their own
// ("management", which the table's listing of instances never reads): its configuration, read at
// every run so that new thresholds apply without a redeploy; a lock with an expiry, taken and
// renewed by ETag (If-Match), so that overlapping runs (a slow run and the next minute's, or a
// client's `run-once`) never both act; and the last run's record, for status.
import type { TableClient } from '@azure/data-tables';
import { JsonManagementItems } from '../../../management/managedRun';
import { statusCode } from '../storage';

const PARTITION = 'management';
const CONFIG = 'config';
const LOCK = 'lock';
const RUN = 'run';

interface LockEntity {
  holder: string;
  expiresAt: number;
}

export class TableManagementItems extends JsonManagementItems {
  constructor(private readonly client: TableClient) {
    super();
  }

  /**
   * Creates the lock, or takes over an expired one by its ETag: of two runs that find it expired,
   * one replaces it and the other gets 412. A holder that died loses it when it expires (the
   * function's timeout is well below the expiry, so an expired holder has stopped).
   */
  async acquireLock(holder: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const entity = lockEntity(holder, now + ttlMs);
    try {
      await this.client.createEntity(entity);
      return true;
    } catch (e) {
      if (statusCode(e) !== 409) throw e;
    }
    const current = await this.readLock();
    if (!current || current.expiresAt >= now) return false;
    return this.replaceLock(entity, current.etag);
  }

  async renewLock(holder: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const current = await this.readLock();
    if (!current || current.holder !== holder || current.expiresAt < now) return false;
    return this.replaceLock(lockEntity(holder, now + ttlMs), current.etag);
  }

  async releaseLock(holder: string): Promise<void> {
    const current = await this.readLock();
    if (current?.holder !== holder) return;
    await this.client.deleteEntity(PARTITION, LOCK, { etag: current.etag }).catch((e) => {
      if (statusCode(e) !== 404 && statusCode(e) !== 412) throw e;
    });
  }

  /** Removes the items (uninstall); the table itself is prepare's. */
  async deleteAll(): Promise<string[]> {
    const removed: string[] = [];
    for (const id of [CONFIG, LOCK, RUN]) {
      const gone = await this.client.deleteEntity(PARTITION, id).then(
        () => true,
        (e) => (statusCode(e) === 404 ? false : Promise.reject(e)),
      );
      if (gone) removed.push(`management/${id}`);
    }
    return removed;
  }

  private async readLock(): Promise<(LockEntity & { etag: string }) | undefined> {
    try {
      const e = await this.client.getEntity<LockEntity>(PARTITION, LOCK);
      return { holder: e.holder, expiresAt: Number(e.expiresAt), etag: e.etag };
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  /** Replaces the lock if it is still at `etag`; false when another run changed it first. */
  private async replaceLock(entity: ReturnType<typeof lockEntity>, etag: string): Promise<boolean> {
    try {
      await this.client.updateEntity(entity, 'Replace', { etag });
      return true;
    } catch (e) {
      if (statusCode(e) === 412 || statusCode(e) === 404) return false;
      throw e;
    }
  }

  protected async readJson<T>(id: 'config' | 'run'): Promise<T | undefined> {
    try {
      const e = await this.client.getEntity<{ json?: string }>(PARTITION, id);
      return typeof e.json === 'string' ? (JSON.parse(e.json) as T) : undefined;
    } catch (e) {
      if (statusCode(e) === 404) return undefined; // no item, or no table yet
      throw e;
    }
  }

  protected async writeJson(id: 'config' | 'run', value: unknown): Promise<void> {
    await this.client.upsertEntity({ partitionKey: PARTITION, rowKey: id, json: JSON.stringify(value) }, 'Replace');
  }
}

/** The lock as an entity; its expiry a Double (a whole JS number would be stored as Int32, which ms timestamps overflow). */
function lockEntity(holder: string, expiresAt: number) {
  return { partitionKey: PARTITION, rowKey: LOCK, holder, expiresAt: { value: String(expiresAt), type: 'Double' as const } };
}
