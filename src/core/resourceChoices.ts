import { describeNoFit, optionsFor } from './chooseInstanceTypes';
import { InstanceType } from './instanceTypes';
import { CpuFeature, Resources } from './resources';

/**
 * What "Set Default Resources" offers at each of its steps, checked against the cloud's catalog:
 * the values some instance type can run (given what was chosen before), each with the cheapest way
 * to run it, and why a typed value can't be run. Later steps count as their most permissive while
 * earlier ones are chosen, so a value is offered when some choice of the rest makes it fit.
 */
export type ResourceStep = 'cpu' | 'memoryGb' | 'gpus' | 'gpuMemoryGb' | 'maxEvictionRatePct';

export interface ResourceChoice {
  value: number;
  /** "2 CPUs", "16 GB", "1 GPU", "Any", "10% (spot)". */
  label: string;
  /** What it costs at least and where it runs: "from $0.0208/h (local.medium)". */
  description?: string;
  current: boolean;
}

/** "1 CPU", "2 CPUs", "0.5 CPUs". */
export function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

const STANDARD: Record<ResourceStep, number[]> = {
  cpu: [0.5, 1, 2, 4, 8, 16, 32, 48, 64, 96],
  memoryGb: [0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
  gpus: [0, 1, 2, 4, 8],
  gpuMemoryGb: [0, 8, 16, 24, 32, 40, 48, 80],
  maxEvictionRatePct: [0, 5, 10, 15, 20, 100],
};

/** The smallest amount of memory that counts: lets the CPU step ask "any memory". */
const ANY_MEMORY = 1e-6;

/** The need once `step` is `value`, the steps after it as permissive as they can be. */
export function needAt(step: ResourceStep, value: number, soFar: Partial<Resources>): Resources {
  const need: Resources = { cpu: 1, memoryGb: ANY_MEMORY, gpus: 0, maxEvictionRatePct: 100, gpuMemoryGb: 0, cpuFeatures: [], ...soFar };
  if (step === 'cpu') return { ...need, cpu: value, memoryGb: ANY_MEMORY, gpus: 0, gpuMemoryGb: 0 };
  if (step === 'memoryGb') return { ...need, memoryGb: value, gpus: 0, gpuMemoryGb: 0 };
  if (step === 'gpus') return { ...need, gpus: value, gpuMemoryGb: 0 };
  return { ...need, [step]: value };
}

export function labelOf(step: ResourceStep, value: number): string {
  switch (step) {
    case 'cpu':
      return plural(value, 'CPU');
    case 'memoryGb':
      return `${value} GB`;
    case 'gpus':
      return value === 0 ? 'No GPUs' : plural(value, 'GPU');
    case 'gpuMemoryGb':
      return value === 0 ? 'Any' : `${value} GB`;
    case 'maxEvictionRatePct':
      return value === 0 ? '0% (on-demand only)' : `${value}% (spot allowed)`;
  }
}

/**
 * The cheapest way to run `need`: "from $0.0208/h (local.medium)", or undefined when nothing fits.
 * On-demand first when asked (the market is chosen last), spot when only spot fits.
 */
export function cheapest(types: InstanceType[], need: Resources, preferOnDemand: boolean): string | undefined {
  const all = optionsFor(types, need);
  const onDemand = all.filter((o) => !o.spot);
  const options = preferOnDemand && onDemand.length ? onDemand : all;
  if (!options.length) return undefined;
  const best = options.reduce((a, b) => (b.price < a.price ? b : a));
  return `from $${best.price.toFixed(4)}/h (${best.type.name}${best.spot ? ', spot' : ''})`;
}

/**
 * The values to offer at `step`: standard ones and the catalog's own sizes that fit, and the
 * current one always (marked; it may no longer fit, then it says why). Without a catalog (it
 * could not be read) the standard values, unchecked.
 */
export function choicesAt(step: ResourceStep, types: InstanceType[] | undefined, soFar: Partial<Resources>, current: number): ResourceChoice[] {
  const fromCatalog = (types ?? []).flatMap((t): number[] => {
    if (step === 'cpu') return [t.cpu];
    if (step === 'memoryGb') return [t.memoryGb];
    if (step === 'gpus') return [t.gpus];
    if (step === 'gpuMemoryGb') return t.memoryPerGpuGb && soFar.gpus ? [t.memoryPerGpuGb * soFar.gpus] : [];
    return t.evictionRatePct !== undefined ? [t.evictionRatePct] : [];
  });
  const values = [...new Set([...STANDARD[step], ...fromCatalog, current])].sort((a, b) => a - b);
  const out: ResourceChoice[] = [];
  for (const value of values) {
    const isCurrent = value === current;
    const description = types ? cheapest(types, needAt(step, value, soFar), step !== 'maxEvictionRatePct' || value === 0) : undefined;
    if (types && !description && !isCurrent) continue;
    const problem = types && !description ? problemAt(step, value, types, soFar) : undefined;
    out.push({ value, label: labelOf(step, value), description: problem ? `fits no instance type: ${problem}` : description, current: isCurrent });
  }
  return out;
}

/**
 * Why a typed value can't be used at `step` (undefined when it can): not a number, out of range,
 * or no instance type in the catalog runs it, with the largest there is.
 */
export function problemAt(step: ResourceStep, value: number | string, types: InstanceType[] | undefined, soFar: Partial<Resources>): string | undefined {
  const n = typeof value === 'number' ? value : String(value).trim() === '' ? NaN : Number(value);
  const unit = { cpu: 'CPUs', memoryGb: 'GB of memory', gpus: 'GPUs', gpuMemoryGb: 'GB of GPU memory', maxEvictionRatePct: '%' }[step];
  if (!Number.isFinite(n)) return `Type a number${step === 'maxEvictionRatePct' ? ' from 0 to 100' : ` of ${unit}`}`;
  if ((step === 'cpu' || step === 'memoryGb') && n <= 0) return `Must be more than 0 ${unit}`;
  if (n < 0) return 'Must be 0 or more';
  if (step === 'gpus' && !Number.isInteger(n)) return 'GPUs must be a whole number';
  if (step === 'maxEvictionRatePct' && n > 100) return 'An eviction rate is at most 100%';
  if (!types) return undefined;
  const sellable = types.filter((t) => t.onDemandPrice > 0 || (t.spotPrice ?? 0) > 0);
  if (!sellable.length) return 'The cloud offers no instance type with a known price';
  const need = needAt(step, n, soFar);
  if (optionsFor(types, need).length) return undefined;
  const largest = (key: 'cpu' | 'memoryGb' | 'gpus', among: InstanceType[]) => among.reduce((a, b) => (b[key] > a[key] ? b : a));
  if (step === 'cpu') {
    const t = largest('cpu', sellable);
    return `No instance type has ${plural(n, 'CPU')}: the largest, ${t.name}, has ${plural(t.cpu, 'CPU')}`;
  }
  const withCpu = sellable.filter((t) => t.cpu >= need.cpu);
  if (step === 'memoryGb') {
    const t = largest('memoryGb', withCpu);
    return `No instance type with ${plural(need.cpu, 'CPU')} has ${n} GB: the most is ${t.memoryGb} GB (${t.name})`;
  }
  if (step === 'gpus') {
    const roomy = withCpu.filter((t) => t.memoryGb >= need.memoryGb);
    const t = largest('gpus', roomy);
    const what = `${plural(need.cpu, 'CPU')} and ${need.memoryGb} GB`;
    return t.gpus ? `No instance type with ${what} has ${plural(n, 'GPU')}: the most is ${plural(t.gpus, 'GPU')} (${t.name})` : `No instance type with ${what} has GPUs`;
  }
  return describeNoFit(types, need);
}

/** How many of the types that fit what was chosen so far have each CPU feature: "3 of 4 fitting types". */
export function featureCounts(types: InstanceType[], soFar: Partial<Resources>, features: readonly CpuFeature[]): Record<string, string> {
  const fitting = types.filter((t) => optionsFor([t], needAt('maxEvictionRatePct', 100, { ...soFar, cpuFeatures: [] })).length > 0);
  return Object.fromEntries(features.map((f) => [f, `${fitting.filter((t) => t.cpuFeatures?.includes(f)).length} of ${fitting.length} fitting type${fitting.length === 1 ? '' : 's'}`]));
}
