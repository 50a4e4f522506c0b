// The allocation table port in memory: the smallest implementation of its contract, for tests of
// code above the port and as a second subject of test/contracts/allocationTableContract.ts. Its
// etags are random, so a caller that does arithmetic on them fails here.
import { randomUUID } from 'node:crypto';
import { fits } from '../../src/core/resources';
import { AllocationTable, freeCapacity, InstanceEndpoint, InstanceRecord, JobAllocation, jobsNeed, ManagementTouch } from '../../src/cloud/ports';

export class MemoryAllocationTable implements AllocationTable {
  private readonly records = new Map<string, InstanceRecord>();

  async registerInstance(record: Omit<InstanceRecord, 'etag'>): Promise<string> {
    if (this.records.has(record.id)) throw new Error(`instance ${record.id} is already registered`);
    const etag = randomUUID();
    this.records.set(record.id, structuredClone({ ...record, etag }));
    return etag;
  }

  async listInstances(): Promise<InstanceRecord[]> {
    return [...this.records.values()]
      .map((r) => structuredClone(r))
      .sort((a, b) => a.registeredAt - b.registeredAt || a.id.localeCompare(b.id));
  }

  async getInstance(id: string): Promise<InstanceRecord | undefined> {
    const r = this.records.get(id);
    return r && structuredClone(r);
  }

  async allocateJobs(id: string, etag: string, jobs: JobAllocation[]): Promise<boolean> {
    const r = this.records.get(id);
    if (!r || r.etag !== etag || r.preventFurtherAllocation) return false;
    if (!fits(jobsNeed(jobs), freeCapacity(r))) return false;
    for (const j of jobs) r.jobs[j.jobId] = structuredClone(j);
    r.etag = randomUUID();
    r.lastJobChangeAt = Date.now();
    return true;
  }

  async allocateIfFits(id: string, jobs: JobAllocation[]): Promise<InstanceRecord | undefined> {
    const r = this.records.get(id);
    if (!r || !(await this.allocateJobs(id, r.etag, jobs))) return undefined;
    return structuredClone(r);
  }

  async deallocateJob(id: string, jobId: string): Promise<boolean> {
    const r = this.records.get(id);
    if (!r?.jobs[jobId]) return false;
    delete r.jobs[jobId];
    r.etag = randomUUID();
    r.lastJobChangeAt = Date.now();
    return true;
  }

  async recordManagement(id: string, touch: ManagementTouch): Promise<void> {
    const r = this.records.get(id);
    if (!r) return;
    r.managed = { ...touch };
    r.etag = randomUUID();
  }

  async preventFurtherAllocation(id: string): Promise<void> {
    const r = this.records.get(id);
    if (!r || r.preventFurtherAllocation) return;
    r.preventFurtherAllocation = true;
    r.etag = randomUUID();
  }

  async markReady(id: string, endpoint: InstanceEndpoint): Promise<boolean> {
    const r = this.records.get(id);
    if (!r || r.state !== 'launching' || r.preventFurtherAllocation) return false;
    Object.assign(r, structuredClone(endpoint), { state: 'ready', etag: randomUUID() });
    for (const j of Object.values(r.jobs)) j.allocatedAt = Date.now();
    return true;
  }

  async deregisterInstance(id: string): Promise<boolean> {
    const r = this.records.get(id);
    if (!r || Object.keys(r.jobs).length > 0) return false;
    return this.records.delete(id);
  }
}
