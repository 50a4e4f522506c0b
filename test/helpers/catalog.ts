import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InstanceType } from '../../src/core/instanceTypes';
import { CpuFeature } from '../../src/core/resources';

// Spot Advisor publishes ranges, not rates; take the upper bound so a "max eviction" limit is never
// exceeded by a type that merely might be within it. ">20%" has no upper bound, so it counts as 100.
const EVICTION_UPPER_BOUND: Record<string, number> = {
  '<5%': 5,
  '5-10%': 10,
  '10-15%': 15,
  '15-20%': 20,
  '>20%': 100,
};

function num(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

// AvxLevel as in Meadowrun's snapshot: each level includes the ones below it.
const AVX: Record<string, CpuFeature[]> = { '1': ['avx'], '2': ['avx', 'avx2'], '3': ['avx', 'avx2', 'avx512'] };

/**
 * CPU features from the processor maker and AVX level (Meadowrun's 2022 snapshot, joined by type name),
 * else from the architecture: an arm64 type has none of them; other types are unknown.
 */
function cpuFeatures(arch: string, brand: string, avxLevel: string): CpuFeature[] | undefined {
  if (brand === 'intel' || brand === 'amd') return [brand, ...(AVX[avxLevel] ?? [])];
  return arch === 'arm64' ? [] : undefined;
}

/**
 * Reads the trimmed AWS catalog fixture (no quoted fields, so a plain split is enough): the us-east-1
 * rows of /work/shared/data/aws-instance-types.csv, with CpuBrand and AvxLevel from
 * aws-us-east-2-meadowrun-2022.csv where it lists the type. GpuMemoryGiB is per GPU.
 */
export function loadAwsCatalog(
  file = join(__dirname, '..', 'fixtures', 'aws-us-east-1-instance-types.csv'),
): InstanceType[] {
  const [header, ...rows] = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const col = Object.fromEntries(header.split(',').map((h, i) => [h, i]));
  return rows.map((line) => {
    const f = line.split(',');
    const label = f[col.InterruptionRangeLabel];
    return {
      name: f[col.InstanceType],
      cpu: Number(f[col.vCPUs]),
      memoryGb: Number(f[col.MemoryGiB]),
      gpus: Number(f[col.GpuCount] || 0),
      memoryPerGpuGb: Number(f[col.GpuCount] || 0) > 0 ? num(f[col.GpuMemoryGiB]) : undefined,
      cpuFeatures: cpuFeatures(f[col.Arch], f[col.CpuBrand], f[col.AvxLevel]),
      // Missing on-demand price (capacity-block-only types) becomes NaN, which the chooser skips.
      onDemandPrice: num(f[col.OnDemandPrice]) ?? NaN,
      spotPrice: num(f[col.SpotPrice]),
      evictionRatePct: label ? EVICTION_UPPER_BOUND[label] : undefined,
    };
  });
}
