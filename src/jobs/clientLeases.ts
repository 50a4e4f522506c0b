import * as fs from 'fs';
import * as path from 'path';
import { isAlive, PidFile, processPidFile } from '../system/processes';
import { Cloud } from '../cloud/ports';
import { deleteJobQueues } from '../cloud/jobQueues';
import { discardInstance } from './allocate';
import { Logger, logFailure, SILENT } from '../core/logger';

/**
 * What a map run holds in the cloud, written on the client machine while it runs: if the client
 * is killed (kill -9, a second Ctrl-C), a later client frees it — its queues, its allocations,
 * and the instances it launched that nothing else uses.
 */
export interface ClientLease {
  client: PidFile;
  /** The map's id: its queue pair's name, and the prefix of every job it allocates. */
  jobId: string;
  launched: string[];
}

export class LeaseFile {
  private readonly lease: ClientLease;
  private readonly file: string;

  constructor(dir: string, jobId: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, `${jobId}.json`);
    this.lease = { client: processPidFile(process.pid), jobId, launched: [] };
    this.save();
  }

  /** Recorded as soon as the instance is registered, before the allocation call returns. */
  launched(instanceId: string): void {
    if (this.lease.launched.includes(instanceId)) return;
    this.lease.launched.push(instanceId);
    this.save();
  }

  remove(): void {
    fs.rmSync(this.file, { force: true });
  }

  private save(): void {
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.lease), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }
}

/**
 * Frees what the leases in `dir` hold when their client is gone (or, with `mine`, when it is this
 * process, giving up). Returns the map job ids it cleaned up after.
 */
export async function reapLeases(cloud: Cloud, dir: string, o: { mine?: boolean; log?: Logger } = {}): Promise<string[]> {
  const log = o.log ?? SILENT;
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const reaped: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    let lease: ClientLease;
    try {
      lease = JSON.parse(fs.readFileSync(file, 'utf8')) as ClientLease;
    } catch {
      continue; // being written, or not ours to judge
    }
    const mine = lease.client.pid === process.pid;
    if (o.mine ? !mine : mine || isAlive(lease.client)) continue;
    await deleteJobQueues(cloud, lease.jobId);
    // Its jobs are known by their prefix, wherever they were allocated (even mid-call when killed).
    for (const r of await cloud.table.listInstances()) {
      for (const jobId of Object.keys(r.jobs)) if (jobId.startsWith(`${lease.jobId}-`)) await cloud.table.deallocateJob(r.id, jobId);
    }
    for (const id of lease.launched) {
      // Killed between the launch and its registration: the instance runs with no row.
      if (!(await cloud.table.getInstance(id))) {
        await cloud.provider.terminate(id).catch(() => undefined);
        continue;
      }
      // Launched for the map, but another client's job may have moved in since: then it stays.
      if (Object.keys((await cloud.table.getInstance(id))?.jobs ?? {}).length) continue;
      await cloud.table.preventFurtherAllocation(id);
      if (Object.keys((await cloud.table.getInstance(id))?.jobs ?? {}).length) continue;
      await discardInstance(cloud, id).catch((e) => logFailure(log, `Could not terminate ${id}, launched for the map ${lease.jobId}; it may keep running`, e));
    }
    fs.rmSync(file, { force: true });
    log.info(`Freed what the map ${lease.jobId} left behind`);
    reaped.push(lease.jobId);
  }
  return reaped;
}
