// One run of a cloud's management function, the same whether the scheduled function runs it (AWS
// Lambda, an Azure Function) or a client's `meadowrun manage run-once`: under the lock kept in the
// cloud's table, with the configuration stored there, the pure plan and its executor; the run's
// record written for status. Launches are only started here (the VM created, a `launching` row): a
// run must end within the function's timeout, and a machine takes minutes to boot. Later runs mark
// those instances ready once the cloud shows their host key; clients whose jobs joined them wait
// for that as for any launch.
import * as os from 'os';
import { startLaunch } from '../jobs/allocate';
import { MeadowrunError } from '../core/errors';
import { AdjusterRun, AdjusterRunResult, DEFAULT_MANAGEMENT_CONFIG, ManagementConfig, readThresholds } from '../core/management';
import { executePlan, planFor, staleQueuePairs } from './adjuster';
import { deleteJobQueues } from '../cloud/jobQueues';
import { Cloud, InstanceEndpoint, InstanceProvider, ManagementInstaller, SecretStore } from '../cloud/ports';

/** The function may run this long; the lock outlives it, so an expired lock's holder has surely stopped. */
export const FUNCTION_TIMEOUT_S = 120;
export const LOCK_TTL_MS = 2 * FUNCTION_TIMEOUT_S * 1000;

/** A provider that can tell, without waiting, whether an instance it launched has booted. */
export interface BootCheckingProvider extends InstanceProvider {
  /** Its endpoint once booted (its host key known), undefined while booting, 'gone' once it ended. */
  bootedEndpoint(id: string): Promise<InstanceEndpoint | undefined | 'gone'>;
}

export type ManagedCloud = Omit<Cloud, 'provider'> & { provider: BootCheckingProvider };

/** What the last run left for status and for the next run. */
export interface RunRecord {
  lastRun: AdjusterRunResult;
  /** Instances the management launched that are not ready yet: later runs mark them ready. */
  pending: string[];
  /** Who ran it: the function (with its invocation id) or a client's `run-once`. */
  by: string;
}

/**
 * The management's own items in the cloud's allocation table: its configuration (read at every run,
 * so new thresholds apply without a redeploy), a lock with an expiry (so overlapping runs never both
 * act) and the last run's record.
 */
export interface ManagementItems {
  readConfig(): Promise<ManagementConfig | undefined>;
  writeConfig(config: ManagementConfig): Promise<void>;
  readRun(): Promise<RunRecord | undefined>;
  writeRun(record: RunRecord): Promise<void>;
  /** Takes the lock for `ttlMs` unless someone holds it unexpired. */
  acquireLock(holder: string, ttlMs: number): Promise<boolean>;
  /** Extends the lock when `holder` still holds it unexpired; false (changing nothing) otherwise. */
  renewLock(holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the lock up if `holder` still has it. */
  releaseLock(holder: string): Promise<void>;
  /** Removes the items (uninstall); returns the names of those there were. */
  deleteAll(): Promise<string[]>;
}

/** The items' configuration and run record as JSON documents, however a table stores those; the lock is each table's own. */
export abstract class JsonManagementItems implements ManagementItems {
  protected abstract readJson<T>(item: 'config' | 'run'): Promise<T | undefined>;
  protected abstract writeJson(item: 'config' | 'run', value: unknown): Promise<void>;
  abstract acquireLock(holder: string, ttlMs: number): Promise<boolean>;
  abstract renewLock(holder: string, ttlMs: number): Promise<boolean>;
  abstract releaseLock(holder: string): Promise<void>;
  abstract deleteAll(): Promise<string[]>;

  /** The configuration installed, with defaults for what was never set (thresholds left as stored when invalid: the run reports it). */
  async readConfig(): Promise<ManagementConfig | undefined> {
    const stored = await this.readJson<ManagementConfig>('config');
    if (!stored) return undefined;
    const config = { ...DEFAULT_MANAGEMENT_CONFIG, ...stored };
    try {
      return { ...config, thresholds: readThresholds(config.thresholds) };
    } catch {
      return config;
    }
  }

  writeConfig(config: ManagementConfig): Promise<void> {
    return this.writeJson('config', config);
  }

  readRun(): Promise<RunRecord | undefined> {
    return this.readJson<RunRecord>('run');
  }

  writeRun(record: RunRecord): Promise<void> {
    return this.writeJson('run', record);
  }
}

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
 * Marks ready the instances management launched that the cloud now shows booted; returns those still
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
 * A client's `meadowrun manage run-once`: one run now, as the function would run it, with the
 * client's credentials and under the same lock; then, unlike the function, it waits for what it
 * launched to be ready (it can reach SSH).
 */
export async function runFromClient(cloud: ManagedCloud, items: ManagementItems, o: { dryRun?: boolean; now?: number } = {}): Promise<AdjusterRun> {
  const run = await runManaged(cloud, items, { holder: `client ${os.hostname()} pid ${process.pid}`, ...o });
  if (run.result.launched.length) await readyLaunches(cloud, run.result.launched);
  return run;
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

/**
 * One scheduled run, as a management function's handler makes it: its result logged and answered,
 * never thrown — the run's record has the error, and a scheduled invocation that throws is retried
 * at once, which the next minute's run does better.
 */
export async function scheduledRun(open: () => { cloud: ManagedCloud; items: ManagementItems }, o: { holder: string; dryRun?: boolean; now?: number }): Promise<AdjusterRunResult> {
  const started = Date.now();
  try {
    const { cloud, items } = open();
    const run = await runManaged(cloud, items, o);
    console.log(JSON.stringify({ ...run.result, plan: run.plan?.thresholds }));
    return run.result;
  } catch (e) {
    console.error(`meadowrun adjuster: ${(e as Error).stack ?? e}`);
    return { ...emptyResult(started), error: (e as Error).message ?? String(e) };
  }
}

/**
 * The secrets a management function has: only the clients' public key, which the instances it
 * launches accept (the private key stays in the cloud's secret store, which it may not read).
 */
export function publicKeyOnly(publicKey: string): SecretStore {
  const none = async (): Promise<never> => {
    throw new MeadowrunError('The management function reads no secrets', 'bad-config');
  };
  return { getSshKeyPair: async () => ({ publicKey, privateKey: '' }), putSecret: none, getSecret: none, listSecrets: none, deleteSecret: none };
}

/** The management, as seen from inside the management function itself. */
export const INSIDE_THE_FUNCTION: ManagementInstaller = {
  config: async () => DEFAULT_MANAGEMENT_CONFIG,
  install: async () => Promise.reject(new Error('not from inside the management function')),
  uninstall: async () => Promise.reject(new Error('not from inside the management function')),
  status: async () => ({ installed: true }),
  runOnce: async () => Promise.reject(new Error('not from inside the management function')),
};
