import * as fs from 'fs';
import { InstanceType } from '../../core/instanceTypes';

/**
 * The local cloud's catalog. The machine is the same whatever the "type", but prices and sizes make
 * instance choice, packing and reuse behave as they will on a real cloud. Prices are pretend.
 */
export const DEFAULT_LOCAL_INSTANCE_TYPES: InstanceType[] = [
  { name: 'local.small', cpu: 1, memoryGb: 2, gpus: 0, onDemandPrice: 0.0104, spotPrice: 0.0031, evictionRatePct: 5 },
  { name: 'local.medium', cpu: 2, memoryGb: 4, gpus: 0, onDemandPrice: 0.0208, spotPrice: 0.0062, evictionRatePct: 10 },
  { name: 'local.large', cpu: 4, memoryGb: 8, gpus: 0, onDemandPrice: 0.0416, spotPrice: 0.0125, evictionRatePct: 15 },
  { name: 'local.xlarge', cpu: 8, memoryGb: 16, gpus: 0, onDemandPrice: 0.0832, spotPrice: 0.0250, evictionRatePct: 20 },
];

/** The catalog, from `instance-types.json` in the state directory when the user wrote one. */
export function loadLocalInstanceTypes(file: string): InstanceType[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return DEFAULT_LOCAL_INSTANCE_TYPES;
  }
  const types = JSON.parse(text) as InstanceType[];
  if (!Array.isArray(types) || types.some((t) => typeof t.name !== 'string' || !(t.cpu > 0) || !(t.memoryGb > 0))) {
    throw new Error(`${file}: expected a list of {name, cpu, memoryGb, gpus, onDemandPrice, spotPrice?, evictionRatePct?}`);
  }
  return types.map((t) => ({ ...t, gpus: t.gpus ?? 0 }));
}
