// The adjuster's plan: which instances to terminate, deregister, keep and launch so that every
// threshold is met and idle instances that no threshold needs are stopped. Pure and deterministic.
//
// Stages (see the "machine management thresholds" notes):
//  1. reconcile the allocation table with what the provider reports running;
//  2. assign alive instances to thresholds: first pass in configured order, cheapest instances first;
//     second pass drops the smallest instances a threshold can do without;
//  3. terminate alive instances no threshold needs that have been idle longer than the timeout;
//  4. launch the cheapest mix of instances for what each threshold still misses.
import { chooseInstanceTypes, workersPerInstance } from './chooseInstanceTypes';
import { MeadowrunError } from './errors';
import { InstanceType } from './instanceTypes';
import { AdjusterInput, AdjusterPlan, FleetInstance, PlanAction, Threshold } from './management';
import { Capacity, describeNeed, marketAllowed, meetsRequirements, Resources, validateResources } from './resources';

// Resources are often fractional (0.1 + 0.2 CPU); without slack a unit that exactly fits would be lost.
const EPS = 1e-9;

/** The name shown for a threshold: its own, or e.g. "2×(1 CPU, 2 GB)". */
export function thresholdName(t: Threshold): string {
  return t.name ?? `${t.count}×(${describeNeed(t)})`;
}

/** How many units of `t` fit on a machine of this size (its total capacity; 0 when none). */
export function unitsOf(capacity: Capacity, t: Threshold): number {
  let n = Math.min(capacity.cpu / t.cpu, capacity.memoryGb / t.memoryGb);
  if (t.gpus > 0) n = Math.min(n, capacity.gpus / t.gpus);
  return Number.isFinite(n) && n > 0 ? Math.floor(n + EPS) : 0;
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

/** Whether an instance type name matches one of the patterns (exact names or globs with `*`). */
export function matchesInstanceTypes(typeName: string, patterns: readonly string[] | undefined): boolean {
  if (patterns === undefined) return true;
  return patterns.some((p) => (p.includes('*') ? globToRegExp(p).test(typeName) : p === typeName));
}

/** A threshold with its type filter compiled once, since it is checked against every instance and type. */
class CompiledThreshold {
  readonly name: string;
  readonly need: Resources;
  private readonly exact: Set<string> | undefined;
  private readonly globs: RegExp[];
  private readonly typeMatch = new Map<string, boolean>();

  constructor(readonly t: Threshold) {
    this.name = thresholdName(t);
    this.need = thresholdNeed(t);
    if (t.instanceTypes === undefined) {
      this.exact = undefined;
      this.globs = [];
    } else {
      this.exact = new Set(t.instanceTypes.filter((p) => !p.includes('*')));
      this.globs = t.instanceTypes.filter((p) => p.includes('*')).map(globToRegExp);
    }
  }

  matchesType(name: string): boolean {
    if (this.exact === undefined) return true;
    let m = this.typeMatch.get(name);
    if (m === undefined) {
      m = this.exact.has(name) || this.globs.some((g) => g.test(name));
      this.typeMatch.set(name, m);
    }
    return m;
  }

  /** Everything but the size check: the GPU rule, the spot rule, GPU memory, CPU features and the type filter. */
  admits(i: FleetInstance): boolean {
    const t = this.t;
    if (t.gpus === 0 && i.gpus > 0) return false;
    if (!marketAllowed(t.maxEvictionRatePct, i.spot, i.evictionRatePct)) return false;
    return meetsRequirements(this.need, i) && this.matchesType(i.typeName);
  }

  /** Catalog types that may be launched for this threshold (the chooser handles spot and requirements). */
  launchable(types: InstanceType[]): InstanceType[] {
    return types.filter((type) => !(this.t.gpus === 0 && type.gpus > 0) && this.matchesType(type.name));
  }
}

function thresholdNeed(t: Threshold): Resources {
  return {
    cpu: t.cpu,
    memoryGb: t.memoryGb,
    gpus: t.gpus,
    maxEvictionRatePct: t.maxEvictionRatePct,
    ...(t.gpuMemoryGb !== undefined && { gpuMemoryGb: t.gpuMemoryGb }),
    ...(t.cpuFeatures !== undefined && { cpuFeatures: t.cpuFeatures }),
  };
}

/**
 * Whether an instance may count towards a threshold: it holds at least one unit; a spot instance only
 * when the threshold tolerates its eviction rate; never a GPU instance for a threshold without GPUs;
 * only one with the GPU memory and CPU features the threshold asks for; and, when the threshold lists
 * instance types, only one of those.
 */
export function eligible(instance: FleetInstance, threshold: Threshold): boolean {
  return unitsOf(instance, threshold) >= 1 && new CompiledThreshold(threshold).admits(instance);
}

function validateThreshold(t: Threshold): void {
  validateResources(thresholdNeed(t));
  if (!Number.isInteger(t.count) || t.count < 0) {
    throw new MeadowrunError(`Invalid threshold ${thresholdName(t)}: count must be a whole number ≥ 0 (got ${t.count})`, 'bad-resources');
  }
}

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function planAdjustments(input: AdjusterInput): AdjusterPlan {
  const { instances, now } = input;
  input.thresholds.forEach(validateThreshold);
  const thresholds = input.thresholds.map((t) => new CompiledThreshold(t));

  // Stage 1: reconcile. One action per instance, in input order; alive ones are decided later.
  const actions: (PlanAction | undefined)[] = new Array(instances.length);
  const alive: number[] = [];
  // A cloud's listing lags its launches, so both kinds of mismatch get the provider's grace: counted
  // from the launch for an instance not registered, from the registration for one not listed.
  const grace = input.launchGraceMs;
  instances.forEach((inst, k) => {
    const registeredFor = now - (inst.registeredAt ?? inst.launchedAt);
    if (inst.registered && inst.state === 'launching' && registeredFor >= 2 * grace) {
      // Its client gave up long ago, or crashed mid-launch: no job on it can have started.
      actions[k] = { kind: 'terminate', id: inst.id, reason: 'launch-abandoned' };
    } else if (inst.registered && inst.running) alive.push(k);
    else if (inst.running) {
      // Running but not in the table: it may still be registering. An instance with jobs is never stopped.
      if (inst.jobCount > 0) actions[k] = { kind: 'keep', id: inst.id, reason: 'busy' };
      else if (now - inst.launchedAt < grace) actions[k] = { kind: 'keep', id: inst.id, reason: 'launching' };
      else actions[k] = { kind: 'terminate', id: inst.id, reason: 'not-registered' };
    } else if (inst.registered && (registeredFor < (input.listingLagMs ?? 0) || inst.state === 'launching')) {
      // In the table but not listed yet: the listing may lag a launch just made; and a row still
      // launching may be registered before its instance exists (Azure: while its creation is asked
      // for, or between two zones' tries). Its launcher gives it up, or it is abandoned (above).
      actions[k] = { kind: 'keep', id: inst.id, reason: 'launching' };
    } else {
      // In the table but gone from the provider (or in neither): drop the stale record.
      actions[k] = { kind: 'deregister', id: inst.id, reason: 'not-running' };
    }
  });

  // Stage 2, first pass: thresholds in configured order take unassigned eligible instances, cheapest
  // first (equal prices: more units first, then by id), until met.
  const assignedTo = new Int32Array(instances.length).fill(-1);
  const members: number[][] = thresholds.map(() => []);
  const units: number[] = thresholds.map(() => 0);
  const fill = (ti: number) => {
    const ct = thresholds[ti];
    const required = ct.t.count;
    if (units[ti] >= required) return;
    const cands: { k: number; u: number }[] = [];
    for (const k of alive) {
      if (assignedTo[k] >= 0) continue;
      const inst = instances[k];
      const u = unitsOf(inst, ct.t);
      if (u >= 1 && ct.admits(inst)) cands.push({ k, u });
    }
    cands.sort(
      (a, b) => instances[a.k].price - instances[b.k].price || b.u - a.u || byId(instances[a.k].id, instances[b.k].id),
    );
    for (const c of cands) {
      if (units[ti] >= required) break;
      assignedTo[c.k] = ti;
      members[ti].push(c.k);
      units[ti] += c.u;
    }
  };
  thresholds.forEach((_, ti) => fill(ti));

  // Second pass: drop the smallest instances (fewest units; equal: the dearer first, then by id) that the
  // threshold stays met without. Returns whether it freed any.
  const prune = (ti: number): boolean => {
    const ct = thresholds[ti];
    const required = ct.t.count;
    if (units[ti] <= required) return false; // nothing spare (or unmet): every instance is needed
    const sized = members[ti].map((k) => ({ k, u: unitsOf(instances[k], ct.t) }));
    sized.sort(
      (a, b) => a.u - b.u || instances[b.k].price - instances[a.k].price || byId(instances[a.k].id, instances[b.k].id),
    );
    let total = units[ti];
    for (const s of sized) {
      if (total - s.u >= required) {
        total -= s.u;
        assignedTo[s.k] = -1;
      }
    }
    const freed = total < units[ti];
    units[ti] = total;
    members[ti] = members[ti].filter((k) => assignedTo[k] === ti);
    return freed;
  };
  // What the second pass freed may meet a threshold the first pass left unmet: give it there before
  // launching anything new, then prune again what that over-covers. Every repeat meets one more
  // threshold (met ones stay met), so this ends.
  while (thresholds.map((_, ti) => prune(ti)).some(Boolean)) thresholds.forEach((_, ti) => fill(ti));

  // Stage 3: alive instances no threshold needs are stopped once idle for longer than the timeout.
  for (const k of alive) {
    const inst = instances[k];
    const ti = assignedTo[k];
    if (ti >= 0) actions[k] = { kind: 'keep', id: inst.id, reason: 'threshold', threshold: thresholds[ti].name };
    else if (inst.jobCount > 0) actions[k] = { kind: 'keep', id: inst.id, reason: 'busy' };
    else {
      const idleForMs = now - inst.idleSince;
      actions[k] =
        idleForMs > input.idleTimeoutMs
          ? { kind: 'terminate', id: inst.id, reason: 'idle' }
          : { kind: 'keep', id: inst.id, reason: 'idle-within-timeout', idleForMs };
    }
  }

  // Stage 4: launch the cheapest mix covering what each unmet threshold misses.
  const launches: PlanAction[] = [];
  const summary: AdjusterPlan['thresholds'] = thresholds.map((ct, ti) => {
    const required = ct.t.count;
    const unitsBefore = units[ti];
    let unitsAfter = unitsBefore;
    const missing = required - unitsBefore;
    if (missing > 0) {
      for (const choice of chooseInstanceTypes(ct.launchable(input.types), ct.need, missing)) {
        launches.push({ kind: 'launch', option: choice.option, count: choice.count, threshold: ct.name });
        // A launched instance brings its whole capacity, which may be more than the chooser placed on it.
        unitsAfter += choice.count * workersPerInstance(choice.option.type, ct.need);
      }
    }
    return {
      name: ct.name,
      assigned: members[ti].map((k) => instances[k].id),
      unitsBefore,
      unitsAfter,
      required,
    };
  });

  return { actions: [...(actions as PlanAction[]), ...launches], thresholds: summary };
}
