// Types shared by the adjuster's pure plan (core/adjusterPlan.ts), its executor (management/), the
// providers' ManagementInstaller ports (cloud/) and their front ends (cli/, ui/).
import { MeadowrunError } from './errors';
import { InstanceOption, InstanceType } from './instanceTypes';
import { MachineTraits, parseCpuFeatures, Resources, validateResources } from './resources';

/**
 * "Keep this much capacity running": `count` units of the given resources, each unit being what
 * one job of that size needs (so a unit's fields are a job's, `Resources`, with the same meaning).
 * Instances that help meet a threshold are exempt from the idle timeout.
 */
export interface Threshold extends Resources {
  /** Shown in plans and in the explorer; defaults to a description of the resources. */
  name?: string;
  /** How many units must be available. */
  count: number;
  /** When set, only these instance types (exact names or globs like "local.*") count and are launched. */
  instanceTypes?: string[];
}

/**
 * An instance as the adjuster sees it: the allocation table's row joined with the provider's view. Its
 * traits (GPU memory, CPU features) are the row's, or the catalog's for an instance not yet registered.
 */
export interface FleetInstance extends MachineTraits {
  id: string;
  typeName: string;
  spot: boolean;
  /** USD per hour. */
  price: number;
  cpu: number;
  memoryGb: number;
  gpus: number;
  /** Spot eviction rate of its type (recorded from the catalog at launch), when spot. */
  evictionRatePct?: number;
  /** In the allocation table. */
  registered: boolean;
  /** Reported running by the provider. */
  running: boolean;
  /** ms since epoch; from the provider (running) or the table (registered). */
  launchedAt: number;
  /** ms since epoch, when written to the table (as launching); the grace periods of registered instances count from here. */
  registeredAt?: number;
  /** A registered instance's state: `launching` until the client launching it finds it reachable. */
  state?: 'launching' | 'ready';
  jobCount: number;
  /** ms since epoch when its last job ended (or it was registered); meaningful when jobCount is 0. */
  idleSince: number;
}

export interface AdjusterInput {
  instances: FleetInstance[];
  thresholds: Threshold[];
  /** The catalog to launch from. */
  types: InstanceType[];
  idleTimeoutMs: number;
  /**
   * The provider's: a running instance not (yet) registered is left alone this long after launch.
   * A row still launching after twice this is a launch given up (its client crashed): it is removed.
   */
  launchGraceMs: number;
  /** The provider's: a registered instance it does not list (yet) is left alone this long after registration. */
  listingLagMs?: number;
  now: number;
}

export type PlanAction =
  | { kind: 'terminate'; id: string; reason: 'not-registered' | 'idle' | 'launch-abandoned' }
  | { kind: 'deregister'; id: string; reason: 'not-running' }
  | { kind: 'keep'; id: string; reason: 'threshold' | 'busy' | 'idle-within-timeout' | 'launching'; threshold?: string; idleForMs?: number }
  | { kind: 'launch'; option: InstanceOption; count: number; threshold: string };

export interface AdjusterPlan {
  actions: PlanAction[];
  /** Per threshold, in configured order: the instances assigned to it and whether it is met after the plan. */
  thresholds: { name: string; assigned: string[]; unitsBefore: number; unitsAfter: number; required: number }[];
}

/**
 * Thresholds as a user wrote them (settings, a CLI flag, an older config file): the optional
 * fields get their defaults, and anything invalid is refused with which threshold and why —
 * when the configuration is applied, not on every adjuster run after it.
 */
export function readThresholds(raw: unknown): Threshold[] {
  if (!Array.isArray(raw)) throw new MeadowrunError('Thresholds must be a list, e.g. [{"cpu": 2, "memoryGb": 4, "count": 1}]', 'bad-config');
  return raw.map((t, i) => {
    const which = `Threshold ${i + 1}${t && typeof t.name === 'string' ? ` (${t.name})` : ''}`;
    const bad = (why: string): never => {
      throw new MeadowrunError(`${which}: ${why}`, 'bad-config');
    };
    if (typeof t !== 'object' || t === null || Array.isArray(t)) bad('must be an object like {"cpu": 2, "memoryGb": 4, "count": 1}');
    const known = ['name', 'cpu', 'memoryGb', 'gpus', 'maxEvictionRatePct', 'gpuMemoryGb', 'cpuFeatures', 'count', 'instanceTypes'];
    const unknown = Object.keys(t).filter((k) => !known.includes(k));
    if (unknown.length) bad(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${known.join(', ')})`);
    for (const field of ['cpu', 'memoryGb', 'count'] as const) if (t[field] === undefined) bad(`${field} is required`);
    const threshold: Threshold = { gpus: 0, maxEvictionRatePct: 0, ...t };
    try {
      // Features as people write them: a list or a comma-separated string, any case.
      if (threshold.cpuFeatures !== undefined) threshold.cpuFeatures = parseCpuFeatures(threshold.cpuFeatures);
      validateResources(threshold);
    } catch (e) {
      bad((e as Error).message.replace(/^Invalid resources: /, ''));
    }
    if (!Number.isInteger(threshold.count) || threshold.count < 1) bad(`count must be a whole number ≥ 1 (got ${JSON.stringify(threshold.count)})`);
    if (threshold.instanceTypes !== undefined && !(Array.isArray(threshold.instanceTypes) && threshold.instanceTypes.every((g) => typeof g === 'string'))) {
      bad('instanceTypes must be a list of type names or globs, e.g. ["local.*"]');
    }
    return threshold;
  });
}

/** What the management functions are told: thresholds, idle timeout and schedule. */
export interface ManagementConfig {
  thresholds: Threshold[];
  /** Stop an instance idle longer than this (and needed by no threshold). */
  idleTimeoutS: number;
  /** Run the adjuster this often. */
  intervalS: number;
  /** Overrides the provider's grace for launches in progress (InstanceProvider.launchGraceMs) when set. */
  launchGraceS?: number;
  /** Delete a map job's queue pair once it has not been used for this long. */
  queueMaxAgeS: number;
  /** Remove an environment an instance built for jobs once unused this long (default DEFAULT_ENVIRONMENT_MAX_AGE_S). */
  environmentMaxAgeS?: number;
}

/** A week: an environment a project still uses is rebuilt in minutes at worst, while disk fills for good. */
export const DEFAULT_ENVIRONMENT_MAX_AGE_S = 7 * 86400;

/** The configuration with its thresholds' defaults filled in; refuses what no adjuster run could use. */
export function validateManagementConfig(c: ManagementConfig): ManagementConfig {
  for (const [field, value] of [['idle timeout', c.idleTimeoutS], ['interval', c.intervalS], ['launch grace', c.launchGraceS], ['queue max age', c.queueMaxAgeS], ['environment max age', c.environmentMaxAgeS]] as const) {
    if (value === undefined && (field === 'launch grace' || field === 'environment max age')) continue;
    if (!Number.isFinite(value) || value! <= 0) throw new MeadowrunError(`The ${field} must be a number of seconds above 0 (got ${value})`, 'bad-config');
  }
  return { ...c, thresholds: readThresholds(c.thresholds) };
}

export const DEFAULT_MANAGEMENT_CONFIG: ManagementConfig = { thresholds: [], idleTimeoutS: 300, intervalS: 60, queueMaxAgeS: 3600 };

/** A summary of one adjuster run, for status displays. */
export interface AdjusterRunResult {
  at: number;
  terminated: string[];
  deregistered: string[];
  launched: string[];
  /** Why each remaining instance was kept, e.g. "threshold 2×(1 CPU, 2 GB)" or "idle 40s of 300s". */
  kept: Record<string, string>;
  /** Thresholds still unmet after the run. */
  unmet: string[];
  /** Map jobs whose stale queue pairs were deleted (or, in a dry run, would be). */
  deletedQueues: string[];
  /** Environments removed for being unused longer than environmentMaxAgeS, as "instance/hash". */
  removedEnvironments?: string[];
  skipped?: string;
  error?: string;
}

/** A run of the adjuster: what it planned and, unless a dry run or skipped, what it did. */
export interface AdjusterRun {
  plan?: AdjusterPlan;
  result: AdjusterRunResult;
}

export interface ManagementStatus {
  installed: boolean;
  version?: string;
  /** Where and how it runs, in words for a status line: "runner pid 1234", "Lambda meadowrun-adjust". */
  detail?: string;
  config?: ManagementConfig;
  lastRun?: AdjusterRunResult;
  nextRunAt?: number;
  /** Where the management functions log, when that is a file on this machine. */
  logFile?: string;
  /** Where they log in the cloud (a CloudWatch log group), and a link to it in the console. */
  logGroup?: string;
  logLink?: string;
}
