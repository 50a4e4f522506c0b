// The allocation table as an Azure Table: one entity per instance (partition "instances", row key
// its id). The record's scalar fields are the entity's properties (numbers stored as Double: the
// SDK would store a whole JS number as Int32, which ms timestamps overflow), its objects (jobs,
// capacity, the SSH endpoint) JSON strings in "<field>Json" properties (in parts when long). Every write is a Replace
// with If-Match on the ETag the service issued: a 412 is a lost race. Allocation is one such
// compare-and-swap; the other writes retry theirs until they win or have nothing to do.
import { TableClient, type TableEntity, type TableEntityResult } from '@azure/data-tables';
import { fits } from '../../core/resources';
import { AllocationTable, freeCapacity, InstanceEndpoint, InstanceRecord, JobAllocation, jobsNeed, ManagementTouch } from '../ports';
import { serviceUrl, statusCode, StorageAccess } from './storage';

/** Table names are letters and digits only. */
export const ALLOCATION_TABLE = 'meadowrunInstances';
const PARTITION = 'instances';
/** The property of a VM's row that holds the SSH host key it published (publishHostKey.py writes it by that name). */
export const HOST_KEY_PROPERTY = 'hostKey';
const JSON_SUFFIX = 'Json';
const JSON_PART = /^(.+)Json(\d*)$/;
/** Characters of JSON per string property (the service's limit is 64 KiB of UTF-16, 32K characters). */
const JSON_PART_CHARS = 30_000;

type Entity = TableEntity<Record<string, unknown>>;

export class TableAllocationTable implements AllocationTable {
  /** The last record read of each instance (as AWS's table: an ETag is the record at it). */
  private readonly seen = new Map<string, InstanceRecord>();

  constructor(private readonly client: TableClient) {}

  static open(access: StorageAccess, tableName = ALLOCATION_TABLE): TableAllocationTable {
    return new TableAllocationTable(tableClient(access, tableName));
  }

  async registerInstance(record: Omit<InstanceRecord, 'etag'>): Promise<string> {
    try {
      const r = await this.client.createEntity(toEntity(record));
      return r.etag!;
    } catch (e) {
      if (statusCode(e) === 409) throw new Error(`instance ${record.id} is already registered`);
      throw e;
    }
  }

  async listInstances(): Promise<InstanceRecord[]> {
    const records: InstanceRecord[] = [];
    try {
      for await (const e of this.client.listEntities({ queryOptions: { filter: `PartitionKey eq '${PARTITION}'` } })) {
        records.push(this.remember(fromEntity(e)));
      }
    } catch (e) {
      // No table yet (the first launch prepares it): no instances.
      if (statusCode(e) !== 404) throw e;
    }
    return records.sort((a, b) => a.registeredAt - b.registeredAt || a.id.localeCompare(b.id));
  }

  async getInstance(id: string): Promise<InstanceRecord | undefined> {
    try {
      return this.remember(fromEntity(await this.client.getEntity(PARTITION, id)));
    } catch (e) {
      if (statusCode(e) !== 404) throw e;
      this.seen.delete(id);
      return undefined;
    }
  }

  /** The SSH host key a VM wrote to its own row as it booted (publishHostKey.py), if it has. */
  async publishedHostKey(id: string): Promise<string | undefined> {
    try {
      const e = await this.client.getEntity<{ hostKey?: string }>(PARTITION, id, { queryOptions: { select: [HOST_KEY_PROPERTY] } });
      return typeof e.hostKey === 'string' ? e.hostKey : undefined;
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  private remember(r: InstanceRecord): InstanceRecord {
    this.seen.set(r.id, r);
    return structuredClone(r);
  }

  async allocateJobs(id: string, etag: string, jobs: JobAllocation[]): Promise<boolean> {
    const seen = this.seen.get(id);
    const current = seen?.etag === etag ? structuredClone(seen) : await this.getInstance(id);
    if (!current || current.etag !== etag || current.preventFurtherAllocation) return false;
    if (!fits(jobsNeed(jobs), freeCapacity(current))) return false;
    for (const j of jobs) current.jobs[j.jobId] = j;
    current.lastJobChangeAt = Date.now();
    return typeof (await this.replace(current)) === 'string';
  }

  /** A read of the one row and a compare-and-swap on it (no query of the table). */
  async allocateIfFits(id: string, jobs: JobAllocation[]): Promise<InstanceRecord | undefined> {
    for (;;) {
      const current = await this.getInstance(id);
      if (!current || current.preventFurtherAllocation || !fits(jobsNeed(jobs), freeCapacity(current))) return undefined;
      for (const j of jobs) current.jobs[j.jobId] = j;
      current.lastJobChangeAt = Date.now();
      const etag = await this.replace(current);
      if (etag === null) return undefined;
      if (etag) return { ...current, etag };
    }
  }

  async deallocateJob(id: string, jobId: string): Promise<boolean> {
    return this.update(id, (r) => {
      if (!r.jobs[jobId]) return false;
      delete r.jobs[jobId];
      r.lastJobChangeAt = Date.now();
      return true;
    });
  }

  async preventFurtherAllocation(id: string): Promise<void> {
    await this.update(id, (r) => !r.preventFurtherAllocation && (r.preventFurtherAllocation = true));
  }

  async markReady(id: string, endpoint: InstanceEndpoint): Promise<boolean> {
    return this.update(id, (r) => {
      if (r.state !== 'launching' || r.preventFurtherAllocation) return false;
      const now = Date.now();
      r.state = 'ready';
      Object.assign(r, endpoint);
      for (const j of Object.values(r.jobs)) j.allocatedAt = now;
      return true;
    });
  }

  async recordManagement(id: string, touch: ManagementTouch): Promise<void> {
    await this.update(id, (r) => ((r.managed = touch), true));
  }

  async deregisterInstance(id: string): Promise<boolean> {
    for (;;) {
      const current = await this.getInstance(id);
      if (!current || Object.keys(current.jobs).length > 0) return false;
      try {
        await this.client.deleteEntity(PARTITION, id, { etag: current.etag });
        this.seen.delete(id);
        return true;
      } catch (e) {
        if (statusCode(e) === 404) return false;
        if (statusCode(e) !== 412) throw e;
      }
    }
  }

  /**
   * Reads the row, lets `change` edit it (returning false when there is nothing to do), and writes
   * it back if it did not change meanwhile; else again. Returns whether a change was written.
   */
  private async update(id: string, change: (r: InstanceRecord) => boolean): Promise<boolean> {
    for (;;) {
      const current = await this.getInstance(id);
      if (!current || !change(current)) return false;
      const etag = await this.replace(current);
      if (etag !== undefined) return etag !== null;
    }
  }

  /** Replaces the row if it is still at `record.etag`: its new etag, undefined when that race was lost, null when the row is gone. */
  private async replace(record: InstanceRecord): Promise<string | undefined | null> {
    const { etag, ...rest } = record;
    try {
      return (await this.client.updateEntity(toEntity(rest), 'Replace', { etag })).etag!;
    } catch (e) {
      if (statusCode(e) === 412) return undefined;
      if (statusCode(e) === 404) return null;
      throw e;
    }
  }
}

export function tableClient(access: StorageAccess, tableName: string): TableClient {
  return access.connectionString !== undefined
    ? TableClient.fromConnectionString(access.connectionString, tableName, { allowInsecureConnection: access.connectionString.includes('http://') })
    : new TableClient(serviceUrl(access.account, 'table', access.endpoints), tableName, access.credential);
}

/** Creates the table if it does not exist. Returns whether it created it. */
export async function createAllocationTable(access: StorageAccess, tableName = ALLOCATION_TABLE): Promise<boolean> {
  try {
    await tableClient(access, tableName).createTable();
  } catch (e) {
    // createTable passes over TableAlreadyExists itself in this SDK; a 409 from another path is the same.
    if (statusCode(e) !== 409) throw e;
    return false;
  }
  return true;
}

/** Deletes the table if it exists. */
export async function deleteAllocationTable(access: StorageAccess, tableName = ALLOCATION_TABLE): Promise<void> {
  await tableClient(access, tableName).deleteTable(); // a missing table is not an error to the SDK
}

/** A record as an entity: scalars as properties (numbers as Double), objects as JSON strings; undefined left out. */
function toEntity(record: Omit<InstanceRecord, 'etag'>): Entity {
  const entity: Entity = { partitionKey: PARTITION, rowKey: record.id };
  for (const [k, v] of Object.entries(record)) {
    if (v === undefined || k === 'id') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new Error(`an Azure Table cannot store the number ${v} (${k})`);
      entity[k] = { value: String(v), type: 'Double' };
    } else if (typeof v === 'string' || typeof v === 'boolean') entity[k] = v;
    else {
      // A string property holds at most 32K characters: longer JSON (the jobs of a big instance)
      // goes in parts, <field>Json, <field>Json1, <field>Json2, …
      const json = JSON.stringify(v);
      for (let i = 0; i * JSON_PART_CHARS < json.length || i === 0; i++) entity[k + JSON_SUFFIX + (i || '')] = json.slice(i * JSON_PART_CHARS, (i + 1) * JSON_PART_CHARS);
    }
  }
  return entity;
}

const SYSTEM = new Set(['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.metadata']);

function fromEntity(e: TableEntityResult<Record<string, unknown>>): InstanceRecord {
  const record: Record<string, unknown> = { id: e.rowKey };
  const parts = new Map<string, string[]>();
  for (const [k, v] of Object.entries(e)) {
    if (SYSTEM.has(k)) continue;
    const json = JSON_PART.exec(k);
    if (json && typeof v === 'string') {
      const list = parts.get(json[1]) ?? [];
      list[Number(json[2] || 0)] = v;
      parts.set(json[1], list);
    } else record[k] = v;
  }
  for (const [k, list] of parts) record[k] = JSON.parse(list.join(''));
  record.etag = e.etag;
  return record as unknown as InstanceRecord;
}
