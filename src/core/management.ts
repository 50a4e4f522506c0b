// Types shared by the adjuster's pure plan (core/adjusterPlan.ts) and its executor (management/).
import { InstanceOption, InstanceType } from './instanceTypes';

/**
 * "Keep this much capacity running": `count` units of the given resources, each unit being what
 * one job of that size needs. Instances that help meet a threshold are exempt from the idle timeout.
 */
export interface Threshold {
  /** Shown in plans and in the explorer; defaults to a description of the resources. */
  name?: string;
  cpu: number;
  memoryGb: number;
  gpus: number;
  /** Spot instances count only when their eviction rate is at most this (0: on-demand only). */
  maxEvictionRatePct: number;
  /** How many units must be available. */
  count: number;
  /** When set, only these instance types (exact names or globs like "local.*") count and are launched. */
  instanceTypes?: string[];
}

/** An instance as the adjuster sees it: the allocation table's row joined with the provider's view. */
export interface FleetInstance {
  id: string;
  typeName: string;
  spot: boolean;
  /** USD per hour. */
  price: number;
  cpu: number;
  memoryGb: number;
  gpus: number;
  /** Spot eviction rate of its type (from the catalog), when spot. */
  evictionRatePct?: number;
  /** In the allocation table. */
  registered: boolean;
  /** Reported running by the provider. */
  running: boolean;
  /** ms since epoch; from the provider (running) or the table (registered). */
  launchedAt: number;
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
  /** A running instance not (yet) registered is left alone this long after launch. */
  launchGraceMs: number;
  now: number;
}

export type PlanAction =
  | { kind: 'terminate'; id: string; reason: 'not-registered' | 'idle' }
  | { kind: 'deregister'; id: string; reason: 'not-running' }
  | { kind: 'keep'; id: string; reason: 'threshold' | 'busy' | 'idle-within-timeout' | 'launching'; threshold?: string; idleForMs?: number }
  | { kind: 'launch'; option: InstanceOption; count: number; threshold: string };

export interface AdjusterPlan {
  actions: PlanAction[];
  /** Per threshold, in configured order: the instances assigned to it and whether it is met after the plan. */
  thresholds: { name: string; assigned: string[]; unitsBefore: number; unitsAfter: number; required: number }[];
}
