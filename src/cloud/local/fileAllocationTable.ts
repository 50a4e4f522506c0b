import * as fs from 'fs';
import * as path from 'path';
import { fits } from '../../core/resources';
import { AllocationTable, freeCapacity, InstanceRecord, JobAllocation } from '../ports';

/**
 * The instance allocation table as files, safe with many processes writing at once.
 *
 * Each write publishes a new version of a record as `<id>~<version>.json` with link(2), which fails
 * when that file exists: of two writers that read the same version, exactly one publishes the next,
 * the other learns it lost and retries. No locks, so a crashed writer can't wedge the table.
 * A deregistered instance is published as a tombstone version.
 */
export class FileAllocationTable implements AllocationTable {
  constructor(readonly dir: string) {}

  async registerInstance(record: Omit<InstanceRecord, 'version'>): Promise<void> {
    const published = this.publish({ ...record, version: 1 });
    if (!published) throw new Error(`instance ${record.id} is already registered`);
  }

  async listInstances(): Promise<InstanceRecord[]> {
    const versions = this.versions();
    const records: InstanceRecord[] = [];
    for (const id of new Set(versions.map((v) => v.id))) {
      const r = this.read(id, versions);
      if (r) records.push(r);
    }
    return records.sort((a, b) => a.registeredAt - b.registeredAt || a.id.localeCompare(b.id));
  }

  async getInstance(id: string): Promise<InstanceRecord | undefined> {
    return this.read(id);
  }

  async allocateJobs(id: string, expectedVersion: number, jobs: JobAllocation[]): Promise<boolean> {
    const current = this.read(id);
    if (!current || current.version !== expectedVersion || current.preventFurtherAllocation) return false;
    const need = jobs.reduce(
      (s, j) => ({ cpu: s.cpu + j.cpu, memoryGb: s.memoryGb + j.memoryGb, gpus: s.gpus + j.gpus }),
      { cpu: 0, memoryGb: 0, gpus: 0 },
    );
    if (!fits(need, freeCapacity(current))) return false;
    const next = { ...current, jobs: { ...current.jobs }, lastJobChangeAt: Date.now(), version: current.version + 1 };
    for (const j of jobs) next.jobs[j.jobId] = j;
    return this.publish(next);
  }

  async deallocateJob(id: string, jobId: string): Promise<boolean> {
    const changed = this.update(id, (r) => {
      if (!r.jobs[jobId]) return undefined;
      const jobs = { ...r.jobs };
      delete jobs[jobId];
      return { ...r, jobs, lastJobChangeAt: Date.now() };
    });
    return changed;
  }

  async preventFurtherAllocation(id: string): Promise<void> {
    this.update(id, (r) => (r.preventFurtherAllocation ? undefined : { ...r, preventFurtherAllocation: true }));
  }

  async deregisterInstance(id: string): Promise<boolean> {
    for (;;) {
      const current = this.read(id);
      if (!current) return false;
      if (Object.keys(current.jobs).length > 0) return false;
      if (this.publish({ id, version: current.version + 1, deleted: true } as unknown as InstanceRecord)) return true;
    }
  }

  /** Read-modify-write with retry on a lost race; `change` returns undefined for "nothing to do". */
  private update(id: string, change: (r: InstanceRecord) => Omit<InstanceRecord, 'version'> | undefined): boolean {
    for (;;) {
      const current = this.read(id);
      if (!current) return false;
      const next = change(current);
      if (!next) return false;
      if (this.publish({ ...next, version: current.version + 1 })) return true;
    }
  }

  private versions(): { id: string; version: number; file: string }[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    const out = [];
    for (const file of names) {
      const m = /^(.+)~(\d+)\.json$/.exec(file);
      if (m) out.push({ id: m[1], version: Number(m[2]), file });
    }
    return out;
  }

  /** The newest version of a record; `listed` saves a directory listing when the caller has one. */
  private read(id: string, listed?: { id: string; version: number; file: string }[]): InstanceRecord | undefined {
    for (let attempt = 0; ; attempt++) {
      const mine = (attempt === 0 && listed ? listed : this.versions()).filter((v) => v.id === id);
      if (mine.length === 0) return undefined;
      const newest = mine.reduce((a, b) => (a.version > b.version ? a : b));
      try {
        const record = JSON.parse(fs.readFileSync(path.join(this.dir, newest.file), 'utf8'));
        return record.deleted ? undefined : (record as InstanceRecord);
      } catch (e) {
        // A writer cleaned up this version after a newer one appeared: look again.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 100) throw e;
      }
    }
  }

  private publish(record: InstanceRecord): boolean {
    fs.mkdirSync(this.dir, { recursive: true });
    const target = path.join(this.dir, `${record.id}~${record.version}.json`);
    const tmp = path.join(this.dir, `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(tmp, JSON.stringify(record));
    try {
      fs.linkSync(tmp, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    } finally {
      fs.unlinkSync(tmp);
    }
    const mine = this.versions().filter((v) => v.id === record.id);
    // Old versions get cleaned up, so a writer that read one long ago can re-create a version number
    // that was already superseded. The newest version is never removed, so a newer one being present
    // proves this write lost the race.
    if (mine.some((v) => v.version > record.version)) {
      fs.rmSync(target, { force: true });
      return false;
    }
    // Keep the previous version for readers that listed the directory a moment ago.
    for (const v of mine) {
      if (v.version < record.version - 1) fs.rmSync(path.join(this.dir, v.file), { force: true });
    }
    return true;
  }
}
