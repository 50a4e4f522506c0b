import { AllocationTable } from '../cloud/ports';
import { listPidFiles, readPidFile, removePidFile } from './pidFiles';
import { isAlive } from '../system/processes';

export interface SweepOptions {
  instanceId: string;
  workDir: string;
  table: AllocationTable;
  /** A job with no PID file is freed once it has been allocated this long (ms). */
  graceMs: number;
  /** Whether the provider has announced that this (spot) instance is about to be interrupted. */
  interruptionAnnounced?: () => Promise<boolean>;
  now?: () => number;
}

/**
 * Frees allocations of jobs whose process died without deallocating (a crash, kill -9, a lost
 * client), and of jobs that never started a process within the grace period. Returns the freed ids.
 */
export async function sweepOnce(o: SweepOptions): Promise<string[]> {
  const now = (o.now ?? Date.now)();
  const record = await o.table.getInstance(o.instanceId);
  // An instance about to go takes no new jobs; the ones it runs finish if they can.
  if (record && !record.preventFurtherAllocation && (await o.interruptionAnnounced?.())) {
    await o.table.preventFurtherAllocation(o.instanceId);
  }
  const freed: string[] = [];
  for (const job of Object.values(record?.jobs ?? {})) {
    const pidFile = readPidFile(o.workDir, job.jobId);
    const dead = pidFile ? !isAlive(pidFile) : now - job.allocatedAt > o.graceMs;
    if (dead && (await o.table.deallocateJob(o.instanceId, job.jobId))) freed.push(job.jobId);
  }
  // PID files of jobs that are no longer allocated and whose process is gone are just litter.
  const allocated = new Set(Object.keys((await o.table.getInstance(o.instanceId))?.jobs ?? {}));
  for (const jobId of listPidFiles(o.workDir)) {
    const p = readPidFile(o.workDir, jobId);
    if (!allocated.has(jobId) && (!p || !isAlive(p))) removePidFile(o.workDir, jobId);
  }
  return freed;
}
