import { Resources } from './resources';

/** A kind of machine a provider can launch, with its prices in USD per hour. */
export interface InstanceType {
  name: string;
  cpu: number;
  memoryGb: number;
  gpus: number;
  onDemandPrice: number;
  /** Undefined when the type is not offered as spot. */
  spotPrice?: number;
  /** Spot eviction (interruption) rate in %, when offered as spot. */
  evictionRatePct?: number;
}

/** One purchasable option: a type bought on-demand or as spot. */
export interface InstanceOption {
  type: InstanceType;
  spot: boolean;
  price: number;
}

/** The result of choosing: launch `count` instances of `option`, each hosting `workersPerInstance` workers. */
export interface InstanceChoice {
  option: InstanceOption;
  workersPerInstance: number;
  count: number;
}


export type { Resources };
