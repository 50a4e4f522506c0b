import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { packJobs, PackableInstance, pickInstanceForJob } from '../../src/core/packing';
import { CpuFeature, Resources } from '../../src/core/resources';

const inst = (id: string, cpu: number, memoryGb: number, gpus = 0, preventFurtherAllocation?: boolean): PackableInstance => ({
  id,
  free: { cpu, memoryGb, gpus },
  gpus,
  spot: false,
  preventFurtherAllocation,
});
const job = (cpu: number, memoryGb: number, gpus = 0, extra: Partial<Resources> = {}): Resources => ({
  cpu,
  memoryGb,
  gpus,
  maxEvictionRatePct: 0,
  ...extra,
});

test('fullest that fits first', () => {
  const pool = [inst('empty', 8, 32), inst('half', 4, 16), inst('nearlyFull', 1, 4), inst('tooFull', 0.5, 1)];
  assert.equal(pickInstanceForJob(pool, job(1, 2))?.id, 'nearlyFull');
  assert.equal(pickInstanceForJob(pool, job(2, 2))?.id, 'half');
  // Equal CPU: least free memory, then GPUs, then id.
  assert.equal(pickInstanceForJob([inst('b', 2, 8), inst('a', 2, 4)], job(1, 1))?.id, 'a');
  assert.equal(pickInstanceForJob([inst('g', 2, 4, 1), inst('n', 2, 4, 0)], job(1, 1))?.id, 'n');
  assert.equal(pickInstanceForJob([inst('b', 2, 4), inst('a', 2, 4)], job(1, 1))?.id, 'a');
  // A GPU job skips fuller instances without GPUs.
  assert.equal(pickInstanceForJob([inst('cpu', 1, 4), inst('gpu', 8, 32, 1)], job(1, 1, 1))?.id, 'gpu');
});

test('skips instances with preventFurtherAllocation', () => {
  const pool = [inst('draining', 1, 4, 0, true), inst('open', 8, 32)];
  assert.equal(pickInstanceForJob(pool, job(1, 2))?.id, 'open');
  assert.equal(pickInstanceForJob([inst('draining', 8, 32, 0, true)], job(1, 2)), undefined);
  assert.deepEqual(packJobs(pool, job(1, 2), 2), { placements: [{ id: 'open', jobs: 2 }], unplaced: 0 });
});

test('multiple jobs fill an instance before moving on', () => {
  const pool = [inst('big', 8, 32), inst('small', 2, 8)];
  const got = packJobs(pool, job(1, 2), 5);
  // small takes 2 (it is fuller), then big takes the rest.
  assert.deepEqual(got, { placements: [{ id: 'small', jobs: 2 }, { id: 'big', jobs: 3 }], unplaced: 0 });
  // The caller's capacities are untouched.
  assert.deepEqual(pool[1].free, { cpu: 2, memoryGb: 8, gpus: 0 });
  // Fractional needs: 0.1 + 0.2 fits 0.3 of free CPU, all three times.
  assert.deepEqual(packJobs([inst('f', 0.3, 3)], job(0.1, 1), 3), { placements: [{ id: 'f', jobs: 3 }], unplaced: 0 });
});

test('unplaced count when capacity runs out', () => {
  const pool = [inst('a', 2, 4), inst('b', 1, 8)];
  assert.deepEqual(packJobs(pool, job(1, 2), 5), {
    placements: [{ id: 'b', jobs: 1 }, { id: 'a', jobs: 2 }],
    unplaced: 2,
  });
  assert.deepEqual(packJobs([], job(1, 1), 3), { placements: [], unplaced: 3 });
  assert.deepEqual(packJobs(pool, job(1, 1), 0), { placements: [], unplaced: 0 });
});

// ---- which instances a job may join (issue 14, after Meadowrun's test_instance_allocation.py) -----

const spot = (id: string, cpu: number, memoryGb: number, evictionRatePct: number | undefined): PackableInstance => ({
  ...inst(id, cpu, memoryGb),
  spot: true,
  evictionRatePct,
});

test('eviction rate applies to existing instances: an on-demand-only job never joins a spot instance', () => {
  // The spot instance is fuller, so plain fullest-first would pick it.
  const pool = [spot('spot5', 1, 2, 5), inst('onDemand', 8, 16)];
  assert.equal(pickInstanceForJob(pool, job(1, 1))?.id, 'onDemand');
  assert.equal(pickInstanceForJob(pool, job(1, 1, 0, { maxEvictionRatePct: 5 }))?.id, 'spot5');
  assert.equal(pickInstanceForJob(pool, job(1, 1, 0, { maxEvictionRatePct: 4 }))?.id, 'onDemand');
  // Only spot instances running: an on-demand-only job finds none (and so launches).
  assert.equal(pickInstanceForJob([spot('spot5', 8, 16, 5)], job(1, 1)), undefined);
  // A spot row without a known eviction rate (Azure without Resource Graph, or written before it was
  // recorded) admits only a job that accepts any rate.
  assert.equal(pickInstanceForJob([spot('old', 8, 16, undefined)], job(1, 1, 0, { maxEvictionRatePct: 99 })), undefined);
  assert.equal(pickInstanceForJob([spot('old', 8, 16, undefined)], job(1, 1, 0, { maxEvictionRatePct: 100 }))?.id, 'old');
  assert.deepEqual(packJobs(pool, job(1, 1), 3), { placements: [{ id: 'onDemand', jobs: 3 }], unplaced: 0 });
});

test('jobs without GPUs keep off GPU instances while one without GPUs fits, however full', () => {
  const gpuBox = { ...inst('gpu', 1, 2, 1), gpus: 2 }; // nearly full, one of two GPUs free
  const cpuBox = inst('cpu', 8, 32);
  assert.equal(pickInstanceForJob([gpuBox, cpuBox], job(1, 1))?.id, 'cpu');
  // No room without GPUs: the GPU instance is better than nothing.
  assert.equal(pickInstanceForJob([gpuBox, inst('cpuFull', 0.5, 32)], job(1, 1))?.id, 'gpu');
  // Jobs that need GPUs only go where GPUs are free: all of this one's GPUs are taken.
  const gpusTaken = { ...inst('taken', 8, 32, 0), gpus: 1 };
  assert.equal(pickInstanceForJob([gpusTaken, cpuBox], job(1, 1, 1)), undefined);
  assert.equal(pickInstanceForJob([gpusTaken, gpuBox], job(1, 1, 1))?.id, 'gpu');
  // Map workers are packed the same way: onto the instance without GPUs until it is full.
  assert.deepEqual(packJobs([gpuBox, inst('cpu', 2, 32)], job(1, 1), 4), {
    placements: [{ id: 'cpu', jobs: 2 }, { id: 'gpu', jobs: 1 }],
    unplaced: 1,
  });
});

test('GPU memory and CPU features are requirements; unknown traits meet none', () => {
  const intel512: PackableInstance = { ...inst('intel512', 2, 4), cpuFeatures: ['intel', 'avx', 'avx2', 'avx512'] };
  const amd2: PackableInstance = { ...inst('amd2', 1, 2), cpuFeatures: ['amd', 'avx', 'avx2'] };
  const unknown = inst('unknown', 0.5, 1); // a row written before features were recorded
  const pool = [intel512, amd2, unknown];
  assert.equal(pickInstanceForJob(pool, job(0.5, 1))?.id, 'unknown', 'no requirement: fullest first');
  assert.equal(pickInstanceForJob(pool, job(0.5, 1, 0, { cpuFeatures: ['avx2'] }))?.id, 'amd2');
  assert.equal(pickInstanceForJob(pool, job(0.5, 1, 0, { cpuFeatures: ['avx512'] }))?.id, 'intel512');
  assert.equal(pickInstanceForJob(pool, job(0.5, 1, 0, { cpuFeatures: ['amd', 'avx512'] })), undefined);

  // GPU memory is what the job needs across its GPUs: two 16 GB GPUs hold 32 GB, one holds 16.
  const t4x2: PackableInstance = { ...inst('t4x2', 8, 32, 2), memoryPerGpuGb: 16 };
  const a100: PackableInstance = { ...inst('a100', 8, 32, 1), memoryPerGpuGb: 40 };
  const noMemoryKnown = inst('old', 8, 32, 2);
  const gpus = [t4x2, a100, noMemoryKnown];
  assert.equal(pickInstanceForJob(gpus, job(1, 1, 2, { gpuMemoryGb: 32 }))?.id, 't4x2');
  assert.equal(pickInstanceForJob(gpus, job(1, 1, 1, { gpuMemoryGb: 32 }))?.id, 'a100');
  assert.equal(pickInstanceForJob(gpus, job(1, 1, 1, { gpuMemoryGb: 48 })), undefined);
});

// ---- property: no placement breaks a job's limits ------------------------------------------------

const FEATURE_SETS = [undefined, ['intel', 'avx', 'avx2'], ['amd', 'avx', 'avx2', 'avx512'], ['intel', 'avx', 'avx2', 'avx512']] as const;

const arbInstance = (id: number): fc.Arbitrary<PackableInstance> =>
  fc
    .record({
      cpu: fc.integer({ min: 0, max: 8 }),
      memoryGb: fc.integer({ min: 0, max: 16 }),
      gpus: fc.constantFrom(0, 0, 1, 2),
      gpusUsed: fc.integer({ min: 0, max: 2 }),
      spot: fc.boolean(),
      evictionRatePct: fc.option(fc.constantFrom(0, 5, 10, 20, 100), { nil: undefined }),
      memoryPerGpuGb: fc.option(fc.constantFrom(8, 16, 40), { nil: undefined }),
      features: fc.constantFrom(...FEATURE_SETS),
      preventFurtherAllocation: fc.boolean(),
    })
    .map((r) => ({
      id: `i${id}`,
      free: { cpu: r.cpu, memoryGb: r.memoryGb, gpus: Math.max(0, r.gpus - r.gpusUsed) },
      gpus: r.gpus,
      spot: r.spot,
      evictionRatePct: r.evictionRatePct,
      memoryPerGpuGb: r.gpus ? r.memoryPerGpuGb : undefined,
      cpuFeatures: r.features && [...r.features],
      preventFurtherAllocation: r.preventFurtherAllocation,
    }));

const arbJob: fc.Arbitrary<Resources> = fc
  .record({
    cpu: fc.constantFrom(0.5, 1, 2),
    memoryGb: fc.constantFrom(1, 2, 4),
    gpus: fc.constantFrom(0, 0, 1, 2),
    maxEvictionRatePct: fc.constantFrom(0, 0, 5, 10, 20, 100),
    gpuMemoryGb: fc.constantFrom(0, 0, 16, 32),
    cpuFeatures: fc.constantFrom<CpuFeature[][]>([], [], ['avx2'], ['avx512'], ['amd'], ['intel', 'avx512']),
  })
  .map((r) => ({ ...r, gpuMemoryGb: r.gpus ? r.gpuMemoryGb : 0, cpuFeatures: [...r.cpuFeatures] }));

/** Whether the job may run there, worked out independently of the code under test. */
function allowed(i: PackableInstance, n: Resources): boolean {
  if (i.preventFurtherAllocation) return false;
  if (n.cpu > i.free.cpu || n.memoryGb > i.free.memoryGb || n.gpus > i.free.gpus) return false;
  // An unknown rate is never guessed: only a job accepting any rate (100 %) takes it.
  if (i.spot && (n.maxEvictionRatePct === 0 || (i.evictionRatePct === undefined ? n.maxEvictionRatePct < 100 : i.evictionRatePct > n.maxEvictionRatePct))) return false;
  if (n.gpuMemoryGb && (i.memoryPerGpuGb === undefined || i.memoryPerGpuGb * n.gpus < n.gpuMemoryGb)) return false;
  return (n.cpuFeatures ?? []).every((f) => i.cpuFeatures?.includes(f));
}

test('property: no placement violates a job eviction limit, GPU need or avoidance, or its requirements', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 8 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => arbInstance(i)))),
      arbJob,
      fc.integer({ min: 1, max: 12 }),
      (instances, need, count) => {
        // Step by step as allocateJobs does, checking every pick against the whole pool at that moment.
        const pool = instances.map((i) => ({ ...i, free: { ...i.free } }));
        const placed = new Map<string, number>();
        for (let k = 0; k < count; k++) {
          const pick = pickInstanceForJob(pool, need);
          const candidates = pool.filter((i) => allowed(i, need));
          if (!pick) {
            assert.equal(candidates.length, 0, 'an allowed instance was passed over');
            break;
          }
          assert.ok(allowed(pick, need), `placed on ${JSON.stringify(pick)} against ${JSON.stringify(need)}`);
          if (need.gpus === 0 && pick.gpus > 0) {
            assert.ok(candidates.every((i) => i.gpus > 0), 'a job without GPUs took a GPU instance while another had room');
          }
          pick.free = { cpu: pick.free.cpu - need.cpu, memoryGb: pick.free.memoryGb - need.memoryGb, gpus: pick.free.gpus - need.gpus };
          placed.set(pick.id, (placed.get(pick.id) ?? 0) + 1);
        }
        // packJobs is the same walk.
        const packed = packJobs(instances, need, count);
        assert.deepEqual(new Map(packed.placements.map((p) => [p.id, p.jobs])), placed);
        assert.equal(packed.unplaced, count - [...placed.values()].reduce((a, b) => a + b, 0));
      },
    ),
    { numRuns: 2000, seed: 14 },
  );
});

test('a ready instance before one being launched; one being launched before launching another', () => {
  const launching = (id: string, cpu: number): PackableInstance => ({ ...inst(id, cpu, 8), launching: true });
  assert.equal(pickInstanceForJob([launching('boot', 1), inst('ready', 4, 8)], job(1, 1))?.id, 'ready', 'a ready one even when emptier');
  assert.equal(pickInstanceForJob([launching('boot', 3), inst('full', 0.5, 8)], job(1, 1))?.id, 'boot', 'joining beats launching');
  assert.equal(pickInstanceForJob([launching('a', 3), launching('b', 1)], job(1, 1))?.id, 'b', 'fullest launch first');
  assert.equal(pickInstanceForJob([{ ...launching('given-up', 4), preventFurtherAllocation: true }], job(1, 1)), undefined);
});

test('property: clients arriving one by one, each joining a launch with room before launching, launch the fewest instances', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }), // CPUs of the one instance type
      fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 60 }), // each client's CPUs
      fc.array(fc.boolean(), { maxLength: 60 }), // whether a launch has become ready before the next client
      (typeCpu, needs, readyBefore) => {
        const sizes = needs.map((n) => Math.min(n, typeCpu));
        const fleet: PackableInstance[] = [];
        sizes.forEach((cpu, i) => {
          if (readyBefore[i]) for (const f of fleet) f.launching = false;
          const pick = pickInstanceForJob(fleet, job(cpu, 0));
          if (pick) pick.free = { ...pick.free, cpu: pick.free.cpu - cpu };
          else fleet.push({ ...inst(`i${fleet.length}`, typeCpu - cpu, 0), launching: true });
        });
        for (const f of fleet) assert.ok(f.free.cpu >= 0, 'never over-allocated');
        // With one size of job, launches are exactly the fewest (ceil); with mixed sizes, first fit is
        // within 1.7× of the fewest plus one (its known bound), and never fewer than the total needs.
        const fewest = Math.ceil(sizes.reduce((a, b) => a + b, 0) / typeCpu);
        assert.ok(fleet.length >= fewest);
        if (new Set(sizes).size === 1) assert.equal(fleet.length, Math.ceil(sizes.length / Math.floor(typeCpu / sizes[0])));
        else assert.ok(fleet.length <= Math.ceil(1.7 * fewest) + 1, `${fleet.length} instances for ${fewest}`);
      },
    ),
  );
});
