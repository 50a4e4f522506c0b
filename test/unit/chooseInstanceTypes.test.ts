import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  chooseInstanceTypes,
  describeNoFit,
  nextOption,
  optionKey,
  optionsFor,
  totalPrice,
  totalWorkers,
} from '../../src/core/chooseInstanceTypes';
import { InstanceChoice, InstanceType } from '../../src/core/instanceTypes';
import { CpuFeature, parseCpuFeatures, Resources } from '../../src/core/resources';
import { loadAwsCatalog } from '../helpers/catalog';

function type(
  name: string,
  cpu: number,
  memoryGb: number,
  onDemandPrice: number,
  extra: Partial<InstanceType> = {},
): InstanceType {
  return { name, cpu, memoryGb, gpus: 0, onDemandPrice, ...extra };
}

function need(cpu: number, memoryGb: number, extra: Partial<Resources> = {}): Resources {
  return { cpu, memoryGb, gpus: 0, maxEvictionRatePct: 0, ...extra };
}

/** Compact view for assertions: "name[spot] workers×count". */
function show(choices: InstanceChoice[]): string[] {
  return choices
    .map((c) => `${c.option.type.name}${c.option.spot ? '[spot]' : ''} ${c.workersPerInstance}x${c.count}`)
    .sort();
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

test('cheapest single fit', () => {
  const types = [type('big', 8, 32, 0.4), type('small', 2, 4, 0.1), type('tiny', 1, 1, 0.01)];
  assert.deepEqual(show(chooseInstanceTypes(types, need(2, 4))), ['small 1x1']);
});

test('spot chosen only when eviction ≤ max and max > 0', () => {
  const types = [type('a', 2, 4, 0.1, { spotPrice: 0.03, evictionRatePct: 10 })];
  // On-demand only when no eviction is tolerated.
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 1))), ['a 1x1']);
  // Rate above the limit: still on-demand.
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 1, { maxEvictionRatePct: 5 }))), ['a 1x1']);
  // At the limit: spot.
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 1, { maxEvictionRatePct: 10 }))), ['a[spot] 1x1']);
  // A 0 % eviction rate still needs max > 0, since 0 means on-demand only.
  const zero = [type('z', 2, 4, 0.1, { spotPrice: 0.03, evictionRatePct: 0 })];
  assert.deepEqual(show(chooseInstanceTypes(zero, need(1, 1))), ['z 1x1']);
  // Unknown eviction rate: spot only for a job that accepts any rate (it is never guessed).
  const unknown = [type('u', 2, 4, 0.1, { spotPrice: 0.03 })];
  assert.deepEqual(show(chooseInstanceTypes(unknown, need(1, 1, { maxEvictionRatePct: 99 }))), ['u 1x1']);
  assert.deepEqual(show(chooseInstanceTypes(unknown, need(1, 1, { maxEvictionRatePct: 100 }))), ['u[spot] 1x1']);
  // optionsFor lists both markets when allowed.
  assert.equal(optionsFor(types, need(1, 1, { maxEvictionRatePct: 50 })).length, 2);
});

test('several workers share an instance when cheaper', () => {
  const types = [type('one', 1, 2, 0.1), type('four', 4, 8, 0.3)];
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2), 4)), ['four 4x1']);
  // 5 workers: one "four" full plus one "one" beats two "four"s (0.4 < 0.6).
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2), 5)), ['four 4x1', 'one 1x1']);
  // 7 workers: two "four"s (0.6), the second one partly used, beat four + 3×one (0.6 too, but more machines).
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2), 7)), ['four 3x1', 'four 4x1']);
});

test('exact optimum where greedy by price per worker fails', () => {
  // Per worker, "a" is cheapest (1.0 vs 1.1), but 6 workers cost 6.6 with two "b"s and 7.3+ otherwise.
  const types = [type('a', 4, 4, 4), type('b', 3, 3, 3.3)];
  const got = chooseInstanceTypes(types, need(1, 1), 6);
  assert.deepEqual(show(got), ['b 3x2']);
  assert.ok(close(totalPrice(got), 6.6));
});

test('ties broken to fewer, then bigger machines, then by name', () => {
  // Two "two"s cost the same as one "four": fewer machines wins.
  const fewer = [type('two', 2, 4, 0.2), type('four', 4, 8, 0.4)];
  assert.deepEqual(show(chooseInstanceTypes(fewer, need(1, 2), 4)), ['four 4x1']);
  // Same price, one machine each way: the bigger machine wins.
  const bigger = [type('small', 2, 4, 0.2), type('large', 8, 32, 0.2)];
  assert.deepEqual(show(chooseInstanceTypes(bigger, need(1, 1))), ['large 1x1']);
  // Everything equal: by name, whatever order the catalog lists them in.
  const names = [type('zeta', 2, 4, 0.2), type('alpha', 2, 4, 0.2)];
  assert.deepEqual(show(chooseInstanceTypes(names, need(1, 1))), ['alpha 1x1']);
  assert.deepEqual(show(chooseInstanceTypes([...names].reverse(), need(1, 1))), ['alpha 1x1']);
});

test('same price: the lower eviction rate wins, whatever the catalog order or names', () => {
  // After Meadowrun's test_max_eviction_rate: two spot types of one size and price.
  const types = [
    type('t0', 2, 4, 1, { spotPrice: 0.5, evictionRatePct: 40 }),
    type('t1', 2, 4, 1, { spotPrice: 0.5, evictionRatePct: 20 }),
  ];
  const n = need(2, 4, { maxEvictionRatePct: 80 });
  assert.deepEqual(show(chooseInstanceTypes(types, n, 3)), ['t1[spot] 1x3']);
  assert.deepEqual(show(chooseInstanceTypes([...types].reverse(), n, 3)), ['t1[spot] 1x3']);
  // Even when the riskier type is bigger (and so would win the size tie-break).
  const bigger = [type('a', 8, 16, 1, { spotPrice: 0.5, evictionRatePct: 40 }), type('b', 2, 4, 1, { spotPrice: 0.5, evictionRatePct: 20 })];
  assert.deepEqual(show(chooseInstanceTypes(bigger, n)), ['b[spot] 1x1']);
  // On-demand counts as no eviction: at the same price it beats spot.
  const same = [type('od', 2, 4, 0.5), type('sp', 2, 4, 1, { spotPrice: 0.5, evictionRatePct: 5 })];
  assert.deepEqual(show(chooseInstanceTypes(same, n)), ['od 1x1']);
  // A cheaper option still wins over a safer one.
  const cheaper = [type('risky', 2, 4, 1, { spotPrice: 0.25, evictionRatePct: 40 }), type('safe', 2, 4, 1, { spotPrice: 0.5, evictionRatePct: 20 })];
  assert.deepEqual(show(chooseInstanceTypes(cheaper, n)), ['risky[spot] 1x1']);
});

test('GPU memory and CPU features exclude types that cannot meet them', () => {
  const types = [
    type('t4', 4, 16, 0.5, { gpus: 1, memoryPerGpuGb: 16, cpuFeatures: ['intel', 'avx', 'avx2', 'avx512'] }),
    type('a100', 8, 64, 3, { gpus: 1, memoryPerGpuGb: 40, cpuFeatures: ['amd', 'avx', 'avx2'] }),
    type('t4x4', 16, 64, 4, { gpus: 4, memoryPerGpuGb: 16 }), // features unknown
    type('plain', 2, 4, 0.05, { cpuFeatures: ['intel', 'avx', 'avx2'] }),
    type('zen4', 2, 4, 0.06, { cpuFeatures: ['amd', 'avx', 'avx2', 'avx512'] }),
    type('mystery', 2, 4, 0.01), // features unknown: meets no feature requirement
  ];
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2))), ['mystery 1x1']);
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2, { cpuFeatures: ['avx2'] }))), ['plain 1x1']);
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2, { cpuFeatures: ['avx512'] }))), ['zen4 1x1']);
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2, { cpuFeatures: ['intel', 'avx512'] }))), ['t4 1x1']);
  // GPU memory across the job's GPUs: 16 GB fits one T4; 32 GB on one GPU needs the A100; on two GPUs, two T4s.
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2, { gpus: 1, gpuMemoryGb: 16 }))), ['t4 1x1']);
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2, { gpus: 1, gpuMemoryGb: 32 }))), ['a100 1x1']);
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2, { gpus: 2, gpuMemoryGb: 32 }))), ['t4x4 1x1']);
  // The reason is named when nothing meets a requirement.
  const tooMuch = need(1, 2, { gpus: 1, gpuMemoryGb: 80 });
  assert.deepEqual(chooseInstanceTypes(types, tooMuch), []);
  assert.equal(
    describeNoFit(types, tooMuch),
    'No instance type offers 1 CPU, 2 GB, 1 GPU with 80 GB: not enough GPU memory (the types big enough have at most 40 GB per GPU)',
  );
  const amd512 = need(1, 2, { gpus: 1, gpuMemoryGb: 16, cpuFeatures: ['amd', 'avx512'] });
  assert.match(describeNoFit(types, amd512), /no type big enough with that GPU memory has all of the CPU features amd, avx512$/);
});

test('GPU memory without GPUs and unknown CPU features are rejected with the known ones listed', () => {
  assert.throws(() => chooseInstanceTypes([], need(1, 1, { gpuMemoryGb: 16 })), /GPU memory \(16 GB\) needs at least 1 GPU/);
  assert.throws(
    () => chooseInstanceTypes([], need(1, 1, { cpuFeatures: ['sse9' as CpuFeature] })),
    /unknown CPU feature "sse9" \(known: avx, avx2, avx512, intel, amd\)/,
  );
  assert.deepEqual(parseCpuFeatures('AVX2, intel,avx2'), ['avx2', 'intel']);
  assert.deepEqual(parseCpuFeatures(['avx512', 'amd']), ['avx512', 'amd']);
  assert.throws(() => parseCpuFeatures('avx2,neon'), /unknown CPU feature "neon" \(known: /);
});

test('GPU need excludes non-GPU types', () => {
  const types = [type('cpu', 64, 256, 0.1), type('gpu1', 8, 32, 1, { gpus: 1 }), type('gpu4', 32, 128, 3, { gpus: 4 })];
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2, { gpus: 1 }))), ['gpu1 1x1']);
  // Four 1-GPU workers: one gpu4 (3) beats four gpu1 (4).
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2, { gpus: 1 }), 4)), ['gpu4 4x1']);
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2, { gpus: 2 }))), ['gpu4 1x1']);
  // Without a GPU need the cheap CPU box wins.
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 2))), ['cpu 1x1']);
});

test('nothing fits → [] and describeNoFit message', () => {
  const types = [type('local.large', 4, 8, 0.1), type('local.xlarge', 8, 16, 0.2)];
  const big = need(64, 2);
  assert.deepEqual(chooseInstanceTypes(types, big, 3), []);
  assert.equal(
    describeNoFit(types, big),
    'No instance type offers 64 CPU, 2 GB (the largest is local.xlarge: 8 CPU, 16 GB)',
  );

  const gpu = need(2, 4, { gpus: 2 });
  assert.deepEqual(chooseInstanceTypes(types, gpu), []);
  assert.match(describeNoFit(types, gpu), /not enough GPUs/);

  const spotOnly = [type('s', 4, 8, NaN, { spotPrice: 0.05, evictionRatePct: 15 })];
  assert.deepEqual(chooseInstanceTypes(spotOnly, need(1, 1, { maxEvictionRatePct: 10 })), []);
  assert.match(describeNoFit(spotOnly, need(1, 1, { maxEvictionRatePct: 10 })), /spot only.*15%.*allow 10%/);
  assert.match(describeNoFit(spotOnly, need(1, 1)), /on-demand only/);

  assert.deepEqual(chooseInstanceTypes([], need(1, 1)), []);
  assert.match(describeNoFit([], need(1, 1)), /No instance type/);
});

test('memory-bound vs CPU-bound', () => {
  const types = [type('m', 16, 64, 1)];
  // Memory-bound: 16 GB per worker → 4 per instance although 16 CPUs would host 16.
  assert.deepEqual(show(chooseInstanceTypes(types, need(1, 16), 8)), ['m 4x2']);
  // CPU-bound: 8 CPUs per worker → 2 per instance although memory would host 64.
  assert.deepEqual(show(chooseInstanceTypes(types, need(8, 1), 8)), ['m 2x4']);
  // The cheap high-memory box wins for memory-heavy work, the cheap many-CPU box for CPU-heavy work.
  const both = [type('highmem', 4, 64, 0.5), type('highcpu', 32, 32, 0.5)];
  assert.deepEqual(show(chooseInstanceTypes(both, need(1, 16), 4)), ['highmem 4x1']);
  assert.deepEqual(show(chooseInstanceTypes(both, need(4, 1), 8)), ['highcpu 8x1']);
});

test('fractional needs keep every worker that fits', () => {
  // 0.1 CPU per worker on 0.7 CPU: float division gives 6.999999999999999, yet 7 workers fit.
  assert.deepEqual(show(chooseInstanceTypes([type('f', 0.7, 8, 1)], need(0.1, 1), 7)), ['f 7x1']);
});

test('invalid needs are rejected with a MeadowrunError', () => {
  assert.throws(() => chooseInstanceTypes([type('a', 1, 1, 1)], need(0, 1)), { name: 'MeadowrunError' });
  assert.throws(() => chooseInstanceTypes([type('a', 1, 1, 1)], need(1, 1), 0), { name: 'MeadowrunError' });
});

// ---- brute-force optimality --------------------------------------------------------------------

interface BruteOption {
  price: number;
  wpi: number;
  evict: number;
}

/** Every purchasable option with its capacity, worked out independently of the code under test. */
function bruteOptions(types: InstanceType[], n: Resources): BruteOption[] {
  const out: BruteOption[] = [];
  for (const t of types) {
    // Integer specs only, so plain floor division is exact here.
    let wpi = Math.min(Math.floor(t.cpu / n.cpu), Math.floor(t.memoryGb / n.memoryGb));
    if (n.gpus > 0) wpi = Math.min(wpi, Math.floor(t.gpus / n.gpus));
    if (wpi < 1) continue;
    if (n.gpuMemoryGb && !(t.memoryPerGpuGb !== undefined && t.memoryPerGpuGb * n.gpus >= n.gpuMemoryGb)) continue;
    if (!(n.cpuFeatures ?? []).every((f) => t.cpuFeatures?.includes(f))) continue;
    out.push({ price: t.onDemandPrice, wpi, evict: 0 });
    if (t.spotPrice && t.evictionRatePct !== undefined && n.maxEvictionRatePct > 0 && t.evictionRatePct <= n.maxEvictionRatePct) {
      out.push({ price: t.spotPrice, wpi, evict: t.evictionRatePct });
    }
  }
  return out;
}

/**
 * Minimum price, the fewest machines at that price, and the lowest worst eviction rate among those,
 * over all multisets of options hosting ≥ workers.
 */
function bruteForce(opts: BruteOption[], workers: number): { price: number; machines: number; evict: number } | undefined {
  let best: { price: number; machines: number; evict: number } | undefined;
  const visit = (i: number, left: number, price: number, machines: number, evict: number) => {
    if (left <= 0) {
      // Prices are positive, so adding instances past this point can only cost more.
      if (
        !best ||
        price < best.price - 1e-9 ||
        (close(price, best.price) && (machines < best.machines || (machines === best.machines && evict < best.evict)))
      ) {
        best = { price, machines, evict };
      }
      return;
    }
    if (i === opts.length) return;
    const o = opts[i];
    for (let k = 0; k <= Math.ceil(left / o.wpi); k++) {
      visit(i + 1, left - k * o.wpi, price + k * o.price, machines + k, k ? Math.max(evict, o.evict) : evict);
    }
  };
  visit(0, workers, 0, 0, 0);
  return best;
}

test('property: matches brute-force optimum, meets the requirements and places exactly `workers`', () => {
  // Whole cents make equal totals (and so the tie-breaks) common.
  const price = fc.integer({ min: 1, max: 60 }).map((c) => c / 100);
  const arbType = fc.record({
    cpu: fc.integer({ min: 1, max: 8 }),
    memoryGb: fc.integer({ min: 1, max: 16 }),
    gpus: fc.integer({ min: 0, max: 2 }),
    memoryPerGpuGb: fc.option(fc.constantFrom(8, 16, 24), { nil: undefined }),
    cpuFeatures: fc.option(fc.subarray<CpuFeature>(['avx', 'avx2', 'avx512', 'intel', 'amd']), { nil: undefined }),
    onDemandPrice: price,
    spot: fc.option(fc.record({ spotPrice: price, evictionRatePct: fc.integer({ min: 0, max: 30 }) }), { nil: undefined }),
  });
  const arbNeed = fc
    .record({
      cpu: fc.integer({ min: 1, max: 4 }),
      memoryGb: fc.integer({ min: 1, max: 8 }),
      gpus: fc.integer({ min: 0, max: 1 }),
      maxEvictionRatePct: fc.constantFrom(0, 5, 10, 20, 30),
      gpuMemoryGb: fc.constantFrom(0, 0, 16),
      cpuFeatures: fc.constantFrom<CpuFeature[]>([], [], ['avx2'], ['amd', 'avx512']),
    })
    .map((n) => ({ ...n, gpuMemoryGb: n.gpus ? n.gpuMemoryGb : 0 }));
  fc.assert(
    fc.property(fc.array(arbType, { minLength: 1, maxLength: 5 }), arbNeed, fc.integer({ min: 1, max: 6 }), (raw, n, workers) => {
      const types: InstanceType[] = raw.map((r, i) => ({
        name: `t${i}`,
        cpu: r.cpu,
        memoryGb: r.memoryGb,
        gpus: r.gpus,
        ...(r.gpus && r.memoryPerGpuGb !== undefined && { memoryPerGpuGb: r.memoryPerGpuGb }),
        ...(r.cpuFeatures !== undefined && { cpuFeatures: r.cpuFeatures }),
        onDemandPrice: r.onDemandPrice,
        ...r.spot,
      }));
      const got = chooseInstanceTypes(types, n, workers);
      const want = bruteForce(bruteOptions(types, n), workers);
      if (!want) {
        assert.deepEqual(got, []);
        return;
      }
      assert.equal(totalWorkers(got), workers);
      assert.ok(close(totalPrice(got), want.price), `price ${totalPrice(got)} vs brute force ${want.price}`);
      assert.equal(got.reduce((s, c) => s + c.count, 0), want.machines);
      const evict = Math.max(...got.map((c) => (c.option.spot ? c.option.type.evictionRatePct! : 0)));
      assert.equal(evict, want.evict, 'at equal price and machines, the lowest worst eviction rate');
      for (const c of got) {
        assert.ok(c.workersPerInstance >= 1 && c.count >= 1);
        const t = c.option.type;
        assert.ok(c.workersPerInstance * n.cpu <= t.cpu && c.workersPerInstance * n.memoryGb <= t.memoryGb);
        assert.ok(c.workersPerInstance * n.gpus <= t.gpus);
        if (c.option.spot) assert.ok(n.maxEvictionRatePct > 0 && t.evictionRatePct! <= n.maxEvictionRatePct);
        if (n.gpuMemoryGb) assert.ok(t.memoryPerGpuGb! * n.gpus >= n.gpuMemoryGb);
        for (const f of n.cpuFeatures) assert.ok(t.cpuFeatures?.includes(f), `${t.name} lacks ${f}`);
      }
      // Grouped: no (option, workersPerInstance) pair twice.
      const keys = got.map((c) => `${c.option.type.name}/${c.option.spot}/${c.workersPerInstance}`);
      assert.equal(new Set(keys).size, keys.length);
    }),
    { numRuns: 500, seed: 14 },
  );
});

// ---- real catalog --------------------------------------------------------------------------------

const aws = loadAwsCatalog();

test('AWS us-east-1 catalog loads', () => {
  assert.ok(aws.length > 1300, `got ${aws.length} types`);
  assert.ok(aws.some((t) => t.spotPrice !== undefined && t.evictionRatePct === 100));
});

test('AWS: 2 CPU / 4 GB on-demand is the cheapest fitting on-demand type', () => {
  const n = need(2, 4);
  let cheapest = Infinity;
  for (const t of aws) {
    if (t.cpu >= 2 && t.memoryGb >= 4 && t.onDemandPrice > 0) cheapest = Math.min(cheapest, t.onDemandPrice);
  }
  const got = chooseInstanceTypes(aws, n);
  assert.equal(got.length, 1);
  assert.equal(got[0].option.spot, false);
  assert.equal(got[0].option.price, cheapest);
  assert.ok(got[0].option.type.cpu >= 2 && got[0].option.type.memoryGb >= 4);
});

test('AWS: allowing 20% eviction picks a spot option no more expensive', () => {
  const onDemand = chooseInstanceTypes(aws, need(2, 4));
  const spot = chooseInstanceTypes(aws, need(2, 4, { maxEvictionRatePct: 20 }));
  assert.equal(spot.length, 1);
  assert.equal(spot[0].option.spot, true);
  assert.ok(spot[0].option.type.evictionRatePct! <= 20);
  assert.ok(totalPrice(spot) <= totalPrice(onDemand));
});

test('AWS: 4 GPUs only pick GPU types', () => {
  for (const workers of [1, 3]) {
    const got = chooseInstanceTypes(aws, need(4, 16, { gpus: 4 }), workers);
    assert.ok(got.length > 0);
    assert.equal(totalWorkers(got), workers);
    for (const c of got) assert.ok(c.option.type.gpus >= 4 * c.workersPerInstance, c.option.type.name);
  }
});

test('AWS catalog: GPU memory per GPU and CPU features where the sources have them', () => {
  const byName = new Map(aws.map((t) => [t.name, t]));
  assert.equal(byName.get('g4dn.xlarge')!.memoryPerGpuGb, 16);
  assert.deepEqual(byName.get('m5.large')!.cpuFeatures, ['intel', 'avx', 'avx2', 'avx512']);
  assert.deepEqual(byName.get('m6a.large')!.cpuFeatures, ['amd', 'avx', 'avx2']);
  assert.deepEqual(byName.get('a1.large')!.cpuFeatures, [], 'arm64: none of the x86 features');
  assert.equal(byName.get('c7a.large')!.cpuFeatures, undefined, 'not in the snapshot: unknown');
  assert.ok(aws.filter((t) => t.gpus > 0).every((t) => t.memoryPerGpuGb! > 0));
});

test('AWS: CPU features and GPU memory pick the cheapest type that has them', () => {
  const cheapestWith = (ok: (t: InstanceType) => boolean, n: Resources) =>
    Math.min(...aws.filter((t) => ok(t) && t.cpu >= n.cpu && t.memoryGb >= n.memoryGb && t.gpus >= n.gpus && t.onDemandPrice > 0).map((t) => t.onDemandPrice));
  const plain = chooseInstanceTypes(aws, need(2, 4))[0].option;
  for (const features of [['avx512'], ['amd'], ['intel', 'avx2']] as CpuFeature[][]) {
    const n = need(2, 4, { cpuFeatures: features });
    const [c] = chooseInstanceTypes(aws, n);
    for (const f of features) assert.ok(c.option.type.cpuFeatures!.includes(f), `${c.option.type.name} lacks ${f}`);
    assert.equal(c.option.price, cheapestWith((t) => features.every((f) => t.cpuFeatures?.includes(f)), n));
    assert.ok(c.option.price >= plain.price);
  }
  // 24 GB on one GPU rules out the 16 GB T4s that a plain 1-GPU job gets.
  const oneGpu = chooseInstanceTypes(aws, need(4, 16, { gpus: 1 }))[0].option.type;
  const n = need(4, 16, { gpus: 1, gpuMemoryGb: 24 });
  const big = chooseInstanceTypes(aws, n)[0].option;
  assert.ok(oneGpu.memoryPerGpuGb! < 24, `${oneGpu.name} has ${oneGpu.memoryPerGpuGb} GB`);
  assert.ok(big.type.memoryPerGpuGb! >= 24, `${big.type.name} has ${big.type.memoryPerGpuGb} GB`);
  assert.equal(big.price, cheapestWith((t) => t.memoryPerGpuGb! >= 24, n));
});

test('AWS: 1,000 and 10,000 workers of 1 CPU / 2 GB are fast and consistent', () => {
  for (const [workers, budgetMs] of [
    [1000, 1000],
    [10000, 3000],
  ]) {
    const n = need(1, 2, { maxEvictionRatePct: 20 });
    const start = performance.now();
    const got = chooseInstanceTypes(aws, n, workers);
    const ms = performance.now() - start;
    assert.equal(totalWorkers(got), workers);
    // No mix can beat the best price per worker.
    const perWorker = Math.min(...optionsFor(aws, n).map((o) => o.price / Math.min(workers, Math.floor(Math.min(o.type.cpu, o.type.memoryGb / 2)))));
    assert.ok(totalPrice(got) >= perWorker * workers - 1e-6);
    const sum = got.reduce((s, c) => s + c.count * c.option.price, 0);
    assert.ok(close(sum, totalPrice(got)));
    // Loose sanity bound only; the real cost is a few milliseconds.
    assert.ok(ms < budgetMs, `${workers} workers took ${ms.toFixed(0)} ms`);
  }
});

test('nextOption: the cheapest option not yet tried that holds every worker on one instance', () => {
  const t = (name: string, cpu: number, onDemandPrice: number, spotPrice?: number) => ({ name, cpu, memoryGb: cpu * 4, gpus: 0, onDemandPrice, spotPrice, evictionRatePct: 5 });
  const types = [t('small', 1, 0.01, 0.003), t('medium', 2, 0.02, 0.006), t('large', 4, 0.04)];
  const need = { cpu: 1, memoryGb: 1, gpus: 0, maxEvictionRatePct: 10 };
  const names = (tried: string[], workers = 1) => {
    const o = nextOption(types, need, workers, new Set(tried));
    return o && optionKey(o);
  };
  assert.equal(names([]), 'small/spot');
  assert.equal(names(['small/spot']), 'medium/spot');
  assert.equal(names(['small/spot', 'medium/spot']), 'small/on-demand');
  assert.equal(names(['small/spot'], 3), 'large/on-demand', 'only types that hold all 3 workers');
  assert.equal(names(['large/on-demand'], 3), undefined);
  // On-demand only: spot is never offered.
  assert.equal(optionKey(nextOption(types, { ...need, maxEvictionRatePct: 0 }, 1, new Set())!), 'small/on-demand');
});
