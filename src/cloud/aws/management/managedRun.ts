// One run of the management on AWS, the same whether the scheduled function runs it or a client's
// `meadowrun manage run-once --cloud aws`: under the table's lock, with the configuration stored in
// the table, the local cloud's pure plan and its executor; the run's record written for status.
// Launches are only started here (RunInstances and a `launching` row): a run must end within the
// function's timeout, and EC2 takes minutes to boot. Later runs mark those instances ready once EC2
// shows their host key; clients whose jobs joined them wait for that as for any launch.
import { startLaunch } from '../../../jobs/allocate';
import { MeadowrunError } from '../../../core/errors';
import { AdjusterRun, AdjusterRunResult, DEFAULT_MANAGEMENT_CONFIG } from '../../../core/management';
import { executePlan, planFor, staleQueuePairs } from '../../../management/adjuster';
import { deleteJobQueues } from '../../jobQueues';
import { Cloud } from '../../ports';
import type { Ec2Provider } from '../ec2Provider';
import { ManagementItems } from './items';

/** The function may run this long; the lock outlives it, so an expired lock's holder has surely stopped. */
export const FUNCTION_TIMEOUT_S = 120;
export const LOCK_TTL_MS = 2 * FUNCTION_TIMEOUT_S * 1000;

export type ManagedCloud = Omit<Cloud, 'provider'> & { provider: Pick<Ec2Provider, keyof Cloud['provider'] | 'bootedEndpoint'> };

export function emptyResult(at: number): AdjusterRunResult {
  return { at, terminated: [], deregistered: [], launched: [], kept: {}, unmet: [], deletedQueues: [] };
}

export async function runManaged(cloud: ManagedCloud, items: ManagementItems, o: { holder: string; dryRun?: boolean; now?: number }): Promise<AdjusterRun> {
  const now = o.now ?? Date.now();
  const config = (await items.readConfig()) ?? DEFAULT_MANAGEMENT_CONFIG;
  if (o.dryRun) {
    const plan = await planFor(cloud as Cloud, config, now);
    return { plan, result: { ...emptyResult(now), deletedQueues: await staleQueuePairs(cloud as Cloud, config.queueMaxAgeS, now) } };
  }
  if (!(await items.acquireLock(o.holder, LOCK_TTL_MS))) {
    return { result: { ...emptyResult(now), skipped: 'another adjuster run holds the lock' } };
  }
  let pending = (await items.readRun())?.pending ?? [];
  const launchedNow: string[] = [];
  let run: AdjusterRun = { result: { ...emptyResult(now), error: 'the run ended early' } };
  try {
    pending = await finishLaunches(cloud, pending);
    const plan = await planFor(cloud as Cloud, config, now);
    const stale = await staleQueuePairs(cloud as Cloud, config.queueMaxAgeS, now);
    const launch = async (option: Parameters<typeof startLaunch>[1]) => {
      // Launches only while this run still holds the lock: a run that outlived it could add what
      // the run after it adds too.
      if (!(await items.renewLock(o.holder, LOCK_TTL_MS))) {
        throw new MeadowrunError('The adjuster lost its lock before launching: the next run launches what is missing', 'launch');
      }
      const row = await startLaunch(cloud as Cloud, option, []);
      // At once: a launch that fails after this one must not lose it.
      pending.push(row.id);
      launchedNow.push(row.id);
      return row.id;
    };
    const result = await executePlan(cloud as Cloud, plan, now, config, { launch });
    for (const jobId of stale) await deleteJobQueues(cloud, jobId);
    result.deletedQueues = stale;
    run = { plan, result };
    return run;
  } catch (e) {
    run = { result: { ...emptyResult(now), launched: launchedNow, error: (e as Error).message ?? String(e) } };
    throw e;
  } finally {
    await items.writeRun({ lastRun: run.result, pending, by: o.holder });
    await items.releaseLock(o.holder);
  }
}

/**
 * Marks ready the instances management launched that EC2 now shows booted; returns those still
 * booting. One whose row is gone, ready or given up, or whose machine ended, is no longer ours to
 * finish (the plan deals with what is left of it).
 */
async function finishLaunches(cloud: ManagedCloud, pending: string[]): Promise<string[]> {
  const still: string[] = [];
  for (const id of pending) {
    const row = await cloud.table.getInstance(id);
    if (!row || row.state !== 'launching' || row.preventFurtherAllocation) continue;
    const endpoint = await cloud.provider.bootedEndpoint(id);
    if (endpoint === 'gone') continue;
    if (endpoint) await cloud.table.markReady(id, endpoint);
    else still.push(id);
  }
  return still;
}

/**
 * For a client's `run-once`, which can wait and reach SSH: waits for the instances it launched to
 * become ready and marks them so, as a client's own launch does. One that does not come up is left
 * as it is — a later management run marks it ready, or removes it once its launch counts as given
 * up — rather than terminated here, where the function may be finishing it at the same moment.
 */
export async function readyLaunches(cloud: Cloud, ids: string[]): Promise<void> {
  await Promise.all(
    ids.map(async (id) => {
      try {
        const endpoint = await cloud.provider.waitReady(id, { signal: AbortSignal.timeout(cloud.provider.launchGraceMs) });
        const row = await cloud.table.getInstance(id);
        if (!row || row.state !== 'launching') return;
        await cloud.provider.allowClient({ ...row, ...endpoint, state: 'ready' });
        await cloud.table.markReady(id, endpoint);
      } catch {
        // left to the management runs (see above)
      }
    }),
  );
}
