import * as fs from 'fs';
import { InstanceType } from '../../core/instanceTypes';
import { MeadowrunError } from '../../core/errors';
import { parseCpuFeatures } from '../../core/resources';

/**
 * The local cloud's catalog. The machine is the same whatever the "type", but prices, sizes, GPUs and
 * CPU features make instance choice, packing and reuse behave as they will on a real cloud. Prices,
 * GPUs and features are pretend (modelled on t3, m5a, m5, m7a and g4dn).
 */
export const DEFAULT_LOCAL_INSTANCE_TYPES: InstanceType[] = [
  { name: 'local.small', cpu: 1, memoryGb: 2, gpus: 0, onDemandPrice: 0.0104, spotPrice: 0.0031, evictionRatePct: 5, cpuFeatures: ['intel', 'avx', 'avx2'] },
  { name: 'local.medium', cpu: 2, memoryGb: 4, gpus: 0, onDemandPrice: 0.0208, spotPrice: 0.0062, evictionRatePct: 10, cpuFeatures: ['amd', 'avx', 'avx2'] },
  { name: 'local.large', cpu: 4, memoryGb: 8, gpus: 0, onDemandPrice: 0.0416, spotPrice: 0.0125, evictionRatePct: 15, cpuFeatures: ['intel', 'avx', 'avx2', 'avx512'] },
  { name: 'local.xlarge', cpu: 8, memoryGb: 16, gpus: 0, onDemandPrice: 0.0832, spotPrice: 0.0250, evictionRatePct: 20, cpuFeatures: ['amd', 'avx', 'avx2', 'avx512'] },
  {
    name: 'local.gpu',
    cpu: 4,
    memoryGb: 16,
    gpus: 1,
    memoryPerGpuGb: 16,
    onDemandPrice: 0.526,
    spotPrice: 0.1578,
    evictionRatePct: 10,
    cpuFeatures: ['intel', 'avx', 'avx2', 'avx512'],
  },
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
    throw new Error(
      `${file}: expected a list of {name, cpu, memoryGb, gpus, onDemandPrice, spotPrice?, evictionRatePct?, memoryPerGpuGb?, cpuFeatures?}`,
    );
  }
  return types.map((t) => {
    try {
      return { ...t, gpus: t.gpus ?? 0, ...(t.cpuFeatures !== undefined && { cpuFeatures: parseCpuFeatures(t.cpuFeatures) }) };
    } catch (e) {
      throw new MeadowrunError(`${file}: instance type ${t.name}: ${(e as Error).message}`, 'bad-resources');
    }
  });
}
