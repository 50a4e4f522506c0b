// The Azure catalog: resourceSkus entries as the REST API returns them, Retail Prices pages from a
// local stand-in (paged with NextPageLink, with the items a reader must skip), Resource Graph's
// eviction buckets, the disk cache and its fallbacks, and Spot offered without a known rate only to
// jobs that accept any rate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ResourceSku } from '@azure/arm-compute';
import {
  AZURE_CACHE_TTL_MS,
  buildAzureCatalog,
  classifyRetailPrices,
  evictionRateFromBucket,
  evictionRatesFromRows,
  loadAzureCatalog,
  sizeSpec,
} from '../../src/cloud/azure/catalog';
import { chooseInstanceTypes, describeNoFit } from '../../src/core/chooseInstanceTypes';
import { marketAllowed } from '../../src/core/resources';
import { startFakeRetailPrices } from '../support/fakeRetailPrices';

/** A virtualMachines entry shaped like resourceSkus' (azure-rest-api-specs ResourceSkus List example, trimmed). */
function sku(name: string, caps: Record<string, string>, extra: Partial<ResourceSku> = {}): ResourceSku {
  return {
    resourceType: 'virtualMachines',
    name,
    tier: 'Standard',
    size: name.replace(/^Standard_/, ''),
    family: 'standardDSv5Family',
    locations: ['eastus'],
    locationInfo: [{ location: 'eastus', zones: ['3', '1', '2'], zoneDetails: [] }],
    capabilities: Object.entries({ MaxResourceVolumeMB: '0', HyperVGenerations: 'V1,V2', LowPriorityCapable: 'True', CpuArchitectureType: 'x64', ...caps }).map(
      ([k, v]) => ({ name: k, value: v }),
    ),
    restrictions: [],
    ...extra,
  };
}

const D2 = sku('Standard_D2s_v5', { vCPUs: '2', MemoryGB: '8' });
const D4P = sku('Standard_D4ps_v5', { vCPUs: '4', MemoryGB: '16', CpuArchitectureType: 'Arm64', HyperVGenerations: 'V2' }, { family: 'standardDPSv5Family' });
const NC = sku('Standard_NC4as_T4_v3', { vCPUs: '4', MemoryGB: '28', GPUs: '1' }, { family: 'Standard NCASv3_T4 Family' });
const B2 = sku('Standard_B2s', { vCPUs: '2', MemoryGB: '4', LowPriorityCapable: 'False' }, { family: 'standardBSFamily' });
const NOT_HERE = sku('Standard_E2s_v5', { vCPUs: '2', MemoryGB: '16' }, {
  restrictions: [{ type: 'Location', values: ['eastus'], restrictionInfo: { locations: ['eastus'] }, reasonCode: 'NotAvailableForSubscription' }],
});
const ZONE_LIMITED = sku('Standard_F2s_v2', { vCPUs: '2', MemoryGB: '4', HyperVGenerations: 'V1' }, {
  restrictions: [{ type: 'Zone', values: ['eastus'], restrictionInfo: { locations: ['eastus'], zones: ['2'] }, reasonCode: 'NotAvailableForSubscription' }],
});
const DISK = { resourceType: 'disks', name: 'Premium_LRS', locations: ['eastus'] } as ResourceSku;

test('sizeSpec reads vCPUs, memory, GPUs, architecture, generations, Spot capability and zones; drops sizes restricted here and other resource types', () => {
  assert.deepEqual(sizeSpec(D2, 'eastus'), {
    name: 'Standard_D2s_v5', cpu: 2, memoryGb: 8, gpus: 0, architecture: 'x86_64', hyperVGenerations: ['V1', 'V2'],
    family: 'standardDSv5Family', spotCapable: true, zones: ['1', '2', '3'],
  });
  assert.equal(sizeSpec(D4P, 'eastus')?.architecture, 'arm64');
  assert.deepEqual(sizeSpec(D4P, 'eastus')?.hyperVGenerations, ['V2']);
  assert.equal(sizeSpec(NC, 'eastus')?.gpus, 1);
  assert.equal(sizeSpec(B2, 'eastus')?.spotCapable, false);
  assert.equal(sizeSpec(NOT_HERE, 'eastus'), undefined);
  assert.deepEqual(sizeSpec(ZONE_LIMITED, 'eastus')?.zones, ['1', '3']);
  assert.equal(sizeSpec(DISK, 'eastus'), undefined);
  assert.equal(sizeSpec(D2, 'westeurope'), undefined, 'a size listed for another location only');
});

test('classifyRetailPrices keeps Linux pay-as-you-go and Spot by armSkuName, skipping Windows, Low Priority, Cloud Services, zero and unnamed items; the newest price wins', () => {
  const base = { armRegionName: 'eastus', serviceName: 'Virtual Machines', unitOfMeasure: '1 Hour', type: 'Consumption', armSkuName: 'Standard_D2s_v5', productName: 'Virtual Machines Dsv5 Series' };
  const prices = classifyRetailPrices(
    [
      { ...base, retailPrice: 0.0412, meterName: 'D2s v5 Spot', skuName: 'D2s v5 Spot' },
      { ...base, retailPrice: 0.09, meterName: 'D2s v5', skuName: 'D2s v5', effectiveStartDate: '2025-01-01T00:00:00Z' },
      { ...base, retailPrice: 0.096, meterName: 'D2s v5', skuName: 'D2s v5', effectiveStartDate: '2026-01-01T00:00:00Z' },
      { ...base, retailPrice: 0.1783, meterName: 'D2s v5 Spot', skuName: 'D2s v5 Spot', productName: 'Virtual Machines Dsv5 Series Windows' },
      { ...base, retailPrice: 0.0192, meterName: 'D2s v5 Low Priority', skuName: 'D2s v5 Low Priority' },
      { ...base, retailPrice: 0.144, meterName: 'D2s v5', skuName: 'D2s v5', productName: 'Dsv5 Series CloudServices' },
      { ...base, retailPrice: 0, armSkuName: 'Standard_B1ls_v2', meterName: 'B1ls v2 Spot', skuName: 'B1ls v2 Spot' },
      { ...base, retailPrice: 0.5, armSkuName: '', meterName: 'Unattributed Spot', skuName: 'Unattributed Spot' },
      { ...base, retailPrice: 0.2, armRegionName: 'westeurope', armSkuName: 'Standard_D4s_v5', meterName: 'D4s v5', skuName: 'D4s v5' },
    ],
    'eastus',
  );
  assert.deepEqual(prices, { onDemand: { Standard_D2s_v5: 0.096 }, spot: { Standard_D2s_v5: 0.0412 } });
});

test("Resource Graph's eviction buckets become rates: the middle of a range, 61 for the open top one, nothing for what is not understood", () => {
  assert.equal(evictionRateFromBucket('0-5'), 2.5);
  assert.equal(evictionRateFromBucket('5-10'), 7.5);
  assert.equal(evictionRateFromBucket('15-20'), 17.5);
  assert.equal(evictionRateFromBucket('20+'), 61);
  assert.equal(evictionRateFromBucket('low'), undefined);
  assert.deepEqual(evictionRatesFromRows([{ skuName: 'standard_d2s_v5', evictionRate: '0-5' }, { skuName: 'Standard_F2s_v2', evictionRate: '?' }, {}]), {
    standard_d2s_v5: 2.5,
  });
});

test('an unknown eviction rate admits spot only for jobs that accept any rate (100 %)', () => {
  assert.equal(marketAllowed(100, true, undefined), true);
  assert.equal(marketAllowed(99, true, undefined), false);
  assert.equal(marketAllowed(0, true, undefined), false);
  assert.equal(marketAllowed(10, true, 7.5), true);
  assert.equal(marketAllowed(5, true, 7.5), false);
  assert.equal(marketAllowed(0, false, undefined), true);
});

test('buildAzureCatalog prices sizes, leaves burstable ones out unless allowed, offers Spot only where possible and priced, with the rate when known', () => {
  const sizes = [D2, D4P, NC, B2, ZONE_LIMITED].map((s) => sizeSpec(s, 'eastus')!);
  const prices = {
    onDemand: { Standard_D2s_v5: 0.096, Standard_D4ps_v5: 0.154, Standard_NC4as_T4_v3: 0.526, Standard_B2s: 0.0416 },
    spot: { Standard_D2s_v5: 0.02, Standard_D4ps_v5: 0.03, Standard_B2s: 0.01 },
  };
  const catalog = buildAzureCatalog({ sizes, prices, evictionRatePct: { standard_d4ps_v5: 7.5 } }, {});
  const byName = new Map(catalog.types.map((t) => [t.name, t]));
  assert.deepEqual([...byName.keys()].sort(), ['Standard_D2s_v5', 'Standard_D4ps_v5', 'Standard_NC4as_T4_v3'], 'no price: F2s_v2 out; burstable: B2s out');
  assert.deepEqual(byName.get('Standard_D2s_v5'), { name: 'Standard_D2s_v5', cpu: 2, memoryGb: 8, gpus: 0, onDemandPrice: 0.096, spotPrice: 0.02 });
  assert.equal(byName.get('Standard_D4ps_v5')?.evictionRatePct, 7.5);
  assert.equal(byName.get('Standard_NC4as_T4_v3')?.memoryPerGpuGb, 16, 'GPU memory from the bundled data');
  assert.equal(byName.get('Standard_NC4as_T4_v3')?.spotPrice, undefined, 'no Spot price, no Spot');
  assert.equal(catalog.spec('Standard_D4ps_v5')?.architecture, 'arm64');
  assert.ok(buildAzureCatalog({ sizes, prices, evictionRatePct: {} }, { allowBurstable: true }).types.some((t) => t.name === 'Standard_B2s'));

  // D2s_v5 spot has no known rate: chosen only when the job accepts any rate.
  const need = { cpu: 2, memoryGb: 4, gpus: 0 };
  const any = chooseInstanceTypes(catalog.types, { ...need, maxEvictionRatePct: 100 });
  assert.deepEqual([any[0].option.type.name, any[0].option.spot], ['Standard_D2s_v5', true]);
  const some = chooseInstanceTypes(catalog.types, { ...need, maxEvictionRatePct: 50 });
  assert.deepEqual([some[0].option.type.name, some[0].option.spot], ['Standard_D4ps_v5', true], 'the spot size with a known rate within 50 %');
  const none = chooseInstanceTypes(catalog.types, { ...need, maxEvictionRatePct: 0 });
  assert.deepEqual([none[0].option.type.name, none[0].option.spot], ['Standard_D2s_v5', false]);
  const spotOnly = [{ name: 'x', cpu: 2, memoryGb: 8, gpus: 0, onDemandPrice: 0, spotPrice: 0.01 }];
  assert.match(describeNoFit(spotOnly, { ...need, maxEvictionRatePct: 50 }), /no known eviction rate \(allow a 100% eviction rate/);
});

test('loadAzureCatalog follows NextPageLink, caches each source for its TTL, and falls back to the stale cache, then the bundled snapshot', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mr-azcat-'));
  const fake = await startFakeRetailPrices({ spot: { Standard_D2s_v5: 0.0123 }, pageSize: 500 });
  t.after(async () => {
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  let now = 1_000_000;
  let skuCalls = 0;
  let graphCalls = 0;
  const options = {
    location: 'eastus',
    cacheDir: path.join(dir, 'cache'),
    pricesUrl: fake.url,
    listSkus: async function* () {
      skuCalls++;
      yield D2;
      yield NC;
      yield NOT_HERE;
    },
    evictionRates: async () => {
      graphCalls++;
      throw new Error('Resource Graph: 403 AuthorizationFailed');
    },
    now: () => now,
  };
  const first = await loadAzureCatalog(options);
  assert.ok(fake.requests > 2, `several pages (${fake.requests})`);
  assert.deepEqual(first.types.map((t) => t.name).sort(), ['Standard_D2s_v5', 'Standard_NC4as_T4_v3']);
  const d2 = first.types.find((t) => t.name === 'Standard_D2s_v5')!;
  assert.equal(d2.onDemandPrice, 0.096, "the snapshot's pay-as-you-go price, served as Linux (not Windows, not Cloud Services)");
  assert.equal(d2.spotPrice, 0.0123);
  assert.equal(d2.evictionRatePct, undefined);
  assert.match(first.notes.join('\n'), /Spot eviction rates: Resource Graph: 403 AuthorizationFailed; using none/);
  assert.equal(fs.statSync(path.join(dir, 'cache')).mode & 0o777, 0o700);
  for (const f of fs.readdirSync(path.join(dir, 'cache'))) assert.equal(fs.statSync(path.join(dir, 'cache', f)).mode & 0o777, 0o600, f);

  // Fresh: nothing is asked again (the failed eviction source was not cached, so it is asked again).
  const requests = fake.requests;
  await loadAzureCatalog(options);
  assert.equal(fake.requests, requests);
  assert.equal(skuCalls, 1);
  assert.equal(graphCalls, 2);

  // Stale and unreachable: the stale copy stands in, with a note.
  now += AZURE_CACHE_TTL_MS.prices + 1;
  fake.failing = true;
  const stale = await loadAzureCatalog(options);
  assert.equal(stale.types.find((t) => t.name === 'Standard_D2s_v5')?.spotPrice, 0.0123);
  assert.match(stale.notes.join('\n'), /prices: the Retail Prices API answered HTTP 503; using the cached copy/);

  // No cache at all and nothing reachable: the bundled snapshot (pay-as-you-go only, no Spot).
  const bundled = await loadAzureCatalog({
    ...options,
    cacheDir: path.join(dir, 'other'),
    listSkus: async function* (): AsyncGenerator<ResourceSku> {
      throw new Error('ARM unreachable');
    },
  });
  assert.match(bundled.notes.join('\n'), /VM sizes: ARM unreachable; using the bundled snapshot/);
  assert.match(bundled.notes.join('\n'), /prices: .*using the bundled snapshot/);
  const b = bundled.types.find((t) => t.name === 'Standard_D2s_v5');
  assert.equal(b?.onDemandPrice, 0.096);
  assert.ok(bundled.types.length > 500, `${bundled.types.length} sizes`);
  assert.ok(bundled.types.every((t) => t.spotPrice === undefined));
});
