// The EC2 catalog: what each instance type offers (DescribeInstanceTypes), what it costs on-demand
// (the Pricing API) and as spot in each availability zone (DescribeSpotPriceHistory), and how often
// spot is interrupted (the Spot Advisor's ranges, bundled). Each source is cached on disk for a while;
// one that cannot be reached is replaced by its stale cache, then by the bundled snapshot, so a
// catalog is always there (the bundled prices are us-east-1's, marked as estimates in the log).
import { DescribeInstanceTypesCommand, DescribeSpotPriceHistoryCommand, EC2Client, InstanceTypeInfo } from '@aws-sdk/client-ec2';
import { GetProductsCommand, PricingClient } from '@aws-sdk/client-pricing';
import { MeadowrunError } from '../../core/errors';
import { InstanceType } from '../../core/instanceTypes';
import { CpuFeature } from '../../core/resources';
import { DiskCache } from '../catalogCache';
import snapshot from './data/catalogSnapshot.json';

/** An instance type as DescribeInstanceTypes tells it. */
export interface Ec2TypeSpec {
  name: string;
  cpu: number;
  memoryGb: number;
  gpus: number;
  /** Per GPU. */
  memoryPerGpuGb?: number;
  /** x86_64, arm64 (some types support both i386 and x86_64: the list). */
  architectures: string[];
  burstable: boolean;
  /** "Intel", "AMD", "AWS". */
  manufacturer?: string;
}

export interface OnDemandPrice {
  price: number;
  /** From the product's processorFeatures (AVX, AVX2, AVX512) and physicalProcessor. */
  cpuFeatures?: CpuFeature[];
}

/** Everything the catalog is built from, as cached. */
export interface CatalogSources {
  types: Ec2TypeSpec[];
  onDemand: Record<string, OnDemandPrice>;
  /** type → AZ → USD/h. */
  spot: Record<string, Record<string, number>>;
  /** type → Spot Advisor range index (0: <5 %, … 4: >20 %). */
  interruption: Record<string, number>;
}

/** What a launch needs to know beyond the InstanceType: where spot is cheapest. */
export interface Ec2Catalog {
  types: InstanceType[];
  /** AZs offering the type as spot, cheapest first. */
  spotZones(typeName: string): string[];
  /** Sources that could not be reached, with what replaced them (for the log). */
  notes: string[];
}

export interface CatalogOptions {
  ec2: EC2Client;
  pricing: PricingClient;
  region: string;
  /** A private directory for the cache (created 0700, files 0600). */
  cacheDir: string;
  /** The AMI's architecture: only types that run it are eligible. */
  architecture: string;
  /** Burstable (t*) types are eligible only when allowed: their CPU is not theirs to keep. */
  allowBurstable?: boolean;
  now?: () => number;
}

const HOUR = 3600_000;
/** How long each source stays fresh: specs and list prices change rarely, spot prices often. */
export const CACHE_TTL_MS = { types: 7 * 24 * HOUR, onDemand: 24 * HOUR, spot: HOUR / 6 } as const;

/** The Spot Advisor range as one rate (%): the middle of the range, as Meadowrun has always done. */
const RANGE_MIDPOINT_PCT = [2.5, 8, 13.5, 19, 61];

export async function loadCatalog(o: CatalogOptions): Promise<Ec2Catalog> {
  const notes: string[] = [];
  const now = o.now ?? Date.now;
  const cache = new DiskCache(o.cacheDir, o.region, now);
  const fallback = <T>(what: string, stale: T | undefined, bundled: () => T) => (e: unknown): T => {
    // Credentials that do not work are the user's to fix, not a source to replace.
    if (e instanceof MeadowrunError) throw e;
    const why = (e as Error)?.message ?? String(e);
    notes.push(`${what}: ${why}; using ${stale ? 'the cached copy' : 'the bundled snapshot'}`);
    return stale ?? bundled();
  };
  const [types, onDemand, spot] = await Promise.all([
    cache.get('types', CACHE_TTL_MS.types, () => fetchTypeSpecs(o.ec2), (stale) => fallback('instance types', stale, bundledTypes)),
    cache.get('on-demand', CACHE_TTL_MS.onDemand, () => fetchOnDemandPrices(o.pricing, o.region), (stale) =>
      fallback('on-demand prices', stale, () => bundledOnDemand(o.region)),
    ),
    cache.get('spot', CACHE_TTL_MS.spot, () => fetchSpotPrices(o.ec2), (stale) => fallback('spot prices', stale, () => ({}))),
  ]);
  const sources: CatalogSources = { types, onDemand, spot, interruption: bundledInterruption(o.region) };
  return buildCatalog(sources, o, notes);
}

/** The eligible types with their prices, and the zone ranking for spot launches. Pure. */
export function buildCatalog(s: CatalogSources, o: { architecture: string; allowBurstable?: boolean }, notes: string[] = []): Ec2Catalog {
  const types: InstanceType[] = [];
  for (const spec of s.types) {
    if (!spec.architectures.includes(o.architecture)) continue;
    if (spec.burstable && !o.allowBurstable) continue;
    const od = s.onDemand[spec.name];
    // A type without an on-demand price is not sold to everyone here (capacity blocks, hosts only).
    if (!od) continue;
    const zones = Object.values(s.spot[spec.name] ?? {});
    const range = s.interruption[spec.name];
    const type: InstanceType = {
      name: spec.name,
      cpu: spec.cpu,
      memoryGb: spec.memoryGb,
      gpus: spec.gpus,
      onDemandPrice: od.price,
      ...(spec.memoryPerGpuGb !== undefined && { memoryPerGpuGb: spec.memoryPerGpuGb }),
    };
    const features = cpuFeatures(spec, od);
    if (features) type.cpuFeatures = features;
    // Spot only with an interruption rate: a job's limit cannot be checked against an unknown one.
    if (zones.length && range !== undefined) {
      type.spotPrice = Math.min(...zones);
      type.evictionRatePct = RANGE_MIDPOINT_PCT[range] ?? 61;
    }
    types.push(type);
  }
  return {
    types,
    notes,
    spotZones: (name) =>
      Object.entries(s.spot[name] ?? {})
        .sort(([za, a], [zb, b]) => a - b || (za < zb ? -1 : 1))
        .map(([zone]) => zone),
  };
}

function cpuFeatures(spec: Ec2TypeSpec, od: OnDemandPrice): CpuFeature[] | undefined {
  const maker = spec.manufacturer?.toLowerCase();
  const features = new Set<CpuFeature>(od.cpuFeatures ?? []);
  if (maker === 'intel' || maker === 'amd') features.add(maker);
  return features.size ? [...features].sort() : undefined;
}

export async function fetchTypeSpecs(ec2: EC2Client): Promise<Ec2TypeSpec[]> {
  const specs: Ec2TypeSpec[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(new DescribeInstanceTypesCommand({ MaxResults: 100, NextToken }));
    for (const t of page.InstanceTypes ?? []) {
      const spec = typeSpec(t);
      if (spec) specs.push(spec);
    }
    NextToken = page.NextToken;
  } while (NextToken);
  return specs;
}

function typeSpec(t: InstanceTypeInfo): Ec2TypeSpec | undefined {
  const cpu = t.VCpuInfo?.DefaultVCpus;
  const mib = t.MemoryInfo?.SizeInMiB;
  if (!t.InstanceType || !cpu || !mib) return undefined;
  const gpus = (t.GpuInfo?.Gpus ?? []).reduce((n, g) => n + (g.Count ?? 0), 0);
  const gpuMib = t.GpuInfo?.TotalGpuMemoryInMiB;
  return {
    name: t.InstanceType,
    cpu,
    memoryGb: mib / 1024,
    gpus,
    ...(gpus > 0 && gpuMib && { memoryPerGpuGb: gpuMib / 1024 / gpus }),
    architectures: t.ProcessorInfo?.SupportedArchitectures ?? [],
    burstable: !!t.BurstablePerformanceSupported,
    ...(t.ProcessorInfo?.Manufacturer && { manufacturer: t.ProcessorInfo.Manufacturer }),
  };
}

/** The Pricing API's endpoint nearest the region (any of them serves every region). */
export function pricingRegion(region: string): string {
  if (region.startsWith('eu-')) return 'eu-central-1';
  if (region.startsWith('ap-')) return 'ap-south-1';
  return 'us-east-1';
}

export async function fetchOnDemandPrices(pricing: PricingClient, region: string): Promise<Record<string, OnDemandPrice>> {
  const filter = (Field: string, Value: string) => ({ Type: 'TERM_MATCH' as const, Field, Value });
  const prices: Record<string, OnDemandPrice> = {};
  let NextToken: string | undefined;
  do {
    const page = await pricing.send(
      new GetProductsCommand({
        ServiceCode: 'AmazonEC2',
        MaxResults: 100,
        NextToken,
        Filters: [
          filter('regionCode', region),
          filter('operatingSystem', 'Linux'),
          filter('tenancy', 'Shared'),
          filter('preInstalledSw', 'NA'),
          filter('capacitystatus', 'Used'),
          filter('marketoption', 'OnDemand'),
          filter('productFamily', 'Compute Instance'),
        ],
      }),
    );
    for (const item of page.PriceList ?? []) {
      const parsed = parsePriceListItem(JSON.parse(String(item)));
      if (parsed) prices[parsed.name] = parsed.price;
    }
    NextToken = page.NextToken;
  } while (NextToken);
  return prices;
}

interface PriceListItem {
  product?: { attributes?: Record<string, string> };
  terms?: { OnDemand?: Record<string, { priceDimensions?: Record<string, { unit?: string; pricePerUnit?: { USD?: string } }> }> };
}

/** One GetProducts item → its type's hourly price; undefined for items that are not one plain hourly price. */
export function parsePriceListItem(item: PriceListItem): { name: string; price: OnDemandPrice } | undefined {
  const attributes = item.product?.attributes ?? {};
  const name = attributes.instanceType;
  const terms = Object.values(item.terms?.OnDemand ?? {});
  if (!name || terms.length !== 1) return undefined;
  const dimensions = Object.values(terms[0].priceDimensions ?? {});
  if (dimensions.length !== 1 || dimensions[0].unit !== 'Hrs') return undefined;
  const price = Number(dimensions[0].pricePerUnit?.USD);
  if (!(price > 0)) return undefined;
  const text = `${attributes.processorFeatures ?? ''};${attributes.physicalProcessor ?? ''}`.toLowerCase();
  const features = new Set<CpuFeature>();
  if (/avx512/.test(text)) features.add('avx512');
  if (/avx2|avx512/.test(text)) features.add('avx2');
  if (/avx/.test(text)) features.add('avx');
  if (/intel/.test(text)) features.add('intel');
  if (/amd/.test(text)) features.add('amd');
  return { name, price: { price, ...(features.size && { cpuFeatures: [...features].sort() }) } };
}

export async function fetchSpotPrices(ec2: EC2Client): Promise<Record<string, Record<string, number>>> {
  const prices: Record<string, Record<string, number>> = {};
  const newest: Record<string, number> = {};
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeSpotPriceHistoryCommand({ ProductDescriptions: ['Linux/UNIX'], StartTime: new Date(), MaxResults: 1000, NextToken }),
    );
    for (const p of page.SpotPriceHistory ?? []) {
      const price = Number(p.SpotPrice);
      if (!p.InstanceType || !p.AvailabilityZone || !(price > 0)) continue;
      // The newest price of each (type, AZ) wins.
      const key = `${p.InstanceType} ${p.AvailabilityZone}`;
      const at = p.Timestamp?.getTime() ?? 0;
      if (newest[key] !== undefined && newest[key] > at) continue;
      newest[key] = at;
      (prices[p.InstanceType] ??= {})[p.AvailabilityZone] = price;
    }
    NextToken = page.NextToken || undefined;
  } while (NextToken);
  return prices;
}

function bundledTypes(): Ec2TypeSpec[] {
  return (snapshot.types as [string, number, number, number, number | null, string][]).map(([name, cpu, memoryGb, gpus, perGpu, arch]) => ({
    name,
    cpu,
    memoryGb,
    gpus,
    ...(perGpu !== null && gpus > 0 && { memoryPerGpuGb: perGpu }),
    architectures: [arch],
    burstable: /^t\d/.test(name),
  }));
}

function bundledOnDemand(region: string): Record<string, OnDemandPrice> {
  const table = (snapshot.onDemandPrices as Record<string, Record<string, number>>)[region] ?? {};
  return Object.fromEntries(Object.entries(table).map(([name, price]) => [name, { price }]));
}

function bundledInterruption(region: string): Record<string, number> {
  return (snapshot.interruption as Record<string, Record<string, number>>)[region] ?? {};
}
