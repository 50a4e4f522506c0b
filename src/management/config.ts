import { MeadowrunError } from '../core/errors';
import { readThresholds, Threshold } from '../core/management';

/** What the management functions are told: thresholds, idle timeout and schedule. */
export interface ManagementConfig {
  thresholds: Threshold[];
  /** Stop an instance idle longer than this (and needed by no threshold). */
  idleTimeoutS: number;
  /** Run the adjuster this often. */
  intervalS: number;
  /** A running instance not registered yet is left alone this long after launch. */
  launchGraceS: number;
  /** Delete a map job's queue pair once it has not been used for this long. */
  queueMaxAgeS: number;
}

/** The configuration with its thresholds' defaults filled in; refuses what no adjuster run could use. */
export function validateManagementConfig(c: ManagementConfig): ManagementConfig {
  for (const [field, value] of [['idle timeout', c.idleTimeoutS], ['interval', c.intervalS], ['launch grace', c.launchGraceS], ['queue max age', c.queueMaxAgeS]] as const) {
    if (!Number.isFinite(value) || value <= 0) throw new MeadowrunError(`The ${field} must be a number of seconds above 0 (got ${value})`, 'bad-config');
  }
  return { ...c, thresholds: readThresholds(c.thresholds) };
}

export const DEFAULT_MANAGEMENT_CONFIG: ManagementConfig = { thresholds: [], idleTimeoutS: 300, intervalS: 60, launchGraceS: 60, queueMaxAgeS: 3600 };

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
  skipped?: string;
  error?: string;
}

export interface ManagementStatus {
  installed: boolean;
  version?: string;
  pid?: number;
  config?: ManagementConfig;
  lastRun?: AdjusterRunResult;
  nextRunAt?: number;
  /** Where the management functions log, when that is a file on this machine. */
  logFile?: string;
}
