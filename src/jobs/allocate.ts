import { chooseInstanceTypes, describeNoFit } from '../core/chooseInstanceTypes';
import { MeadowrunError, throwIfCancelled } from '../core/errors';
import { InstanceOption } from '../core/instanceTypes';
import { PackableInstance, pickInstanceForJob } from '../core/packing';
import { Resources } from '../core/resources';
import { Cloud, freeCapacity, InstanceRecord, JobAllocation } from '../cloud/ports';
import { SessionPool } from '../remote/pool';
import { Logger, logFailure, SILENT } from '../core/logger';

export type AllocationEvent =
  | { kind: 'launching'; typeName: string; spot: boolean; price: number }
  | { kind: 'launched'; instanceId: string; seconds: number }
  /** An instance could not be reached: it takes no more jobs, and the job moves (once) elsewhere. */
  | { kind: 'retrying'; instanceId: string; reason: string };

export interface Allocation {
  instance: InstanceRecord;
  /** True when the instance was launched for this job (and so should go if the job never runs). */
  launched: boolean;
}

export interface AllocateOptions {
  onEvent?: (e: AllocationEvent) => void;
  /** Only use instances that already run; fail instead of launching. */
  noLaunch?: boolean;
  signal?: AbortSignal;
}

const MAX_RACE_RETRIES = 50;

/**
 * Puts a job on the fullest running instance it fits (compare-and-swap on the table, retried on a
 * lost race), or launches the cheapest type that fits and registers it with the job pre-allocated.
 */
export async function allocateJob(cloud: Cloud, need: Resources, jobId: string, o: AllocateOptions = {}): Promise<Allocation> {
  const [allocation] = await allocateJobs(cloud, need, [jobId], o);
  return allocation;
}

/** Launches an instance and registers it with `jobs` already allocated (none for spare capacity). */
export async function launchAndRegister(cloud: Cloud, option: InstanceOption, jobs: JobAllocation[]): Promise<InstanceRecord> {
  const keys = await cloud.secrets.getSshKeyPair();
  const launched = await cloud.provider.launch(option, keys.publicKey);
  const now = Date.now();
  const record: Omit<InstanceRecord, 'etag'> = {
    id: launched.id,
    typeName: option.type.name,
    spot: option.spot,
    price: option.price,
    total: { cpu: option.type.cpu, memoryGb: option.type.memoryGb, gpus: option.type.gpus },
    ...(option.spot && option.type.evictionRatePct !== undefined && { evictionRatePct: option.type.evictionRatePct }),
    ...(option.type.memoryPerGpuGb !== undefined && { memoryPerGpuGb: option.type.memoryPerGpuGb }),
    ...(option.type.cpuFeatures !== undefined && { cpuFeatures: [...option.type.cpuFeatures] }),
    // The sweep's grace period counts from here: a launch can take longer than the grace.
    jobs: Object.fromEntries(jobs.map((j) => [j.jobId, { ...j, allocatedAt: now }])),
    preventFurtherAllocation: false,
    ssh: launched.ssh,
    workDir: launched.workDir,
    nodeCommand: launched.nodeCommand,
    registeredAt: now,
    lastJobChangeAt: now,
  };
  let etag: string;
  try {
    etag = await cloud.table.registerInstance(record);
  } catch (e) {
    await cloud.provider.terminate(launched.id);
    throw e;
  }
  return { ...record, etag };
}

/** A table row as packing sees it. */
export function packable(r: InstanceRecord): PackableInstance {
  return {
    id: r.id,
    free: freeCapacity(r),
    gpus: r.total.gpus,
    spot: r.spot,
    evictionRatePct: r.evictionRatePct,
    memoryPerGpuGb: r.memoryPerGpuGb,
    cpuFeatures: r.cpuFeatures,
    preventFurtherAllocation: r.preventFurtherAllocation,
  };
}

/**
 * Allocates several equal jobs (a map's workers): onto running instances first, fullest first, among
 * those whose market, GPUs and traits the job accepts (see pickInstanceForJob);
 * the rest onto the cheapest mix of new instances, several workers per instance when they fit.
 */
export async function allocateJobs(cloud: Cloud, need: Resources, jobIds: string[], o: AllocateOptions = {}): Promise<Allocation[]> {
  const types = await cloud.provider.listInstanceTypes();
  if (chooseInstanceTypes(types, need, 1).length === 0) throw new MeadowrunError(describeNoFit(types, need), 'no-fit');
  const job = (jobId: string): JobAllocation => ({ jobId, cpu: need.cpu, memoryGb: need.memoryGb, gpus: need.gpus, allocatedAt: Date.now() });
  const allocations: Allocation[] = [];
  let remaining = [...jobIds];
  // One job at a time onto the fullest instance it fits; a lost race (another client wrote the
  // instance's row first) backs off a little, at random, and looks again.
  for (let attempt = 0; remaining.length && attempt < MAX_RACE_RETRIES; attempt++) {
    const records = await cloud.table.listInstances();
    const pick = pickInstanceForJob(records.map(packable), need);
    if (!pick) break;
    const record = records.find((r) => r.id === pick.id)!;
    const allocation = job(remaining[0]);
    if (await cloud.table.allocateJobs(record.id, record.etag, [allocation])) {
      // Our view of the row with the job in it; its etag is the one read (the new one is the table's).
      allocations.push({ instance: { ...record, jobs: { ...record.jobs, [allocation.jobId]: allocation } }, launched: false });
      remaining = remaining.slice(1);
    } else {
      await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
    }
  }
  if (!remaining.length) return allocations;
  if (o.noLaunch) throw new MeadowrunError('No running instance has room for this job (and launching was not allowed)', 'no-room');
  for (const choice of chooseInstanceTypes(types, need, remaining.length)) {
    for (let i = 0; i < choice.count; i++) {
      throwIfCancelled(o.signal);
      const ids = remaining.splice(0, choice.workersPerInstance);
      o.onEvent?.({ kind: 'launching', typeName: choice.option.type.name, spot: choice.option.spot, price: choice.option.price });
      const started = Date.now();
      const record = await launchAndRegister(cloud, choice.option, ids.map(job));
      o.onEvent?.({ kind: 'launched', instanceId: record.id, seconds: (Date.now() - started) / 1000 });
      for (const _ of ids) allocations.push({ instance: record, launched: true });
    }
  }
  return allocations;
}

/** Removes an instance launched for a job that never got to run: nothing is left behind. */
export async function discardInstance(cloud: Cloud, instanceId: string): Promise<void> {
  await cloud.table.deregisterInstance(instanceId);
  await cloud.provider.terminate(instanceId);
}

/** Whether a job failed because its instance could not be reached (after the connection's own retries). */
export function isUnreachable(e: unknown): boolean {
  const code = (e as MeadowrunError)?.code;
  return code === 'unreachable' || code === 'host-key';
}

/**
 * An instance we cannot reach takes no more jobs; `jobIds` (ours, never started) are freed; and
 * once nothing runs on it, it is removed, so a dead instance never keeps attracting jobs.
 */
export async function fenceUnreachable(cloud: Cloud, pool: SessionPool | undefined, instanceId: string, jobIds: string[], log: Logger = SILENT): Promise<void> {
  await cloud.table.preventFurtherAllocation(instanceId);
  pool?.close(instanceId);
  for (const jobId of jobIds) await cloud.table.deallocateJob(instanceId, jobId);
  const record = await cloud.table.getInstance(instanceId);
  log.info(`Instance ${instanceId} is unreachable: it takes no more jobs`);
  if (record && Object.keys(record.jobs).length === 0) await discardInstance(cloud, instanceId).catch((e) => logFailure(log, `Could not terminate the unreachable instance ${instanceId}; it may keep running`, e));
}
