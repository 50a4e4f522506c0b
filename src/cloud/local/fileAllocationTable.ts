import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { fits } from '../../core/resources';
import { AllocationTable, freeCapacity, InstanceEndpoint, InstanceRecord, JobAllocation, jobsNeed, ManagementTouch } from '../ports';

/**
 * The instance allocation table as files, safe with many processes writing at once. No locks, so a
 * crashed writer can't wedge the table.
 *
 * A record at version k is the file `<id>~k.json`. A write is a compare-and-swap on that file:
 *   1. write the new version to `<id>~k.next-<token>`;
 *   2. rename `<id>~k.json` to `<id>~k.prev-<token>`: only one writer can move it away, so this is
 *      the moment the write takes effect, or, failing with ENOENT, is lost;
 *   3. rename `<id>~k.next-<token>` to `<id>~(k+1).json`.
 * Invariant: every `<id>~k.json` is created once (from the one proposal whose writer claimed k-1;
 * renaming moves that proposal away) and moved away once. So a writer that read version k long ago
 * can never take effect after another, and a write that returned true is never undone.
 * Between steps 2 and 3 the record reads as the claimed proposal: readers finish step 3 for a writer
 * that died there. The claimed previous version stays until the next write, to repair a corrupt head.
 * A deregistered instance is published as a tombstone version, then its files are removed.
 */
export class FileAllocationTable implements AllocationTable {
  constructor(readonly dir: string) {}

  async registerInstance(record: Omit<InstanceRecord, 'etag'>): Promise<string> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // Version 1 must not be created again under a record that has moved on (ids are never reused).
    let registered = false;
    if (!this.entries().some((e) => e.id === record.id)) {
      const tmp = path.join(this.dir, `.tmp-${token()}`);
      fs.writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
      try {
        fs.linkSync(tmp, this.file(record.id, '1.json'));
        registered = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      } finally {
        fs.unlinkSync(tmp);
      }
    }
    if (!registered) throw new Error(`instance ${record.id} is already registered`);
    return etagOf(1);
  }

  async listInstances(): Promise<InstanceRecord[]> {
    const entries = this.entries();
    const records: InstanceRecord[] = [];
    for (const id of new Set(entries.map((e) => e.id))) {
      const r = this.read(id, entries);
      if (r) records.push(r);
    }
    return records.sort((a, b) => a.registeredAt - b.registeredAt || a.id.localeCompare(b.id));
  }

  async getInstance(id: string): Promise<InstanceRecord | undefined> {
    return this.read(id);
  }

  async allocateJobs(id: string, etag: string, jobs: JobAllocation[]): Promise<boolean> {
    const current = this.read(id);
    if (!current || current.etag !== etag || current.preventFurtherAllocation) return false;
    if (!fits(jobsNeed(jobs), freeCapacity(current))) return false;
    return this.publish(id, versionOf(current), withJobs(current, jobs));
  }

  async allocateIfFits(id: string, jobs: JobAllocation[]): Promise<InstanceRecord | undefined> {
    for (;;) {
      const current = this.read(id);
      if (!current || current.preventFurtherAllocation || !fits(jobsNeed(jobs), freeCapacity(current))) return undefined;
      const next = withJobs(current, jobs);
      if (this.publish(id, versionOf(current), next)) return { ...next, etag: etagOf(versionOf(current) + 1) };
    }
  }

  async deallocateJob(id: string, jobId: string): Promise<boolean> {
    return this.update(id, (r) => {
      if (!r.jobs[jobId]) return undefined;
      const jobs = { ...r.jobs };
      delete jobs[jobId];
      return { ...r, jobs, lastJobChangeAt: Date.now() };
    });
  }

  async preventFurtherAllocation(id: string): Promise<void> {
    this.update(id, (r) => (r.preventFurtherAllocation ? undefined : { ...r, preventFurtherAllocation: true }));
  }

  async recordManagement(id: string, touch: ManagementTouch): Promise<void> {
    this.update(id, (r) => ({ ...r, managed: touch }));
  }

  async markReady(id: string, endpoint: InstanceEndpoint): Promise<boolean> {
    return this.update(id, (r) => {
      if (r.state !== 'launching' || r.preventFurtherAllocation) return undefined;
      const now = Date.now();
      const jobs = Object.fromEntries(Object.entries(r.jobs).map(([k, j]) => [k, { ...j, allocatedAt: now }]));
      return { ...r, ...endpoint, jobs, state: 'ready' };
    });
  }

  async deregisterInstance(id: string): Promise<boolean> {
    for (;;) {
      const current = this.read(id);
      if (!current || Object.keys(current.jobs).length > 0) return false;
      if (this.publish(id, versionOf(current), { id, deleted: true })) {
        this.forget(id, this.file(id, `${versionOf(current) + 1}.json`));
        return true;
      }
    }
  }

  /** Read-modify-write with retry on a lost race; `change` returns undefined for "nothing to do". */
  private update(id: string, change: (r: InstanceRecord) => object | undefined): boolean {
    for (;;) {
      const current = this.read(id);
      if (!current) return false;
      const next = change(current);
      if (!next) return false;
      if (this.publish(id, versionOf(current), next)) return true;
    }
  }

  private file(id: string, suffix: string): string {
    return path.join(this.dir, `${id}~${suffix}`);
  }

  private entries(): Entry[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: Entry[] = [];
    for (const name of names) {
      const m = /^(.+)~(\d+)\.(?:(json)|(next|prev)-(\w+))$/.exec(name);
      if (m) out.push({ id: m[1], version: Number(m[2]), kind: (m[3] ?? m[4]) as Entry['kind'], token: m[5], name });
    }
    return out;
  }

  /** The current version of a record; `listed` saves a directory listing when the caller has one. */
  private read(id: string, listed?: Entry[]): InstanceRecord | undefined {
    for (let attempt = 0; attempt < 100; attempt++) {
      const mine = (attempt === 0 && listed ? listed : this.entries()).filter((e) => e.id === id);
      const newest = (kind: Entry['kind']) => mine.filter((e) => e.kind === kind).sort((a, b) => b.version - a.version)[0];
      const head = newest('json');
      const claimed = newest('prev');
      // A version below a claimed one is a leftover (of the older format that kept two versions).
      if (head && !(claimed && claimed.version >= head.version)) {
        let text: string;
        try {
          text = fs.readFileSync(path.join(this.dir, head.name), 'utf8');
        } catch (e) {
          // A writer claimed this version since the listing: look again.
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw e;
        }
        const record = parseRecord(text);
        if (!record) {
          this.repair(id, head, mine);
          continue;
        }
        if (record.deleted) {
          this.forget(id, path.join(this.dir, head.name));
          return undefined;
        }
        // Rows written before instances had states were registered once ready.
        return { ...record, state: record.state ?? 'ready', etag: etagOf(head.version) } as InstanceRecord;
      }
      if (!claimed) return undefined;
      // A write took effect but is not published yet: finish it for its writer, which may have died.
      const proposal = mine.find((e) => e.kind === 'next' && e.version === claimed.version && e.token === claimed.token);
      if (proposal) renameIfPresent(path.join(this.dir, proposal.name), this.file(id, `${claimed.version + 1}.json`));
    }
    console.warn(`meadowrun: skipping instance ${id} in the allocation table (${this.dir}): its files are damaged`);
    return undefined;
  }

  /** Compare-and-swap of version `version` of record `id` for `next` (see the class comment). */
  private publish(id: string, version: number, next: object): boolean {
    const t = token();
    const proposal = this.file(id, `${version}.next-${t}`);
    try {
      const { etag: _, ...stored } = next as { etag?: string };
      fs.writeFileSync(proposal, JSON.stringify(stored), { mode: 0o600 });
      fs.renameSync(this.file(id, `${version}.json`), this.file(id, `${version}.prev-${t}`));
    } catch (e) {
      fs.rmSync(proposal, { force: true });
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    renameIfPresent(proposal, this.file(id, `${version + 1}.json`));
    // Older versions and lost proposals can never take effect again.
    for (const e of this.entries()) {
      if (e.id === id && e.version < version) fs.rmSync(path.join(this.dir, e.name), { force: true });
    }
    return true;
  }

  /** Removes a deregistered record: the tombstone goes last, so readers never see a claim without its proposal. */
  private forget(id: string, tombstone: string): void {
    for (const e of this.entries()) {
      const file = path.join(this.dir, e.name);
      if (e.id === id && file !== tombstone) fs.rmSync(file, { force: true });
    }
    fs.rmSync(tombstone, { force: true });
  }

  /**
   * A head that is not a record (a disk filled up, a crash of the machine, an editor) must not break
   * every command: replace it by the previous version, or drop the record if there is none usable.
   */
  private repair(id: string, head: Entry, mine: Entry[]): void {
    const previous = mine
      .filter((e) => e.kind === 'prev' && e.version === head.version - 1)
      .map((e) => {
        try {
          return parseRecord(fs.readFileSync(path.join(this.dir, e.name), 'utf8'));
        } catch {
          return undefined;
        }
      })
      .find((r) => r && !r.deleted);
    const what = `meadowrun: the allocation table's record of instance ${id} (${path.join(this.dir, head.name)}) is unreadable`;
    if (previous) {
      if (this.publish(id, head.version, previous)) console.warn(`${what}: restored its previous version`);
    } else if (this.publish(id, head.version, { id, deleted: true })) {
      console.warn(`${what} and has no usable previous version: removed it from the table`);
    }
  }
}

interface Entry {
  id: string;
  version: number;
  /** A version, a writer's proposal for the version after it, or a version a writer claimed. */
  kind: 'json' | 'next' | 'prev';
  token?: string;
  name: string;
}

function withJobs(r: InstanceRecord, jobs: JobAllocation[]): InstanceRecord {
  return { ...r, jobs: { ...r.jobs, ...Object.fromEntries(jobs.map((j) => [j.jobId, j])) }, lastJobChangeAt: Date.now() };
}

function token(): string {
  return crypto.randomBytes(6).toString('hex');
}

/** The etag of a record is its version number, which its file name carries. */
function etagOf(version: number): string {
  return String(version);
}

function versionOf(r: InstanceRecord): number {
  return Number(r.etag);
}

function parseRecord(text: string): (Omit<InstanceRecord, 'etag'> & { deleted?: boolean }) | undefined {
  try {
    // Files written before the etag kept their version inside too: the file name is what counts.
    const { version: _, ...r } = JSON.parse(text) ?? {};
    if (r.deleted === true || (typeof r.jobs === 'object' && r.jobs && typeof r.total === 'object' && r.total)) return r;
  } catch {
    // reported by the caller
  }
  return undefined;
}

function renameIfPresent(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
