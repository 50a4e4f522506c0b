import { planAdjustments } from '../core/adjusterPlan';
import { AdjusterPlan, AdjusterRunResult, DEFAULT_MANAGEMENT_CONFIG, FleetInstance, ManagementConfig } from '../core/management';
import { Cloud, PAIR_USE_RESOLUTION_S } from '../cloud/ports';
import type { InstanceOption } from '../core/instanceTypes';
import { launchAndRegister } from '../jobs/allocate';
import { instanceEnvironments } from '../jobs/environments';
import { SessionPool } from '../remote/pool';
import { isReady } from '../cloud/ports';

/** What the provider and the allocation table say, joined into one view of the fleet. */
export async function gatherFleet(cloud: Cloud): Promise<FleetInstance[]> {
  const [records, running, types] = await Promise.all([cloud.table.listInstances(), cloud.provider.listRunning(), cloud.provider.listInstanceTypes()]);
  const typeByName = new Map(types.map((t) => [t.name, t]));
  const runningById = new Map(running.map((r) => [r.id, r]));
  const fleet: FleetInstance[] = records.map((r) => ({
    id: r.id,
    typeName: r.typeName,
    spot: r.spot,
    price: r.price,
    cpu: r.total.cpu,
    memoryGb: r.total.memoryGb,
    gpus: r.total.gpus,
    evictionRatePct: r.spot ? r.evictionRatePct : undefined,
    memoryPerGpuGb: r.memoryPerGpuGb,
    cpuFeatures: r.cpuFeatures,
    registered: true,
    running: runningById.has(r.id),
    launchedAt: runningById.get(r.id)?.launchedAt ?? r.registeredAt,
    registeredAt: r.registeredAt,
    state: r.state,
    jobCount: Object.keys(r.jobs).length,
    idleSince: r.lastJobChangeAt,
  }));
  const registered = new Set(records.map((r) => r.id));
  for (const r of running) {
    if (registered.has(r.id)) continue;
    const type = typeByName.get(r.typeName);
    fleet.push({
      id: r.id,
      typeName: r.typeName,
      spot: false,
      price: type?.onDemandPrice ?? 0,
      cpu: type?.cpu ?? 0,
      memoryGb: type?.memoryGb ?? 0,
      gpus: type?.gpus ?? 0,
      memoryPerGpuGb: type?.memoryPerGpuGb,
      cpuFeatures: type?.cpuFeatures,
      registered: false,
      running: true,
      launchedAt: r.launchedAt,
      jobCount: 0,
      idleSince: r.launchedAt,
    });
  }
  return fleet;
}

export async function planFor(cloud: Cloud, config: ManagementConfig, now = Date.now()): Promise<AdjusterPlan> {
  return planAdjustments({
    instances: await gatherFleet(cloud),
    thresholds: config.thresholds,
    types: await cloud.provider.listInstanceTypes(),
    idleTimeoutMs: config.idleTimeoutS * 1000,
    launchGraceMs: config.launchGraceS !== undefined ? config.launchGraceS * 1000 : cloud.provider.launchGraceMs,
    listingLagMs: cloud.provider.listingLagMs,
    now,
  });
}

/**
 * Carries a plan out. Every step re-checks the table: an instance that got a job since the plan was
 * made is not deregistered (the table's conditional delete refuses) and so not terminated. Each
 * instance kept is marked in the table with `config`'s idle timeout and interval: while such marks
 * keep coming, its idle watchdog leaves it to management (core/idleWatchdog.ts).
 */
export async function executePlan(
  cloud: Cloud,
  plan: AdjusterPlan,
  now = Date.now(),
  config: Pick<ManagementConfig, 'idleTimeoutS' | 'intervalS'> = DEFAULT_MANAGEMENT_CONFIG,
  o: { launch?: (option: InstanceOption) => Promise<string> } = {},
): Promise<AdjusterRunResult> {
  const result: AdjusterRunResult = { at: now, terminated: [], deregistered: [], launched: [], kept: {}, unmet: [], deletedQueues: [] };
  const launches: InstanceOption[] = [];
  for (const action of plan.actions) {
    switch (action.kind) {
      case 'terminate':
        if (action.reason === 'launch-abandoned') {
          // No job on it can have started (nobody could reach it): its allocations go with it.
          const record = await cloud.table.getInstance(action.id);
          if (record && record.state !== 'launching') {
            result.kept[action.id] = 'became ready while being stopped';
            break;
          }
          await cloud.table.preventFurtherAllocation(action.id);
          for (const jobId of Object.keys(record?.jobs ?? {})) await cloud.table.deallocateJob(action.id, jobId);
          await cloud.provider.terminate(action.id);
          await cloud.table.deregisterInstance(action.id);
          result.terminated.push(action.id);
        } else if (action.reason === 'not-registered') {
          await cloud.provider.terminate(action.id);
          result.terminated.push(action.id);
        } else if (await cloud.table.deregisterInstance(action.id)) {
          await cloud.provider.terminate(action.id);
          result.terminated.push(action.id);
        } else {
          result.kept[action.id] = 'got a job while being stopped';
        }
        break;
      case 'deregister': {
        // The instance is gone, so nothing still runs there: its allocations are stale.
        const record = await cloud.table.getInstance(action.id);
        for (const jobId of Object.keys(record?.jobs ?? {})) await cloud.table.deallocateJob(action.id, jobId);
        await cloud.table.deregisterInstance(action.id);
        await cloud.provider.terminate(action.id); // removes what belonged to it
        result.deregistered.push(action.id);
        break;
      }
      case 'keep':
        await cloud.table.recordManagement(action.id, { at: now, idleTimeoutS: config.idleTimeoutS, intervalS: config.intervalS });
        result.kept[action.id] =
          action.reason === 'threshold'
            ? `threshold ${action.threshold}`
            : action.reason === 'idle-within-timeout'
              ? `idle ${Math.round((action.idleForMs ?? 0) / 1000)}s`
              : action.reason;
        break;
      case 'launch':
        launches.push(...Array.from({ length: action.count }, () => action.option));
        break;
    }
  }
  // The launches all at once: each takes as long as an instance boots (unless `o.launch` leaves the
  // wait to later runs, as a scheduled function that cannot wait minutes does).
  const launch = o.launch ?? (async (option: InstanceOption) => (await launchAndRegister(cloud, option, [])).id);
  const launched = await Promise.allSettled(launches.map(launch));
  for (const r of launched) if (r.status === 'fulfilled') result.launched.push(r.value);
  const failed = launched.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  result.unmet = plan.thresholds.filter((t) => t.unitsAfter < t.required).map((t) => t.name);
  return result;
}

/**
 * Map jobs whose queue pair has not been used for `maxAgeS`: their client is gone. A pair in use
 * records its use only once per PAIR_USE_RESOLUTION_S, so that much more must have passed.
 */
export async function staleQueuePairs(cloud: Cloud, maxAgeS: number, now = Date.now()): Promise<string[]> {
  const ageMs = (maxAgeS + PAIR_USE_RESOLUTION_S) * 1000;
  return (await cloud.queues.listPairs()).filter((p) => now - p.lastUsedAt > ageMs).map((p) => p.jobId);
}

/**
 * Removes, on every ready instance, the environments jobs have not used for `maxAgeS` (never one in
 * use or being built: jobs/environments.py decides on the instance). An instance that can't be
 * reached is left for the next run. Returns "instance/hash" of each one removed.
 */
export async function pruneEnvironments(cloud: Cloud, maxAgeS: number): Promise<string[]> {
  const ready = (await cloud.table.listInstances()).filter(isReady);
  if (!ready.length) return [];
  const pool = new SessionPool(async () => (await cloud.secrets.getSshKeyPair()).privateKey, 1000, undefined, cloud.provider.name);
  try {
    const lists = await Promise.allSettled(ready.map((instance) => instanceEnvironments(pool, [instance], maxAgeS)));
    return lists.flatMap((l) => (l.status === 'fulfilled' ? l.value.filter((e) => e.removed).map((e) => `${e.instanceId}/${e.hash}`) : []));
  } finally {
    pool.closeAll();
  }
}
