import { MeadowrunError } from './errors';

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
  return r;
}

/** Free capacity of an instance: CPU, memory and GPUs that can still be allocated. */
export interface Capacity {
  cpu: number;
  memoryGb: number;
  gpus: number;
}

// Capacities are sums of fractional numbers; compare with a little slack so 0.1 + 0.2 fits 0.3.
const EPS = 1e-9;

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
