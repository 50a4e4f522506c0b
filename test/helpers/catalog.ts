import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InstanceType } from '../../src/core/instanceTypes';

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

/** Reads the trimmed AWS catalog fixture (no quoted fields, so a plain split is enough). */
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
      // Missing on-demand price (capacity-block-only types) becomes NaN, which the chooser skips.
      onDemandPrice: num(f[col.OnDemandPrice]) ?? NaN,
      spotPrice: num(f[col.SpotPrice]),
      evictionRatePct: label ? EVICTION_UPPER_BOUND[label] : undefined,
    };
  });
}
