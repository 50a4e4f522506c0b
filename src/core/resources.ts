import { MeadowrunError } from './errors';

// Capacities are sums of fractional numbers; compare with a little slack so 0.1 + 0.2 fits 0.3.
const EPS = 1e-9;

/**
 * CPU features a job may require, lowercase: instruction sets (a type with `avx512` also lists `avx2` and
 * `avx`) and the processor maker. Types whose features are unknown meet no feature requirement.
 */
export const CPU_FEATURES = ['avx', 'avx2', 'avx512', 'intel', 'amd'] as const;
export type CpuFeature = (typeof CPU_FEATURES)[number];

/** What a job asks for, or what an instance offers. */
export interface Resources {
  /** Logical CPUs. */
  cpu: number;
  /** Memory in GB. */
  memoryGb: number;
  /** GPUs (0 when none are needed). */
  gpus: number;
  /**
   * Highest spot eviction rate (interruption probability, %) the job tolerates.
   * 0 means on-demand only. Not meaningful for what an instance offers.
   */
  maxEvictionRatePct: number;
  /** GPU memory in GB the job needs across its GPUs (0 or absent: no requirement). */
  gpuMemoryGb?: number;
  /** CPU features every instance running the job must have. */
  cpuFeatures?: CpuFeature[];
}

export const DEFAULT_RESOURCES: Resources = { cpu: 1, memoryGb: 2, gpus: 0, maxEvictionRatePct: 0 };

export function validateResources(r: Resources): Resources {
  const bad = (what: string) => {
    throw new MeadowrunError(`Invalid resources: ${what}`, 'bad-resources');
  };
  if (!Number.isFinite(r.cpu) || r.cpu <= 0) bad(`CPU must be more than 0 (got ${r.cpu})`);
  if (!Number.isFinite(r.memoryGb) || r.memoryGb <= 0) bad(`memory must be more than 0 GB (got ${r.memoryGb})`);
  if (!Number.isInteger(r.gpus) || r.gpus < 0) bad(`GPUs must be a whole number ≥ 0 (got ${r.gpus})`);
  if (!Number.isFinite(r.maxEvictionRatePct) || r.maxEvictionRatePct < 0 || r.maxEvictionRatePct > 100) {
    bad(`max eviction rate must be between 0 and 100 % (got ${r.maxEvictionRatePct})`);
  }
  const gpuMemoryGb = r.gpuMemoryGb ?? 0;
  if (!Number.isFinite(gpuMemoryGb) || gpuMemoryGb < 0) bad(`GPU memory must be 0 GB or more (got ${r.gpuMemoryGb})`);
  if (gpuMemoryGb > 0 && r.gpus < 1) bad(`GPU memory (${gpuMemoryGb} GB) needs at least 1 GPU: ask for GPUs too`);
  if (r.cpuFeatures !== undefined) {
    if (!Array.isArray(r.cpuFeatures)) bad(`CPU features must be a list (got ${JSON.stringify(r.cpuFeatures)})`);
    const unknown = r.cpuFeatures.find((f) => !isCpuFeature(f));
    if (unknown !== undefined) bad(unknownCpuFeature(unknown));
  }
  return r;
}

function isCpuFeature(f: unknown): f is CpuFeature {
  return CPU_FEATURES.includes(f as CpuFeature);
}

function unknownCpuFeature(f: unknown): string {
  return `unknown CPU feature ${JSON.stringify(f)} (known: ${CPU_FEATURES.join(', ')})`;
}

/**
 * CPU features as people write them: a list or a comma-separated string, any case. Throws on an unknown
 * one, naming the known ones. Duplicates are dropped.
 */
export function parseCpuFeatures(input: unknown): CpuFeature[] {
  if (typeof input !== 'string' && !Array.isArray(input)) {
    throw new MeadowrunError(`CPU features must be a list like ["avx2", "intel"] or "avx2,intel" (got ${JSON.stringify(input)})`, 'bad-resources');
  }
  const words = (typeof input === 'string' ? [input] : input).flatMap((s) => String(s).split(','));
  const out: CpuFeature[] = [];
  for (const w of words.map((s) => s.trim().toLowerCase()).filter(Boolean)) {
    if (!isCpuFeature(w)) throw new MeadowrunError(unknownCpuFeature(w), 'bad-resources');
    if (!out.includes(w)) out.push(w);
  }
  return out;
}

/** What an instance or a type is, beyond its size: checked against a job's requirements, never used up. */
export interface MachineTraits {
  /** GPU memory in GB of each of its GPUs; absent when unknown or without GPUs. */
  memoryPerGpuGb?: number;
  /** Its CPU features; absent when unknown. */
  cpuFeatures?: readonly CpuFeature[];
}

/** Whether a machine meets a job's GPU memory and CPU feature requirements. Unknown traits meet none. */
export function meetsRequirements(need: Resources, m: MachineTraits): boolean {
  const gpuMemoryGb = need.gpuMemoryGb ?? 0;
  if (gpuMemoryGb > 0 && !(m.memoryPerGpuGb !== undefined && m.memoryPerGpuGb * need.gpus + EPS >= gpuMemoryGb)) return false;
  return (need.cpuFeatures ?? []).every((f) => m.cpuFeatures?.includes(f) ?? false);
}

/**
 * Whether a job may run on a machine of this market: on-demand always; spot only when the job allows spot
 * (a limit above 0) and the machine's eviction rate is within the limit. An unknown rate (Azure without
 * Resource Graph) is never guessed: only a job that accepts any rate (100 %) runs on it.
 */
export function marketAllowed(maxEvictionRatePct: number, spot: boolean, evictionRatePct: number | undefined): boolean {
  if (!spot) return true;
  if (evictionRatePct === undefined) return maxEvictionRatePct >= 100;
  return maxEvictionRatePct > 0 && evictionRatePct <= maxEvictionRatePct;
}

/** Free capacity of an instance: CPU, memory and GPUs that can still be allocated. */
export interface Capacity {
  cpu: number;
  memoryGb: number;
  gpus: number;
}

export function fits(need: Capacity, free: Capacity): boolean {
  return need.cpu <= free.cpu + EPS && need.memoryGb <= free.memoryGb + EPS && need.gpus <= free.gpus + EPS;
}

export function subtract(a: Capacity, b: Capacity): Capacity {
  return { cpu: a.cpu - b.cpu, memoryGb: a.memoryGb - b.memoryGb, gpus: a.gpus - b.gpus };
}

export function add(a: Capacity, b: Capacity): Capacity {
  return { cpu: a.cpu + b.cpu, memoryGb: a.memoryGb + b.memoryGb, gpus: a.gpus + b.gpus };
}


export function describeResources(r: Capacity): string {
  const gpu = r.gpus ? `, ${r.gpus} GPU` : '';
  return `${r.cpu} CPU, ${r.memoryGb} GB${gpu}`;
}

/** What a job or threshold asks for, requirements included: "1 CPU, 2 GB, 1 GPU with 16 GB, avx2". */
export function describeNeed(r: Capacity & Pick<Resources, 'gpuMemoryGb' | 'cpuFeatures'>): string {
  const gpuMemory = r.gpuMemoryGb ? ` with ${r.gpuMemoryGb} GB` : '';
  const features = r.cpuFeatures?.length ? `, ${r.cpuFeatures.join(', ')}` : '';
  return `${describeResources(r)}${gpuMemory}${features}`;
}
