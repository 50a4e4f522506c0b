import { MeadowrunError } from './errors';
import { InstanceChoice, InstanceOption, InstanceType, optionEvictionRatePct } from './instanceTypes';
import { describeNeed, describeResources, marketAllowed, meetsRequirements, Resources, validateResources } from './resources';

// Specs are often fractional (0.1 + 0.2 CPU); without slack a worker that exactly fits would be lost.
const EPS = 1e-9;
// Prices are sums of many floats; totals closer than this (relative) count as equal so tie-breaks apply.
const PRICE_TOL = 1e-9;

/** How many workers needing `need` fit on one instance of `t` (0 when none). */
export function workersPerInstance(t: InstanceType, need: Resources): number {
  let n = Math.min(t.cpu / need.cpu, t.memoryGb / need.memoryGb);
  if (need.gpus > 0) n = Math.min(n, t.gpus / need.gpus);
  return Number.isFinite(n) && n > 0 ? Math.floor(n + EPS) : 0;
}

function isPrice(p: number | undefined): p is number {
  return typeof p === 'number' && Number.isFinite(p) && p > 0;
}

/**
 * Every purchasable option (on-demand, and spot when the eviction rate is tolerated) that fits one worker
 * and meets its GPU memory and CPU feature requirements.
 */
export function optionsFor(types: InstanceType[], need: Resources): InstanceOption[] {
  const out: InstanceOption[] = [];
  for (const type of types) {
    if (workersPerInstance(type, need) < 1 || !meetsRequirements(need, type)) continue;
    if (isPrice(type.onDemandPrice)) out.push({ type, spot: false, price: type.onDemandPrice });
    if (isPrice(type.spotPrice) && marketAllowed(need.maxEvictionRatePct, true, type.evictionRatePct)) {
      out.push({ type, spot: true, price: type.spotPrice });
    }
  }
  return out;
}

function priceLess(a: number, b: number): boolean {
  return a < b - PRICE_TOL * Math.max(Math.abs(a), Math.abs(b));
}

interface Candidate {
  option: InstanceOption;
  wpi: number; // capped at the number of workers: more room than that is worth nothing
  evict: number; // 0 on-demand; options only exist for spot types with a known rate
}

/**
 * Deterministic preference among options that are otherwise equal: cheaper, then less likely to be
 * evicted, then bigger, then by name.
 */
function compareCandidates(a: Candidate, b: Candidate): number {
  if (priceLess(a.option.price, b.option.price)) return -1;
  if (priceLess(b.option.price, a.option.price)) return 1;
  if (a.evict !== b.evict) return a.evict - b.evict;
  if (a.option.type.cpu !== b.option.type.cpu) return b.option.type.cpu - a.option.type.cpu;
  if (a.option.type.name !== b.option.type.name) return a.option.type.name < b.option.type.name ? -1 : 1;
  return Number(a.option.spot) - Number(b.option.spot);
}

/**
 * Drops options that can never be in a uniquely best answer: another option holds at least as many
 * workers and is cheaper, or costs the same, is evicted no more often and is at least as big (so the
 * tie-breaks prefer it too).
 * This keeps the DP's inner loop to the handful of Pareto-optimal options.
 */
function prune(cands: Candidate[]): Candidate[] {
  // Most workers first; among equal wpi, the preferred option first so it survives.
  const sorted = [...cands].sort((a, b) => b.wpi - a.wpi || compareCandidates(a, b));
  const kept: Candidate[] = [];
  for (const c of sorted) {
    const dominated = kept.some(
      (k) =>
        priceLess(k.option.price, c.option.price) ||
        (!priceLess(c.option.price, k.option.price) && k.evict <= c.evict && k.option.type.cpu >= c.option.type.cpu),
    );
    if (!dominated) kept.push(c);
  }
  return kept.sort(compareCandidates);
}

/** Names an option (its type and market) for `nextOption`'s list of those already tried. */
export function optionKey(o: InstanceOption): string {
  return `${o.type.name}/${o.spot ? 'spot' : 'on-demand'}`;
}

/**
 * The option to launch instead when the cloud had no capacity for those in `tried`: the cheapest
 * other one that hosts all `workers` on one instance (ties as chooseInstanceTypes breaks them), or
 * undefined when none is left.
 */
export function nextOption(types: InstanceType[], need: Resources, workers: number, tried: ReadonlySet<string>): InstanceOption | undefined {
  return optionsFor(types, need)
    .filter((option) => !tried.has(optionKey(option)) && workersPerInstance(option.type, need) >= workers)
    .map((option) => ({ option, wpi: workers, evict: optionEvictionRatePct(option) ?? 100 }))
    .sort(compareCandidates)[0]?.option;
}

/**
 * The cheapest mix of instances that hosts exactly `workers` workers, each needing `need`.
 * Exact: a DP over the number of workers still to place. Ties go to fewer machines, then the lower worst
 * eviction rate (on-demand counts as 0), then more CPUs in total, then the earlier option in name order.
 * Returns [] when no option fits one worker.
 */
export function chooseInstanceTypes(types: InstanceType[], need: Resources, workers = 1): InstanceChoice[] {
  validateResources(need);
  if (!Number.isInteger(workers) || workers < 1) {
    throw new MeadowrunError(`Invalid number of workers: must be a whole number ≥ 1 (got ${workers})`, 'bad-resources');
  }
  const cands = prune(
    optionsFor(types, need).map((option) => ({
      option,
      wpi: Math.min(workersPerInstance(option.type, need), workers),
      evict: optionEvictionRatePct(option) ?? 100,
    })),
  );
  if (cands.length === 0) return [];

  // best[w]: cheapest way to host at least w workers; an instance may end up partly used, which is
  // exactly the "last instance holds the remainder" case.
  const cost = new Float64Array(workers + 1).fill(Infinity);
  const machines = new Float64Array(workers + 1);
  const evict = new Float64Array(workers + 1); // the highest eviction rate among the instances
  const cpus = new Float64Array(workers + 1);
  const pick = new Int32Array(workers + 1).fill(-1);
  cost[0] = 0;
  for (let w = 1; w <= workers; w++) {
    for (let i = 0; i < cands.length; i++) {
      const c = cands[i];
      const prev = w > c.wpi ? w - c.wpi : 0;
      const nc = cost[prev] + c.option.price;
      const nm = machines[prev] + 1;
      const ne = Math.max(evict[prev], c.evict);
      const ncpu = cpus[prev] + c.option.type.cpu;
      // Strict improvement only, so the earlier candidate (by compareCandidates) wins full ties.
      const better =
        pick[w] < 0 ||
        priceLess(nc, cost[w]) ||
        (!priceLess(cost[w], nc) &&
          (nm < machines[w] || (nm === machines[w] && (ne < evict[w] || (ne === evict[w] && ncpu > cpus[w] + EPS)))));
      if (better) {
        cost[w] = nc;
        machines[w] = nm;
        evict[w] = ne;
        cpus[w] = ncpu;
        pick[w] = i;
      }
    }
  }

  // Walk back, placing as many workers as fit on each instance; group identical (option, placed) pairs.
  const groups = new Map<string, InstanceChoice>();
  for (let w = workers; w > 0; ) {
    const c = cands[pick[w]];
    const placed = Math.min(c.wpi, w);
    const key = `${c.option.type.name}\0${c.option.spot}\0${placed}`;
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { option: c.option, workersPerInstance: placed, count: 1 });
    w -= placed;
  }
  return [...groups.values()];
}

/** Total hourly price of a choice. */
export function totalPrice(choices: InstanceChoice[]): number {
  return choices.reduce((s, c) => s + c.count * c.option.price, 0);
}

/** Total workers hosted by a choice. */
export function totalWorkers(choices: InstanceChoice[]): number {
  return choices.reduce((s, c) => s + c.count * c.workersPerInstance, 0);
}

/** Which requirement types big enough for `need` all miss: GPU memory first, then CPU features. */
function unmetRequirement(bigEnough: InstanceType[], need: Resources): string {
  if (!bigEnough.some((t) => meetsRequirements({ ...need, cpuFeatures: [] }, t))) {
    const most = Math.max(0, ...bigEnough.map((t) => t.memoryPerGpuGb ?? 0));
    return `not enough GPU memory (the types big enough have at most ${most} GB per GPU)`;
  }
  const withMemory = need.gpuMemoryGb ? ' with that GPU memory' : '';
  return `no type big enough${withMemory} has all of the CPU features ${need.cpuFeatures!.join(', ')}`;
}

/** One line saying why chooseInstanceTypes found nothing, naming the blocker when there is a single one. */
export function describeNoFit(types: InstanceType[], need: Resources): string {
  const wanted = describeNeed(need);
  const sellable = types.filter((t) => isPrice(t.onDemandPrice) || isPrice(t.spotPrice));
  if (sellable.length === 0) return `No instance type with a known price is available for ${wanted}`;

  const bigEnough = sellable.filter((t) => workersPerInstance(t, need) >= 1);
  const fitting = bigEnough.filter((t) => meetsRequirements(need, t));
  if (bigEnough.length > 0 && fitting.length === 0) return `No instance type offers ${wanted}: ${unmetRequirement(bigEnough, need)}`;
  if (fitting.length > 0) {
    // Big enough machines exist, so only the market is in the way: they are sold as spot only.
    const rates = fitting
      .map((t) => t.evictionRatePct)
      .filter((r): r is number => r !== undefined && Number.isFinite(r));
    if (rates.length === 0) return `Instance types that offer ${wanted} are sold as spot only, with no known eviction rate (allow a 100% eviction rate to use them)`;
    const lowest = Math.min(...rates);
    const allowed = need.maxEvictionRatePct > 0 ? `you allow ${need.maxEvictionRatePct}%` : 'you allow on-demand only';
    return `Instance types that offer ${wanted} are sold as spot only, with eviction rates of ${lowest}% or more (${allowed})`;
  }

  // GPUs are the only blocker: CPU and memory would fit somewhere.
  if (need.gpus > 0 && sellable.some((t) => t.cpu + EPS >= need.cpu && t.memoryGb + EPS >= need.memoryGb)) {
    const mostGpus = sellable.reduce((a, b) => (b.gpus > a.gpus ? b : a));
    const most = mostGpus.gpus > 0 ? `the most is ${mostGpus.name}: ${describeResources(mostGpus)}` : 'none has GPUs';
    return `No instance type offers ${wanted}: not enough GPUs (${most})`;
  }

  const largest = sellable.reduce((a, b) =>
    b.cpu > a.cpu || (b.cpu === a.cpu && b.memoryGb > a.memoryGb) ? b : a,
  );
  return `No instance type offers ${wanted} (the largest is ${largest.name}: ${describeResources(largest)})`;
}
