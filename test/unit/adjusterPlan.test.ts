import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { eligible, matchesInstanceTypes, planAdjustments, thresholdName, unitsOf } from '../../src/core/adjusterPlan';
import { optionsFor } from '../../src/core/chooseInstanceTypes';
import { InstanceType } from '../../src/core/instanceTypes';
import { AdjusterInput, AdjusterPlan, FleetInstance, PlanAction, Threshold } from '../../src/core/management';
import { CpuFeature } from '../../src/core/resources';

const NOW = 1_000_000_000;
const MIN = 60_000;
const IDLE = 5 * MIN;
const GRACE = 2 * MIN;

/** An alive (registered, running), idle-for-long instance unless told otherwise. */
function inst(id: string, cpu: number, memoryGb: number, price: number, extra: Partial<FleetInstance> = {}): FleetInstance {
  return {
    id,
    typeName: `t.${cpu}x${memoryGb}`,
    spot: false,
    price,
    cpu,
    memoryGb,
    gpus: 0,
    registered: true,
    running: true,
    launchedAt: NOW - 60 * MIN,
    jobCount: 0,
    idleSince: NOW - 30 * MIN,
    ...extra,
  };
}

function thr(cpu: number, memoryGb: number, count: number, extra: Partial<Threshold> = {}): Threshold {
  return { cpu, memoryGb, gpus: 0, maxEvictionRatePct: 0, count, ...extra };
}

function type(name: string, cpu: number, memoryGb: number, onDemandPrice: number, extra: Partial<InstanceType> = {}): InstanceType {
  return { name, cpu, memoryGb, gpus: 0, onDemandPrice, ...extra };
}

function plan(instances: FleetInstance[], thresholds: Threshold[], types: InstanceType[] = [], extra: Partial<AdjusterInput> = {}): AdjusterPlan {
  return planAdjustments({ instances, thresholds, types, idleTimeoutMs: IDLE, launchGraceMs: GRACE, now: NOW, ...extra });
}

/** Per instance id: "kind reason[ threshold]". */
function byInstance(p: AdjusterPlan): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of p.actions) {
    if (a.kind === 'launch') continue;
    out[a.id] = `${a.kind} ${a.reason}${a.kind === 'keep' && a.threshold ? ` ${a.threshold}` : ''}`;
  }
  return out;
}

/** Launches as "type[spot]×count → threshold". */
function launches(p: AdjusterPlan): string[] {
  return p.actions
    .filter((a): a is Extract<PlanAction, { kind: 'launch' }> => a.kind === 'launch')
    .map((a) => `${a.option.type.name}${a.option.spot ? '[spot]' : ''}×${a.count} → ${a.threshold}`)
    .sort();
}

test('thresholdName: default describes the resources; an explicit name wins', () => {
  assert.equal(thresholdName(thr(1, 2, 2)), '2×(1 CPU, 2 GB)');
  assert.equal(thresholdName(thr(4, 16, 1, { gpus: 1 })), '1×(4 CPU, 16 GB, 1 GPU)');
  assert.equal(thresholdName(thr(1, 2, 2, { name: 'warm pool' })), 'warm pool');
});

test('unitsOf uses the whole capacity, with slack for fractional sizes', () => {
  assert.equal(unitsOf({ cpu: 8, memoryGb: 16, gpus: 0 }, thr(1, 2, 1)), 8);
  assert.equal(unitsOf({ cpu: 8, memoryGb: 4, gpus: 0 }, thr(1, 2, 1)), 2);
  assert.equal(unitsOf({ cpu: 0.3, memoryGb: 1, gpus: 0 }, thr(0.1, 0.1, 1)), 3);
  assert.equal(unitsOf({ cpu: 8, memoryGb: 64, gpus: 2 }, thr(1, 2, 1, { gpus: 1 })), 2);
  assert.equal(unitsOf({ cpu: 8, memoryGb: 64, gpus: 0 }, thr(1, 2, 1, { gpus: 1 })), 0);
  assert.equal(unitsOf({ cpu: 1, memoryGb: 1, gpus: 0 }, thr(2, 1, 1)), 0);
});

test('instance-type globs: exact names and `*` patterns', () => {
  assert.ok(matchesInstanceTypes('local.big', ['local.*']));
  assert.ok(matchesInstanceTypes('m5.large', ['c5.*', 'm5.large']));
  assert.ok(!matchesInstanceTypes('m5.xlarge', ['m5.large']));
  assert.ok(!matchesInstanceTypes('m5xlarge', ['m5.*']), '"." is literal');
  assert.ok(matchesInstanceTypes('anything', undefined));
  assert.ok(!matchesInstanceTypes('anything', []));

  const t = thr(1, 2, 2, { instanceTypes: ['local.*'] });
  const fleet = [
    inst('cheap-other', 4, 8, 0.01, { typeName: 'other.big' }),
    inst('local', 4, 8, 0.2, { typeName: 'local.big' }),
  ];
  assert.ok(!eligible(fleet[0], t));
  assert.ok(eligible(fleet[1], t));
  const p = plan(fleet, [t], [type('other.small', 2, 4, 0.001), type('local.small', 2, 4, 0.05)]);
  assert.deepEqual(byInstance(p), { 'cheap-other': 'terminate idle', local: `keep threshold ${thresholdName(t)}` });
  assert.deepEqual(launches(p), []);
  // Launches, too, only from matching types, even when another one is cheaper.
  const q = plan([], [t], [type('other.small', 2, 4, 0.001), type('local.small', 2, 4, 0.05)]);
  assert.deepEqual(launches(q), [`local.small×1 → ${thresholdName(t)}`]);
});

test('order of thresholds: the first threshold gets the cheap instance', () => {
  const first = thr(1, 2, 1, { name: 'first' });
  const second = thr(1, 2, 1, { name: 'second' });
  const fleet = [inst('dear', 2, 4, 0.5), inst('cheap', 2, 4, 0.1)];
  const p = plan(fleet, [first, second]);
  assert.deepEqual(byInstance(p), { cheap: 'keep threshold first', dear: 'keep threshold second' });
  const q = plan(fleet, [second, first]);
  assert.deepEqual(byInstance(q), { cheap: 'keep threshold second', dear: 'keep threshold first' });
});

test('instances are assigned in order of increasing cost', () => {
  const t = thr(1, 2, 2, { name: 't' });
  const fleet = [inst('c', 2, 4, 0.3), inst('a', 2, 4, 0.1), inst('b', 2, 4, 0.2)];
  const p = plan(fleet, [t]);
  assert.deepEqual(p.thresholds, [{ name: 't', assigned: ['a'], unitsBefore: 2, unitsAfter: 2, required: 2 }]);
  assert.deepEqual(byInstance(p), { a: 'keep threshold t', b: 'terminate idle', c: 'terminate idle' });
});

test('GPU exclusion: a GPU instance is not assigned to a CPU threshold, and is idle-terminated', () => {
  const t = thr(1, 2, 2, { name: 'cpu' });
  const gpu = inst('gpu', 8, 32, 0.01, { gpus: 1 }); // cheapest and biggest, still excluded
  assert.ok(!eligible(gpu, t));
  const p = plan([gpu, inst('cpu-box', 2, 4, 0.2)], [t], [type('g', 8, 32, 0.001, { gpus: 1 }), type('c', 1, 2, 0.1)]);
  assert.equal(byInstance(p).gpu, 'terminate idle');
  assert.equal(byInstance(p)['cpu-box'], 'keep threshold cpu');
  assert.deepEqual(launches(p), []);
  // …but it does serve a GPU threshold.
  const g = thr(1, 2, 1, { gpus: 1, name: 'gpu' });
  assert.equal(byInstance(plan([gpu], [g])).gpu, 'keep threshold gpu');
});

test('second pass: small instances are dropped in favour of a big one', () => {
  const t = thr(1, 2, 4, { name: 't' });
  // Cheapest first: s1, s2 (1 unit each), then big (4 units) — the small ones add nothing.
  const fleet = [inst('big', 4, 8, 0.3), inst('s1', 1, 2, 0.05), inst('s2', 1, 2, 0.06)];
  const p = plan(fleet, [t]);
  assert.deepEqual(p.thresholds[0].assigned, ['big']);
  assert.deepEqual(byInstance(p), { big: 'keep threshold t', s1: 'terminate idle', s2: 'terminate idle' });
  // What the second pass drops goes to a later threshold the first pass left unmet, before any
  // launch: the cheapest dropped instance serves it and nothing new is launched.
  const later = thr(1, 2, 1, { name: 'later' });
  const q = plan(fleet, [t, later], [type('x', 1, 2, 0.5)]);
  assert.deepEqual(q.thresholds.map((s) => s.assigned), [['big'], ['s1']]);
  assert.deepEqual(launches(q), []);
  assert.deepEqual(byInstance(q), { big: 'keep threshold t', s1: 'keep threshold later', s2: 'terminate idle' });
  // Among equally small ones, the dearer goes first when only one can go.
  const r = plan([inst('big', 4, 8, 0.3), inst('s1', 1, 2, 0.05), inst('s2', 1, 2, 0.06)], [thr(1, 2, 5, { name: 't' })]);
  assert.deepEqual([...r.thresholds[0].assigned].sort(), ['big', 's1']);
  assert.equal(byInstance(r).s2, 'terminate idle');
});

test('second pass again after the freed instances meet a later threshold: what they make spare goes', () => {
  // First pass: a takes m and big (6 ≥ 4); b only gets the spot instance p (1 < 2). Second pass frees m
  // from a; m then meets b on its own, which makes p spare.
  const fleet = [inst('m', 2, 2, 0.01), inst('big', 4, 4, 0.02), inst('p', 1, 1, 0.005, { spot: true, evictionRatePct: 0 })];
  const p = plan(fleet, [thr(1, 1, 4, { name: 'a' }), thr(1, 1, 2, { name: 'b', maxEvictionRatePct: 5 })]);
  assert.deepEqual(p.thresholds.map((s) => s.assigned), [['big'], ['m']]);
  assert.deepEqual(byInstance(p), { m: 'keep threshold b', big: 'keep threshold a', p: 'terminate idle' });
});

test('more kept than strictly necessary when existing instances over-cover', () => {
  const t = thr(1, 2, 5, { name: 't' });
  const p = plan([inst('a', 4, 8, 0.1), inst('b', 4, 8, 0.2)], [t], [type('one', 1, 2, 0.01)]);
  assert.deepEqual(p.thresholds, [{ name: 't', assigned: ['a', 'b'], unitsBefore: 8, unitsAfter: 8, required: 5 }]);
  assert.deepEqual(byInstance(p), { a: 'keep threshold t', b: 'keep threshold t' });
  assert.deepEqual(launches(p), []);
  // A single big instance for a small threshold is kept whole.
  const q = plan([inst('huge', 64, 256, 3)], [thr(1, 2, 1, { name: 'small' })]);
  assert.deepEqual(q.thresholds[0], { name: 'small', assigned: ['huge'], unitsBefore: 64, unitsAfter: 64, required: 1 });
});

test('idle timeout boundaries: exactly at the timeout kept, 1 ms over terminated', () => {
  const fleet = [
    inst('at', 2, 4, 0.1, { idleSince: NOW - IDLE }),
    inst('over', 2, 4, 0.1, { idleSince: NOW - IDLE - 1 }),
    inst('fresh', 2, 4, 0.1, { idleSince: NOW - 1000 }),
  ];
  const p = plan(fleet, []);
  assert.deepEqual(byInstance(p), { at: 'keep idle-within-timeout', over: 'terminate idle', fresh: 'keep idle-within-timeout' });
  const at = p.actions.find((a) => a.kind === 'keep' && a.id === 'at');
  assert.equal(at?.kind === 'keep' ? at.idleForMs : undefined, IDLE);
});

test('grace period for running but unregistered instances', () => {
  const fleet = [
    inst('young', 2, 4, 0.1, { registered: false, launchedAt: NOW - GRACE + 1 }),
    inst('at-grace', 2, 4, 0.1, { registered: false, launchedAt: NOW - GRACE }),
    inst('old', 2, 4, 0.1, { registered: false, launchedAt: NOW - 10 * GRACE }),
  ];
  // Unregistered instances never count towards a threshold, so it launches.
  const t = thr(1, 2, 1, { name: 't' });
  const p = plan(fleet, [t], [type('x', 1, 2, 0.1)]);
  assert.deepEqual(byInstance(p), { young: 'keep launching', 'at-grace': 'terminate not-registered', old: 'terminate not-registered' });
  assert.deepEqual(p.thresholds[0].assigned, []);
  assert.deepEqual(launches(p), ['x×1 → t']);
});

test('registered but not listed: left alone for the listing lag after registration, then deregistered', () => {
  const LAG = 30_000;
  const fleet = [
    inst('just-registered', 2, 4, 0.1, { running: false, registeredAt: NOW - LAG + 1, launchedAt: NOW - 10 * LAG }),
    inst('at-lag', 2, 4, 0.1, { running: false, registeredAt: NOW - LAG }),
  ];
  const p = plan(fleet, [], [], { listingLagMs: LAG });
  assert.deepEqual(byInstance(p), { 'just-registered': 'keep launching', 'at-lag': 'deregister not-running' }, 'keyed on registeredAt, not launchedAt');
});

test('a row still launching whose instance is not listed (Azure registers it before creating the VM, and between zones): kept until its launch is given up', () => {
  const fleet = [
    inst('creating', 2, 4, 0.1, { state: 'launching', running: false, registeredAt: NOW - 2 * GRACE + 1 }),
    inst('ready-gone', 2, 4, 0.1, { running: false, registeredAt: NOW - 2 * GRACE + 1 }),
  ];
  const p = plan(fleet, [], [], { listingLagMs: 30_000 });
  assert.deepEqual(byInstance(p), { creating: 'keep launching', 'ready-gone': 'deregister not-running' });
});

test('a row still launching: kept (and counted) for twice the launch grace, then its launch is given up', () => {
  const t = thr(1, 2, 1, { name: 't' });
  const fleet = [
    inst('booting', 2, 4, 0.1, { state: 'launching', registeredAt: NOW - 2 * GRACE + 1, jobCount: 1 }),
    inst('crashed', 2, 4, 0.1, { state: 'launching', registeredAt: NOW - 2 * GRACE, jobCount: 1 }),
    inst('crashed-unlisted', 2, 4, 0.1, { state: 'launching', running: false, registeredAt: NOW - 3 * GRACE }),
  ];
  const p = plan(fleet, [t], [type('x', 1, 2, 0.1)]);
  assert.deepEqual(byInstance(p), {
    booting: 'keep threshold t',
    crashed: 'terminate launch-abandoned',
    'crashed-unlisted': 'terminate launch-abandoned',
  });
  assert.deepEqual(launches(p), [], 'the launch in progress meets the threshold');
});

test('registered but not running → deregister, and never counted', () => {
  const t = thr(1, 2, 1, { name: 't' });
  const p = plan([inst('ghost', 2, 4, 0.01, { running: false, jobCount: 1 })], [t], [type('x', 1, 2, 0.1)]);
  assert.deepEqual(byInstance(p), { ghost: 'deregister not-running' });
  assert.equal(p.thresholds[0].unitsBefore, 0);
  assert.deepEqual(launches(p), ['x×1 → t']);
});

test('busy instances are never terminated', () => {
  const fleet = [
    inst('busy-idle-long', 2, 4, 0.1, { jobCount: 2, idleSince: NOW - 100 * IDLE }),
    inst('busy-unregistered', 2, 4, 0.1, { jobCount: 1, registered: false, launchedAt: NOW - 100 * GRACE }),
    inst('busy-gpu', 2, 4, 0.1, { jobCount: 1, gpus: 1 }),
  ];
  const p = plan(fleet, [thr(1, 2, 1, { name: 't' })], [type('x', 1, 2, 1)]);
  assert.deepEqual(byInstance(p), {
    'busy-idle-long': 'keep threshold t',
    'busy-unregistered': 'keep busy',
    'busy-gpu': 'keep busy',
  });
  assert.deepEqual(byInstance(plan(fleet, [])), {
    'busy-idle-long': 'keep busy',
    'busy-unregistered': 'keep busy',
    'busy-gpu': 'keep busy',
  });
});

test('spot instances count only when the threshold tolerates their eviction rate', () => {
  const spot = inst('spot', 2, 4, 0.01, { spot: true, evictionRatePct: 10 });
  const unknown = inst('unknown', 2, 4, 0.01, { spot: true });
  assert.ok(!eligible(spot, thr(1, 2, 1)), 'max 0 means on-demand only');
  assert.ok(!eligible(spot, thr(1, 2, 1, { maxEvictionRatePct: 5 })));
  assert.ok(eligible(spot, thr(1, 2, 1, { maxEvictionRatePct: 10 })));
  assert.ok(!eligible(unknown, thr(1, 2, 1, { maxEvictionRatePct: 99 })), 'an unknown rate is never guessed');
  assert.ok(eligible(unknown, thr(1, 2, 1, { maxEvictionRatePct: 100 })), 'but a job accepting any rate takes it');
  assert.ok(eligible(inst('od', 2, 4, 1), thr(1, 2, 1, { maxEvictionRatePct: 10 })), 'on-demand always counts');

  const catalog = [type('x', 2, 4, 0.1, { spotPrice: 0.02, evictionRatePct: 10 })];
  const strict = plan([spot], [thr(1, 2, 2, { name: 'od' })], catalog);
  assert.deepEqual(byInstance(strict), { spot: 'terminate idle' });
  assert.deepEqual(launches(strict), ['x×1 → od']);
  const lax = plan([spot], [thr(1, 2, 4, { name: 'lax', maxEvictionRatePct: 15 })], catalog);
  assert.deepEqual(byInstance(lax), { spot: 'keep threshold lax' });
  assert.deepEqual(launches(lax), ['x[spot]×1 → lax']);
});

test('GPU memory and CPU features: thresholds count and launch only instances that have them', () => {
  const avx512 = thr(1, 2, 2, { name: 'avx512', cpuFeatures: ['avx512'] });
  const fleet = [
    inst('avx2-cheap', 4, 8, 0.01, { cpuFeatures: ['intel', 'avx', 'avx2'] }),
    inst('unknown', 4, 8, 0.01), // a row from before features were recorded
    inst('zen4', 2, 4, 0.2, { cpuFeatures: ['amd', 'avx', 'avx2', 'avx512'] }),
  ];
  assert.ok(!eligible(fleet[0], avx512) && !eligible(fleet[1], avx512) && eligible(fleet[2], avx512));
  const p = plan(fleet, [avx512]);
  assert.deepEqual(byInstance(p), { 'avx2-cheap': 'terminate idle', unknown: 'terminate idle', zen4: 'keep threshold avx512' });
  // Launches skip cheaper types without the feature.
  const catalog = [type('cheap', 2, 4, 0.01, { cpuFeatures: ['intel', 'avx', 'avx2'] }), type('x512', 2, 4, 0.05, { cpuFeatures: ['intel', 'avx', 'avx2', 'avx512'] })];
  assert.deepEqual(launches(plan([], [avx512], catalog)), ['x512×1 → avx512']);

  // GPU memory across a unit's GPUs: a 16 GB GPU does not hold a 24 GB unit.
  const big = thr(1, 2, 1, { name: 'big-gpu', gpus: 1, gpuMemoryGb: 24 });
  const t4 = inst('t4', 4, 16, 0.5, { gpus: 1, memoryPerGpuGb: 16 });
  const a10 = inst('a10', 4, 16, 1, { gpus: 1, memoryPerGpuGb: 24 });
  assert.ok(!eligible(t4, big) && eligible(a10, big));
  assert.deepEqual(plan([t4, a10], [big]).thresholds[0].assigned, ['a10']);
  assert.equal(thresholdName(thr(1, 2, 1, { gpus: 1, gpuMemoryGb: 24, cpuFeatures: ['avx2'] })), '1×(1 CPU, 2 GB, 1 GPU with 24 GB, avx2)');
  assert.throws(() => plan([], [thr(1, 2, 1, { cpuFeatures: ['AVX2' as CpuFeature] })]), /unknown CPU feature "AVX2" \(known: avx, /);
});

test('unmet threshold: launches the cheapest mix for the missing units', () => {
  const t = thr(1, 2, 7, { name: 't' });
  const catalog = [type('one', 1, 2, 0.1), type('four', 4, 8, 0.3), type('eight', 8, 16, 0.9), type('gpu', 8, 16, 0.01, { gpus: 1 })];
  // 1 unit present, 6 missing: four + two×one = 0.5 beats eight (0.9) and six×one (0.6).
  const p = plan([inst('have', 1, 2, 0.1)], [t], catalog);
  assert.deepEqual(launches(p), ['four×1 → t', 'one×2 → t']);
  assert.deepEqual(p.thresholds, [{ name: 't', assigned: ['have'], unitsBefore: 1, unitsAfter: 7, required: 7 }]);
  // Whole capacity counts after launch: a 4-unit machine for 3 missing units gives 4.
  const q = plan([], [thr(1, 2, 3, { name: 'q' })], [type('four', 4, 8, 0.2), type('one', 1, 2, 0.1)]);
  assert.deepEqual(launches(q), ['four×1 → q']);
  assert.equal(q.thresholds[0].unitsAfter, 4);
});

test('no launch when the threshold is met', () => {
  const p = plan([inst('a', 4, 8, 0.1)], [thr(1, 2, 4)], [type('one', 1, 2, 0.001)]);
  assert.deepEqual(launches(p), []);
  assert.equal(p.thresholds[0].unitsAfter, 4);
  // count 0 needs nothing and holds nothing.
  const q = plan([inst('a', 4, 8, 0.1)], [thr(1, 2, 0)], [type('one', 1, 2, 0.001)]);
  assert.deepEqual(launches(q), []);
  assert.deepEqual(byInstance(q), { a: 'terminate idle' });
});

test('nothing fits: no launch, and the threshold shows unmet', () => {
  const t = thr(64, 512, 2, { name: 'huge' });
  const p = plan([inst('small', 2, 4, 0.1)], [t], [type('one', 1, 2, 0.1), type('g', 128, 1024, 1, { gpus: 8 })]);
  assert.deepEqual(launches(p), []);
  assert.deepEqual(p.thresholds, [{ name: 'huge', assigned: [], unitsBefore: 0, unitsAfter: 0, required: 2 }]);
  // Partially met: what is there stays assigned; the rest is reported missing.
  const q = plan([inst('big', 64, 512, 2)], [t], []);
  assert.deepEqual(q.thresholds, [{ name: 'huge', assigned: ['big'], unitsBefore: 1, unitsAfter: 1, required: 2 }]);
  assert.equal(byInstance(q).big, 'keep threshold huge');
});

test('invalid thresholds are rejected', () => {
  assert.throws(() => plan([], [thr(0, 2, 1)]), /CPU/);
  assert.throws(() => plan([], [thr(1, 2, 1.5)]), /count/);
  assert.throws(() => plan([], [thr(1, 2, -1)]), /count/);
});

// ---------------------------------------------------------------------------------------------
// Property test

const arbInstance = (id: number): fc.Arbitrary<FleetInstance> =>
  fc
    .record({
      cpu: fc.integer({ min: 1, max: 16 }),
      memoryGb: fc.integer({ min: 1, max: 64 }),
      gpus: fc.constantFrom(0, 0, 0, 1, 2),
      price: fc.integer({ min: 1, max: 200 }).map((c) => c / 100),
      spot: fc.boolean(),
      evictionRatePct: fc.option(fc.constantFrom(0, 5, 10, 15, 20, 100), { nil: undefined }),
      state: fc.constantFrom('alive', 'alive', 'alive', 'unregistered', 'not-running'),
      jobCount: fc.constantFrom(0, 0, 0, 1, 3),
      launchedAgo: fc.integer({ min: 0, max: 4 * GRACE }),
      idleAgo: fc.integer({ min: 0, max: 2 * IDLE }),
      typeKind: fc.constantFrom('local', 'aws'),
      memoryPerGpuGb: fc.option(fc.constantFrom(16, 40), { nil: undefined }),
      cpuFeatures: fc.option(fc.constantFrom<CpuFeature[]>(['intel', 'avx', 'avx2'], ['amd', 'avx', 'avx2', 'avx512']), { nil: undefined }),
    })
    .map((r) => ({
      id: `i${id}`,
      typeName: `${r.typeKind}.${r.cpu}x${r.memoryGb}`,
      spot: r.spot,
      price: r.price,
      cpu: r.cpu,
      memoryGb: r.memoryGb,
      gpus: r.gpus,
      evictionRatePct: r.spot ? r.evictionRatePct : undefined,
      memoryPerGpuGb: r.gpus ? r.memoryPerGpuGb : undefined,
      cpuFeatures: r.cpuFeatures,
      registered: r.state !== 'unregistered',
      running: r.state !== 'not-running',
      launchedAt: NOW - r.launchedAgo,
      jobCount: r.jobCount,
      idleSince: NOW - r.idleAgo,
    }));

const arbFleet = fc
  .integer({ min: 0, max: 12 })
  .chain((n) => (n === 0 ? fc.constant([] as FleetInstance[]) : fc.tuple(...Array.from({ length: n }, (_, i) => arbInstance(i)))));

const arbThreshold: fc.Arbitrary<Threshold> = fc.record(
  {
    cpu: fc.constantFrom(0.5, 1, 2, 4),
    memoryGb: fc.constantFrom(1, 2, 4, 8),
    gpus: fc.constantFrom(0, 0, 1),
    maxEvictionRatePct: fc.constantFrom(0, 0, 5, 10, 20),
    count: fc.integer({ min: 0, max: 10 }),
    instanceTypes: fc.constantFrom(undefined, ['local.*'], ['aws.*', 'local.4x16']),
    gpuMemoryGb: fc.constantFrom(16, 32),
    cpuFeatures: fc.constantFrom<CpuFeature[]>([], ['avx2'], ['avx512']),
  },
  { requiredKeys: ['cpu', 'memoryGb', 'gpus', 'maxEvictionRatePct', 'count'] },
).map((t): Threshold => ({ ...t, instanceTypes: t.instanceTypes && [...t.instanceTypes], gpuMemoryGb: t.gpus ? t.gpuMemoryGb : undefined }));

const arbType: fc.Arbitrary<InstanceType> = fc
  .record({
    kind: fc.constantFrom('local', 'aws'),
    cpu: fc.constantFrom(1, 2, 4, 8),
    memoryGb: fc.constantFrom(2, 4, 16, 32),
    gpus: fc.constantFrom(0, 0, 1),
    memoryPerGpuGb: fc.constantFrom(16, 40),
    cpuFeatures: fc.option(fc.constantFrom<CpuFeature[]>(['intel', 'avx', 'avx2'], ['amd', 'avx', 'avx2', 'avx512']), { nil: undefined }),
    onDemandPrice: fc.oneof(fc.integer({ min: 1, max: 100 }).map((c) => c / 100), fc.constant(NaN)),
    spot: fc.option(fc.record({ spotPrice: fc.integer({ min: 1, max: 50 }).map((c) => c / 100), evictionRatePct: fc.constantFrom(0, 5, 10, 20) }), {
      nil: undefined,
    }),
  })
  .map((r) => ({
    name: `${r.kind}.${r.cpu}x${r.memoryGb}${r.gpus ? 'g' : ''}`,
    cpu: r.cpu,
    memoryGb: r.memoryGb,
    gpus: r.gpus,
    ...(r.gpus && { memoryPerGpuGb: r.memoryPerGpuGb }),
    ...(r.cpuFeatures && { cpuFeatures: r.cpuFeatures }),
    onDemandPrice: r.onDemandPrice,
    ...(r.spot ?? {}),
  }));

const arbCatalog = fc.uniqueArray(arbType, { minLength: 0, maxLength: 5, selector: (t) => t.name });

/** Whether a machine meets a threshold's market, GPU and requirement rules, worked out independently. */
function meetsThreshold(m: { spot?: boolean; evictionRatePct?: number; gpus: number; memoryPerGpuGb?: number; cpuFeatures?: readonly CpuFeature[] }, t: Threshold): boolean {
  if (m.spot && !(t.maxEvictionRatePct > 0 && m.evictionRatePct !== undefined && m.evictionRatePct <= t.maxEvictionRatePct)) return false;
  if (t.gpus === 0 && m.gpus > 0) return false;
  if (t.gpuMemoryGb && !(m.memoryPerGpuGb !== undefined && m.memoryPerGpuGb * t.gpus >= t.gpuMemoryGb)) return false;
  return (t.cpuFeatures ?? []).every((f) => m.cpuFeatures?.includes(f));
}

function launchableTypes(types: InstanceType[], t: Threshold): InstanceType[] {
  return types.filter((x) => !(t.gpus === 0 && x.gpus > 0) && matchesInstanceTypes(x.name, t.instanceTypes));
}

test('property: safe, complete, one action per instance, and no needless launch', () => {
  fc.assert(
    fc.property(arbFleet, fc.array(arbThreshold, { maxLength: 3 }), arbCatalog, (fleet, rawThresholds, types) => {
      const thresholds = rawThresholds.map((t, i) => ({ ...t, name: `T${i}` }));
      const input: AdjusterInput = { instances: fleet, thresholds, types, idleTimeoutMs: IDLE, launchGraceMs: GRACE, now: NOW };
      const p = planAdjustments(input);

      // Deterministic.
      assert.deepEqual(planAdjustments(input), p);

      // Exactly one action per instance.
      const perInstance = new Map<string, PlanAction[]>();
      for (const a of p.actions) if (a.kind !== 'launch') perInstance.set(a.id, [...(perInstance.get(a.id) ?? []), a]);
      assert.equal(perInstance.size, fleet.length);
      for (const i of fleet) assert.equal(perInstance.get(i.id)?.length, 1, `one action for ${i.id}`);

      const byId = new Map(fleet.map((i) => [i.id, i]));
      for (const [id, [a]] of perInstance) {
        const i = byId.get(id)!;
        // Never terminates an instance with jobs.
        if (a.kind === 'terminate') assert.equal(i.jobCount, 0, `terminated busy ${id}`);
        // Deregister only what is not running; terminate 'idle' only alive ones.
        if (a.kind === 'deregister') assert.ok(!i.running);
        if (a.kind === 'terminate' && a.reason === 'idle') {
          assert.ok(i.registered && i.running && NOW - i.idleSince > IDLE);
        }
        if (a.kind === 'terminate' && a.reason === 'not-registered') assert.ok(!i.registered && NOW - i.launchedAt >= GRACE);
      }

      // Assignment: alive, eligible, at most one threshold, and 'keep threshold' matches it.
      const seen = new Set<string>();
      p.thresholds.forEach((s, ti) => {
        const t = thresholds[ti];
        assert.equal(s.name, t.name);
        assert.equal(s.required, t.count);
        let units = 0;
        for (const id of s.assigned) {
          assert.ok(!seen.has(id), `${id} in two thresholds`);
          seen.add(id);
          const i = byId.get(id)!;
          assert.ok(i.registered && i.running && eligible(i, t));
          assert.ok(meetsThreshold(i, t), `${id} assigned to ${t.name} against its limits`);
          const a = perInstance.get(id)![0];
          assert.ok(a.kind === 'keep' && a.reason === 'threshold' && a.threshold === t.name);
          units += unitsOf(i, t);
        }
        assert.equal(s.unitsBefore, units);
        // Second pass: no assigned instance is spare.
        if (s.unitsBefore >= s.required) {
          for (const id of s.assigned) assert.ok(units - unitsOf(byId.get(id)!, t) < s.required, `${id} spare for ${t.name}`);
        }
      });
      for (const [id, [a]] of perInstance) if (a.kind === 'keep' && a.reason === 'threshold') assert.ok(seen.has(id));

      // Launches: met when anything fits; none when met; none needless; only admissible options.
      const launchActions = p.actions.filter((a): a is Extract<PlanAction, { kind: 'launch' }> => a.kind === 'launch');
      p.thresholds.forEach((s, ti) => {
        const t = thresholds[ti];
        const need = { cpu: t.cpu, memoryGb: t.memoryGb, gpus: t.gpus, maxEvictionRatePct: t.maxEvictionRatePct, gpuMemoryGb: t.gpuMemoryGb, cpuFeatures: t.cpuFeatures };
        const fitsSomething = optionsFor(launchableTypes(types, t), need).length > 0;
        if (fitsSomething) assert.ok(s.unitsAfter >= s.required, `${t.name} unmet though something fits`);
        else assert.equal(s.unitsAfter, s.unitsBefore);
        const mine = launchActions.filter((a) => a.threshold === t.name);
        if (s.unitsBefore >= s.required) assert.equal(mine.length, 0, `needless launch for ${t.name}`);
        let launched = 0;
        for (const a of mine) {
          assert.ok(a.count >= 1);
          const u = unitsOf(a.option.type, t);
          assert.ok(u >= 1);
          assert.ok(!(t.gpus === 0 && a.option.type.gpus > 0));
          assert.ok(matchesInstanceTypes(a.option.type.name, t.instanceTypes));
          if (a.option.spot) assert.ok(t.maxEvictionRatePct > 0 && a.option.type.evictionRatePct! <= t.maxEvictionRatePct);
          assert.ok(meetsThreshold({ ...a.option.type, spot: a.option.spot }, t), `launched ${a.option.type.name} against ${t.name}'s limits`);
          launched += a.count * u;
          // Removing any single launched instance would leave the threshold unmet.
          assert.ok(s.unitsAfter - u < s.required, `a launched ${a.option.type.name} is spare for ${t.name}`);
        }
        assert.equal(s.unitsAfter, s.unitsBefore + launched);
      });
      if (p.thresholds.every((s) => s.unitsBefore >= s.required)) assert.equal(launchActions.length, 0);
    }),
    { numRuns: 400, seed: 14 },
  );
});
