// Time of the adjuster's plan for a large fleet: 1,000 alive instances drawn from the AWS us-east-1
// catalog and 10 thresholds. Baseline, measured in the same run: one pass that sorts the fleet by
// price and sums its CPUs, so the ratio shows the plan's cost relative to touching the fleet once.
// Target: ≤ 100 ms. Run: node --import tsx bench/adjuster.ts
import { performance } from 'node:perf_hooks';
import { planAdjustments } from '../src/core/adjusterPlan';
import { AdjusterInput, FleetInstance, Threshold } from '../src/core/management';
import { loadAwsCatalog } from '../test/helpers/catalog';

const INSTANCES = 1000;
const RUNS = 20;
const WARMUP = 5;
const TARGET_MS = 100;

/** mulberry32: a small deterministic PRNG, so every run plans the same fleet. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function buildInput(): AdjusterInput {
  const random = rng(20240601);
  const types = loadAwsCatalog();
  const priced = types.filter((t) => Number.isFinite(t.onDemandPrice) && t.onDemandPrice > 0 && t.cpu <= 96);
  const now = 1_700_000_000_000;
  const instances: FleetInstance[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    const type = priced[Math.floor(random() * priced.length)];
    const spot = type.spotPrice !== undefined && type.evictionRatePct !== undefined && random() < 0.3;
    const busy = random() < 0.4;
    instances.push({
      id: `i-${i.toString(16).padStart(8, '0')}`,
      typeName: type.name,
      spot,
      price: spot ? type.spotPrice! : type.onDemandPrice,
      cpu: type.cpu,
      memoryGb: type.memoryGb,
      gpus: type.gpus,
      evictionRatePct: spot ? type.evictionRatePct : undefined,
      registered: true,
      running: true,
      launchedAt: now - Math.floor(random() * 86_400_000),
      jobCount: busy ? 1 + Math.floor(random() * 4) : 0,
      idleSince: now - Math.floor(random() * 1_200_000),
    });
  }
  const thresholds: Threshold[] = [
    { cpu: 1, memoryGb: 2, gpus: 0, maxEvictionRatePct: 0, count: 200 },
    { cpu: 2, memoryGb: 8, gpus: 0, maxEvictionRatePct: 10, count: 150 },
    { cpu: 4, memoryGb: 16, gpus: 0, maxEvictionRatePct: 0, count: 80, instanceTypes: ['m5.*', 'm6i.*', 'm7i.*'] },
    { cpu: 8, memoryGb: 32, gpus: 0, maxEvictionRatePct: 20, count: 60 },
    { cpu: 4, memoryGb: 16, gpus: 1, maxEvictionRatePct: 0, count: 12 },
    { cpu: 0.5, memoryGb: 1, gpus: 0, maxEvictionRatePct: 5, count: 400, instanceTypes: ['c*'] },
    { cpu: 16, memoryGb: 64, gpus: 0, maxEvictionRatePct: 0, count: 30 },
    { cpu: 2, memoryGb: 4, gpus: 0, maxEvictionRatePct: 100, count: 300, instanceTypes: ['r*', 't3.*'] },
    { cpu: 8, memoryGb: 64, gpus: 1, maxEvictionRatePct: 20, count: 200, instanceTypes: ['g*', 'p*'] },
    { cpu: 1, memoryGb: 4, gpus: 0, maxEvictionRatePct: 0, count: 40000 }, // more than the fleet holds: launches
  ];
  return { instances, thresholds, types, idleTimeoutMs: 300_000, launchGraceMs: 120_000, now };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function time(fn: () => unknown): number[] {
  for (let i = 0; i < WARMUP; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}

function main() {
  const input = buildInput();
  let sink = 0;
  const baseline = median(
    time(() => {
      const sorted = [...input.instances].sort((a, b) => a.price - b.price);
      let cpus = 0;
      for (const i of sorted) cpus += i.cpu;
      sink += cpus;
    }),
  );
  const planMs = median(
    time(() => {
      sink += planAdjustments(input).actions.length;
    }),
  );
  const plan = planAdjustments(input);
  const count = (kind: string) => plan.actions.filter((a) => a.kind === kind).length;
  const unmet = plan.thresholds.filter((t) => t.unitsAfter < t.required).length;
  console.log(
    `  (plan: ${count('keep')} keep, ${count('terminate')} terminate, ${count('launch')} launch actions; ` +
      `${plan.thresholds.reduce((s, t) => s + t.assigned.length, 0)} instances on thresholds; ${unmet} unmet; sink ${sink > 0 ? 'ok' : '?'})`,
  );
  console.log(
    `adjuster: plan for ${INSTANCES} instances × ${input.thresholds.length} thresholds: ${planMs.toFixed(2)} ms (median of ${RUNS}); ` +
      `baseline ${baseline.toFixed(3)} ms; ratio ${(planMs / baseline).toFixed(1)}; target ≤ ${TARGET_MS} ms`,
  );
  if (planMs > TARGET_MS) process.exitCode = 1;
}

main();
