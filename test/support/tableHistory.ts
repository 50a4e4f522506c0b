// Randomized histories of clients allocating and freeing jobs on one allocation table, and the check
// of what they saw and were told against the table they leave behind. A write that returned false
// must never have taken effect; one that returned true must stay until its client frees it.
import { AllocationTable, freeCapacity, InstanceRecord } from '../../src/cloud/ports';

export interface Call {
  op: 'allocate' | 'free';
  instance: string;
  jobId: string;
  /** The etag an allocation was a compare-and-swap against (none for allocate-if-fits). */
  expectedEtag?: string;
  result: boolean;
}

export interface History {
  worker: string;
  calls: Call[];
  /** Every job id this client saw in the table at any time. */
  seen: string[];
  /** What the client saw that no correct table shows it (over-allocation, its own job missing). */
  problems: string[];
}

/** mulberry32: small, seedable, good enough to pick instances. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One client: places `allocations` one-CPU jobs, each with compare-and-swap (or allocate-if-fits) retries on random
 * instances (a fresh job id per attempt, so a lost write that took effect shows up as a ghost),
 * frees its jobs at random moments, and frees whatever it still holds at the end.
 */
export async function runHistoryWorker(table: AllocationTable, worker: string, seed: number, allocations: number): Promise<History> {
  const random = seeded(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const calls: Call[] = [];
  const seen = new Set<string>();
  const problems: string[] = [];
  const mine = new Map<string, string>();
  const free = async (jobId: string) => {
    const instance = mine.get(jobId)!;
    mine.delete(jobId);
    calls.push({ op: 'free', instance, jobId, result: await table.deallocateJob(instance, jobId) });
  };
  let attempts = 0;
  for (let placed = 0; placed < allocations; ) {
    if (mine.size >= 3 || (mine.size > 0 && random() < 0.4)) {
      await free(pick([...mine.keys()]));
      continue;
    }
    const records = await table.listInstances();
    for (const r of records) {
      for (const jobId of Object.keys(r.jobs)) seen.add(jobId);
      if (freeCapacity(r).cpu < 0) problems.push(`${worker} saw ${r.id} at etag ${r.etag} over-allocated`);
    }
    for (const [jobId, id] of mine) {
      if (!records.find((r) => r.id === id)?.jobs[jobId]) problems.push(`${worker} saw its job ${jobId} missing from ${id}`);
    }
    const candidates = records.filter((r) => !r.preventFurtherAllocation && freeCapacity(r).cpu >= 1);
    if (candidates.length === 0) {
      // Everything is taken: give back one of ours, or back off while the others do.
      if (mine.size > 0) await free(pick([...mine.keys()]));
      else await new Promise((resolve) => setTimeout(resolve, 1));
      continue;
    }
    const r = pick(candidates);
    const jobId = `${worker}.${attempts++}`;
    const job = { jobId, cpu: 1, memoryGb: 1, gpus: 0, allocatedAt: Date.now() };
    // Half by compare-and-swap on what was read, half by allocate-if-fits on the instance as it is.
    const blind = random() < 0.5;
    const result = blind ? (await table.allocateIfFits(r.id, [job])) !== undefined : await table.allocateJobs(r.id, r.etag, [job]);
    calls.push({ op: 'allocate', instance: r.id, jobId, ...(!blind && { expectedEtag: r.etag }), result });
    if (result) {
      mine.set(jobId, r.id);
      placed++;
    }
  }
  for (const jobId of [...mine.keys()]) await free(jobId);
  return { worker, calls, seen: [...seen], problems };
}

export interface Verdict {
  problems: string[];
  /** Jobs left in the table after every client freed everything it was told it holds. */
  ghosts: number;
  /** Allocations that returned false although they took effect. */
  misreported: number;
  /** Allocations that returned true but were gone when their client freed them. */
  lost: number;
}

/** Checks every client's calls against each other and the final table. */
export function checkHistories(histories: History[], final: InstanceRecord[]): Verdict {
  const problems = histories.flatMap((h) => h.problems);
  const seen = new Set(histories.flatMap((h) => h.seen));
  const left = final.flatMap((r) => Object.keys(r.jobs).map((jobId) => ({ id: r.id, jobId })));
  for (const { jobId } of left) seen.add(jobId);
  const allocations = new Map(histories.flatMap((h) => h.calls.filter((c) => c.op === 'allocate').map((c) => [c.jobId, c] as const)));
  let misreported = 0;
  let lost = 0;
  for (const c of allocations.values()) {
    if (!c.result && seen.has(c.jobId)) {
      misreported++;
      problems.push(`allocating ${c.jobId} on ${c.instance} at etag ${c.expectedEtag} returned false but took effect`);
    }
  }
  for (const c of histories.flatMap((h) => h.calls)) {
    if (c.op === 'free' && !c.result) {
      lost++;
      const a = allocations.get(c.jobId)!;
      problems.push(`allocating ${c.jobId} on ${a.instance} at etag ${a.expectedEtag} returned true but it was gone when freed`);
    }
  }
  for (const { id, jobId } of left) {
    const a = allocations.get(jobId);
    problems.push(`${jobId} is still allocated on ${id} after every client freed its jobs (its allocation returned ${a?.result ?? 'nothing'})`);
  }
  for (const r of final) if (freeCapacity(r).cpu < 0) problems.push(`${r.id} ends over-allocated`);
  return { problems, ghosts: left.length, misreported, lost };
}
