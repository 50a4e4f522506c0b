import { Capacity, fits, subtract } from './resources';

export interface PackableInstance {
  id: string;
  free: Capacity;
  /** Set when the instance is draining or about to be shut down. */
  preventFurtherAllocation?: boolean;
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

/**
 * The fullest instance that still fits one job. Filling the fullest first keeps emptier instances
 * whole for big jobs and lets idle ones be shut down sooner.
 */
export function pickInstanceForJob(instances: PackableInstance[], need: Capacity): PackableInstance | undefined {
  let best: PackableInstance | undefined;
  for (const inst of instances) {
    if (inst.preventFurtherAllocation || !fits(need, inst.free)) continue;
    if (!best || fullerFirst(inst, best) < 0) best = inst;
  }
  return best;
}

/**
 * Places `count` jobs one at a time on the fullest instance that fits, subtracting as it goes.
 * Does not modify `instances`. Placements are listed in the order instances were first used.
 */
export function packJobs(
  instances: PackableInstance[],
  need: Capacity,
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
