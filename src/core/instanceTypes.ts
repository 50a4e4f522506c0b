import { MachineTraits, Resources } from './resources';

/**
 * A kind of machine a provider can launch, with its prices in USD per hour. Its traits (GPU memory, CPU
 * features) come from the catalog; unknown ones meet no requirement.
 */
export interface InstanceType extends MachineTraits {
  name: string;
  cpu: number;
  memoryGb: number;
  gpus: number;
  onDemandPrice: number;
  /** Undefined when the type is not offered as spot. */
  spotPrice?: number;
  /** Spot eviction (interruption) rate in %, when offered as spot and known (unknown: only jobs accepting 100 % use it). */
  evictionRatePct?: number;
}

/** One purchasable option: a type bought on-demand or as spot. */
export interface InstanceOption {
  type: InstanceType;
  spot: boolean;
  price: number;
}

/** The eviction rate of an option: 0 on-demand, the type's rate as spot (undefined when unknown). */
export function optionEvictionRatePct(o: InstanceOption): number | undefined {
  return o.spot ? o.type.evictionRatePct : 0;
}

/** The result of choosing: launch `count` instances of `option`, each hosting `workersPerInstance` workers. */
export interface InstanceChoice {
  option: InstanceOption;
  workersPerInstance: number;
  count: number;
}


export type { Resources };
