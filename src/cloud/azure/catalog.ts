// The Azure catalog: what each VM size offers in the location (resourceSkus: vCPUs, memory, GPUs,
// architecture, Hyper-V generations, whether Spot is possible, and the location's restrictions for
// this subscription), what it costs pay-as-you-go and as Spot (the Retail Prices API, no login
// needed), and how often Spot is evicted (Azure Resource Graph's SpotResources, when the
// subscription may query it). Each source is cached on disk for a while; one that cannot be reached
// is replaced by its stale cache, then by the bundled snapshot (specs and pay-as-you-go prices of
// eastus and westeurope, no Spot prices). A Spot price without a known eviction rate is kept but
// carries no rate: only a job that accepts any rate (100 %) may use it — a rate is never guessed.
import type { ResourceSku } from '@azure/arm-compute';
import { MeadowrunError } from '../../core/errors';
import { InstanceType } from '../../core/instanceTypes';
import { DiskCache } from '../catalogCache';
import snapshot from './data/catalogSnapshot.json';

/** A VM size as resourceSkus tells it, for one location. */
export interface AzureSizeSpec {
  name: string;
  cpu: number;
  memoryGb: number;
  gpus: number;
  /** Per GPU; resourceSkus does not say, the bundled data does for the GPU sizes it knows. */
  memoryPerGpuGb?: number;
  architecture: 'x86_64' | 'arm64';
  /** "V1", "V2": which images boot on it (Ubuntu's default image is generation 2). */
  hyperVGenerations: string[];
  family?: string;
  /** LowPriorityCapable: whether it can run as Spot at all. */
  spotCapable: boolean;
  /** Availability zones it is offered in here (empty: the location has no zones, or none allowed). */
  zones: string[];
}

export interface AzurePrices {
  /** armSkuName → USD/h, Linux pay-as-you-go. */
  onDemand: Record<string, number>;
  /** armSkuName → USD/h, Linux Spot. */
  spot: Record<string, number>;
}

/** Everything the catalog is built from, as cached. */
export interface AzureCatalogSources {
  sizes: AzureSizeSpec[];
  prices: AzurePrices;
  /** size name in lower case → eviction rate (%), from Resource Graph; empty when unknown. */
  evictionRatePct: Record<string, number>;
}

export interface AzureCatalog {
  types: InstanceType[];
  /** The size's spec, for the launch (image generation and architecture). */
  spec(name: string): AzureSizeSpec | undefined;
  /** Sources that could not be reached, with what replaced them (for the log). */
  notes: string[];
}

export interface AzureCatalogOptions {
  location: string;
  /** resourceSkus in the location (ComputeManagementClient.resourceSkus.list with a location filter). */
  listSkus: () => AsyncIterable<ResourceSku>;
  /** The Retail Prices API's address (the real one unless a test serves its own). */
  pricesUrl?: string;
  /** Resource Graph's eviction rates for the location; rejects when the subscription may not query it. */
  evictionRates?: () => Promise<Record<string, number>>;
  /** A private directory for the cache (created 0700, files 0600). */
  cacheDir: string;
  /** Burstable (B-series) sizes are eligible only when allowed: their CPU is not theirs to keep. */
  allowBurstable?: boolean;
  fetch?: typeof fetch;
  now?: () => number;
}

export const RETAIL_PRICES_URL = 'https://prices.azure.com/api/retail/prices';
/** The api-version whose filters are case-sensitive, and which returns Spot meters as their own SKU names. */
const RETAIL_API_VERSION = '2023-01-01-preview';

const HOUR = 3600_000;
/** How long each source stays fresh: specs and list prices change rarely, eviction rates daily. */
export const AZURE_CACHE_TTL_MS = { sizes: 7 * 24 * HOUR, prices: 6 * HOUR, eviction: 24 * HOUR } as const;

export async function loadAzureCatalog(o: AzureCatalogOptions): Promise<AzureCatalog> {
  const notes: string[] = [];
  const cache = new DiskCache(o.cacheDir, o.location, o.now ?? Date.now);
  const fallback = <T>(what: string, stale: T | undefined, bundled: () => T, replacement = stale ? 'the cached copy' : 'the bundled snapshot') => (e: unknown): T => {
    // Credentials that do not work are the user's to fix, not a source to replace.
    if (e instanceof MeadowrunError) throw e;
    notes.push(`${what}: ${(e as Error)?.message ?? String(e)}; using ${replacement}`);
    return stale ?? bundled();
  };
  const [sizes, prices, evictionRatePct] = await Promise.all([
    cache.get('sizes', AZURE_CACHE_TTL_MS.sizes, () => fetchSizeSpecs(o.listSkus(), o.location), (stale) => fallback('VM sizes', stale, bundledSizes)),
    cache.get('prices', AZURE_CACHE_TTL_MS.prices, () => fetchRetailPrices(o.location, o.pricesUrl, o.fetch), (stale) =>
      fallback('prices', stale, () => bundledPrices(o.location)),
    ),
    cache.get(
      'eviction',
      AZURE_CACHE_TTL_MS.eviction,
      () => (o.evictionRates ? o.evictionRates() : Promise.resolve({})),
      (stale) => fallback('Spot eviction rates', stale, () => ({}), stale ? 'the cached copy' : 'none (Spot only for jobs that accept any eviction rate)'),
    ),
  ]);
  return buildAzureCatalog({ sizes, prices, evictionRatePct }, o, notes);
}

/** The eligible sizes with their prices. Pure. */
export function buildAzureCatalog(s: AzureCatalogSources, o: { allowBurstable?: boolean }, notes: string[] = []): AzureCatalog {
  const types: InstanceType[] = [];
  const specs = new Map<string, AzureSizeSpec>();
  const gpuMemory = bundledGpuMemory();
  for (const spec of s.sizes) {
    if (isBurstable(spec) && !o.allowBurstable) continue;
    const onDemand = s.prices.onDemand[spec.name];
    // A size without a pay-as-you-go price is not sold to everyone here.
    if (!(onDemand > 0)) continue;
    const perGpu = spec.memoryPerGpuGb ?? gpuMemory.get(spec.name);
    const type: InstanceType = {
      name: spec.name,
      cpu: spec.cpu,
      memoryGb: spec.memoryGb,
      gpus: spec.gpus,
      onDemandPrice: onDemand,
      ...(spec.gpus > 0 && perGpu !== undefined && { memoryPerGpuGb: perGpu }),
    };
    const spot = s.prices.spot[spec.name];
    if (spec.spotCapable && spot > 0) {
      type.spotPrice = spot;
      const rate = s.evictionRatePct[spec.name.toLowerCase()];
      if (rate !== undefined) type.evictionRatePct = rate;
    }
    types.push(type);
    specs.set(spec.name, spec);
  }
  return { types, notes, spec: (name) => specs.get(name) };
}

/** B-series sizes accrue CPU credits and are throttled without them. */
function isBurstable(spec: AzureSizeSpec): boolean {
  return /^standardB/i.test(spec.family ?? '') || /^Standard_B\d/i.test(spec.name);
}

/** The virtual machine sizes a subscription may launch in the location. */
export async function fetchSizeSpecs(skus: AsyncIterable<ResourceSku>, location: string): Promise<AzureSizeSpec[]> {
  const out: AzureSizeSpec[] = [];
  for await (const sku of skus) {
    const spec = sizeSpec(sku, location);
    if (spec) out.push(spec);
  }
  return out;
}

/** One resourceSkus entry → the size's spec; undefined for other resource types or a size not offered here. Pure. */
export function sizeSpec(sku: ResourceSku, location: string): AzureSizeSpec | undefined {
  if (sku.resourceType?.toLowerCase() !== 'virtualmachines' || !sku.name) return undefined;
  const here = (l: string | undefined) => l?.toLowerCase() === location.toLowerCase();
  if (sku.locations?.length && !sku.locations.some(here)) return undefined;
  // "NotAvailableForSubscription" or a quota id: this subscription cannot launch it here at all.
  if ((sku.restrictions ?? []).some((r) => r.type === 'Location' && (r.values ?? []).some(here))) return undefined;
  const caps = new Map((sku.capabilities ?? []).map((c) => [c.name ?? '', c.value ?? '']));
  const cpu = Number(caps.get('vCPUs'));
  const memoryGb = Number(caps.get('MemoryGB'));
  if (!(cpu > 0) || !(memoryGb > 0)) return undefined;
  const restrictedZones = new Set((sku.restrictions ?? []).filter((r) => r.type === 'Zone').flatMap((r) => r.restrictionInfo?.zones ?? []));
  const zones = (sku.locationInfo ?? []).filter((i) => here(i.location)).flatMap((i) => i.zones ?? []).filter((z) => !restrictedZones.has(z));
  return {
    name: sku.name,
    cpu,
    memoryGb,
    gpus: Number(caps.get('GPUs') ?? 0) || 0,
    architecture: /arm64/i.test(caps.get('CpuArchitectureType') ?? '') ? 'arm64' : 'x86_64',
    hyperVGenerations: (caps.get('HyperVGenerations') ?? 'V1,V2').split(',').map((g) => g.trim()).filter(Boolean),
    ...(sku.family && { family: sku.family }),
    spotCapable: caps.get('LowPriorityCapable')?.toLowerCase() === 'true',
    zones: [...new Set(zones)].sort(),
  };
}

/** One item of a Retail Prices API page, as far as the catalog reads it. */
export interface RetailPriceItem {
  armSkuName?: string;
  armRegionName?: string;
  retailPrice?: number;
  unitOfMeasure?: string;
  type?: string;
  meterName?: string;
  productName?: string;
  skuName?: string;
  serviceName?: string;
  effectiveStartDate?: string;
}

/** Every Linux VM price in the location, following NextPageLink to the end. */
export async function fetchRetailPrices(location: string, url = RETAIL_PRICES_URL, fetchFn: typeof fetch = fetch): Promise<AzurePrices> {
  const filter = `serviceName eq 'Virtual Machines' and armRegionName eq '${location}' and priceType eq 'Consumption'`;
  let next: string | null | undefined = `${url}?api-version=${RETAIL_API_VERSION}&$filter=${encodeURIComponent(filter)}`;
  const items: RetailPriceItem[] = [];
  for (let pages = 0; next; pages++) {
    if (pages > 1000) throw new Error('the Retail Prices API kept returning pages');
    const res = await fetchFn(next, { signal: AbortSignal.timeout(30_000) });
    if (!res.ok) throw new Error(`the Retail Prices API answered HTTP ${res.status}`);
    const page = (await res.json()) as { Items?: RetailPriceItem[]; NextPageLink?: string | null };
    items.push(...(page.Items ?? []));
    next = page.NextPageLink;
  }
  return classifyRetailPrices(items, location);
}

/**
 * Linux pay-as-you-go and Spot prices by size, as Karpenter for Azure reads them: Windows products,
 * Low Priority (Batch) meters, Cloud Services, zero prices and items without a size are skipped; a
 * SKU name ending in " Spot" is Spot; of several prices the newest (effectiveStartDate) wins. Pure.
 */
export function classifyRetailPrices(items: RetailPriceItem[], location: string): AzurePrices {
  const prices: AzurePrices = { onDemand: {}, spot: {} };
  const since: Record<string, string> = {};
  for (const item of items) {
    const name = item.armSkuName;
    const price = item.retailPrice;
    if (!name || typeof price !== 'number' || !(price > 0)) continue;
    if (item.armRegionName && item.armRegionName !== location) continue;
    if (item.type && item.type !== 'Consumption') continue;
    if (item.unitOfMeasure && item.unitOfMeasure !== '1 Hour') continue;
    const product = item.productName ?? '';
    if (/ Windows$/.test(product) || /CloudServices/.test(product)) continue;
    if (/ Low Priority$/.test(item.meterName ?? '') || / Low Priority$/.test(item.skuName ?? '')) continue;
    const market = / Spot$/.test(item.skuName ?? '') ? 'spot' : 'onDemand';
    const key = `${market} ${name}`;
    const at = item.effectiveStartDate ?? '';
    if (since[key] !== undefined && since[key] > at) continue;
    since[key] = at;
    prices[market][name] = price;
  }
  return prices;
}

/**
 * Resource Graph's eviction rate bucket ("0-5", "5-10", … "20+", in % over the trailing 28 days) as
 * one rate: the middle of the range, and 61 for the open top range, as Meadowrun does on AWS.
 * Undefined for a value it does not recognise. Pure.
 */
export function evictionRateFromBucket(bucket: string): number | undefined {
  const text = bucket.replace(/\s|%/g, '');
  const range = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(text);
  if (range) {
    const [lo, hi] = [Number(range[1]), Number(range[2])];
    return hi >= lo ? (lo + hi) / 2 : undefined;
  }
  if (/^\d+(?:\.\d+)?\+$/.test(text)) return 61;
  return undefined;
}

/** Resource Graph's query for the location's eviction rates (one row per size). */
export function evictionRateQuery(location: string): string {
  if (!/^[a-z0-9]+$/.test(location)) throw new MeadowrunError(`Not an Azure location name: "${location}"`, 'bad-config');
  return (
    "SpotResources | where type =~ 'microsoft.compute/skuspotevictionrate/location' " +
    `| where location =~ '${location}' | project skuName=tostring(sku.name), evictionRate=tostring(properties.evictionRate)`
  );
}

/** Resource Graph's rows → size name (lower case) → rate (%). Pure. */
export function evictionRatesFromRows(rows: { skuName?: string; evictionRate?: string }[]): Record<string, number> {
  const rates: Record<string, number> = {};
  for (const row of rows) {
    const rate = row.skuName && row.evictionRate ? evictionRateFromBucket(row.evictionRate) : undefined;
    if (rate !== undefined) rates[row.skuName!.toLowerCase()] = rate;
  }
  return rates;
}

type SnapshotRow = [string, number, number, number, number | null, string, string, number | null];

function snapshotRows(): Record<string, SnapshotRow[]> {
  return snapshot.regions as unknown as Record<string, SnapshotRow[]>;
}

/** Specs of every size the snapshot knows (the same everywhere; which location offers which is unknown). */
function bundledSizes(): AzureSizeSpec[] {
  const byName = new Map<string, AzureSizeSpec>();
  for (const rows of Object.values(snapshotRows())) {
    for (const [name, cpu, memoryGb, gpus, perGpu, arch, family] of rows) {
      if (byName.has(name)) continue;
      byName.set(name, {
        name,
        cpu,
        memoryGb,
        gpus,
        ...(perGpu !== null && gpus > 0 && { memoryPerGpuGb: perGpu }),
        architecture: arch === 'arm64' ? 'arm64' : 'x86_64',
        hyperVGenerations: ['V1', 'V2'],
        ...(family && { family }),
        // The snapshot has no Spot prices, so nothing bundled is launched as Spot anyway.
        spotCapable: false,
        zones: [],
      });
    }
  }
  return [...byName.values()];
}

function bundledPrices(location: string): AzurePrices {
  const rows = snapshotRows()[location] ?? [];
  return { onDemand: Object.fromEntries(rows.filter((r) => r[7] !== null).map((r) => [r[0], r[7]!])), spot: {} };
}

let gpuMemoryCache: Map<string, number> | undefined;
function bundledGpuMemory(): Map<string, number> {
  gpuMemoryCache ??= new Map(
    Object.values(snapshotRows())
      .flat()
      .filter((r) => r[4] !== null && r[3] > 0)
      .map((r) => [r[0], r[4]!]),
  );
  return gpuMemoryCache;
}
