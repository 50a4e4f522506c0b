import { Capacity, fits, MachineTraits, marketAllowed, meetsRequirements, Resources, subtract } from './resources';

export interface PackableInstance extends MachineTraits {
  id: string;
  free: Capacity;
  /** GPUs it has in all, free or not: jobs without GPUs keep off GPU instances while others fit. */
  gpus: number;
  spot: boolean;
  /** Its eviction rate when spot (from the catalog at launch); unknown admits no job. */
  evictionRatePct?: number;
  /** Set when the instance is draining or about to be shut down (or, while launching, its launch was given up). */
  preventFurtherAllocation?: boolean;
  /** Being launched (by this client or another): a job placed there waits for it to be ready. */
  launching?: boolean;
}

/** Fuller first: least free CPU, then memory, then GPUs, then id so the order is deterministic. */
function fullerFirst(a: PackableInstance, b: PackableInstance): number {
  return (
    a.free.cpu - b.free.cpu ||
    a.free.memoryGb - b.free.memoryGb ||
    a.free.gpus - b.free.gpus ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** Whether a job may run on the instance at all: room, market, GPU memory and CPU features. */
export function admits(inst: PackableInstance, need: Resources): boolean {
  return (
    !inst.preventFurtherAllocation &&
    fits(need, inst.free) &&
    marketAllowed(need.maxEvictionRatePct, inst.spot, inst.evictionRatePct) &&
    meetsRequirements(need, inst)
  );
}

/**
 * The fullest instance the job may run on. Filling the fullest first keeps emptier instances whole for
 * big jobs and lets idle ones be shut down sooner. A job without GPUs takes a GPU instance only when no
 * instance without GPUs has room, however full the GPU ones are: their GPUs stay reachable for GPU jobs.
 * An instance that is ready comes before one being launched (the job starts at once), but one being
 * launched with room comes before launching another: so clients that find no room at the same time
 * fill the instances they launch instead of each launching its own.
 */
export function pickInstanceForJob(instances: PackableInstance[], need: Resources): PackableInstance | undefined {
  let best: PackableInstance | undefined;
  for (const inst of instances) {
    if (!admits(inst, need)) continue;
    if (!best || preferred(inst, best, need)) best = inst;
  }
  return best;
}

function preferred(a: PackableInstance, b: PackableInstance, need: Resources): boolean {
  if (need.gpus === 0 && (a.gpus > 0) !== (b.gpus > 0)) return a.gpus === 0;
  if (!!a.launching !== !!b.launching) return !a.launching;
  return fullerFirst(a, b) < 0;
}

/**
 * Places `count` jobs one at a time on the instance pickInstanceForJob chooses, subtracting as it goes.
 * Does not modify `instances`. Placements are listed in the order instances were first used.
 */
export function packJobs(
  instances: PackableInstance[],
  need: Resources,
  count: number,
): { placements: { id: string; jobs: number }[]; unplaced: number } {
  // Work on copies: callers keep their view of free capacity until the jobs really start.
  const pool = instances.map((i) => ({ ...i, free: { ...i.free } }));
  const jobs = new Map<string, number>();
  let placed = 0;
  for (; placed < count; placed++) {
    const inst = pickInstanceForJob(pool, need);
    if (!inst) break;
    inst.free = subtract(inst.free, need);
    jobs.set(inst.id, (jobs.get(inst.id) ?? 0) + 1);
  }
  return {
    placements: [...jobs].map(([id, n]) => ({ id, jobs: n })),
    unplaced: Math.max(0, count - placed),
  };
}
