// A stand-in for the Azure Retail Prices API (prices.azure.com), which no emulator has: GET
// /api/retail/prices?api-version=…&$filter=… answered with pages shaped like the real ones
// ({BillingCurrency, CustomerEntityId, CustomerEntityType, Items, NextPageLink, Count}, items with
// retailPrice, armRegionName, meterName, productName, skuName, armSkuName, …; see
// alexei-led/spotinfo's recorded testdata), paged with $skip, from the bundled snapshot's
// pay-as-you-go prices plus the Spot prices a test gives. Every size also has the items a reader
// must skip: a Windows product, a Low Priority meter, a Cloud Services product.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import snapshot from '../../src/cloud/azure/data/catalogSnapshot.json';

export interface FakeRetailPrices {
  /** The API's address, as the catalog's pricesUrl. */
  url: string;
  /** How many pages it served. */
  requests: number;
  /** When set, every request fails with HTTP 503 (an unreachable source). */
  failing: boolean;
  stop(): Promise<void>;
}

type Row = [string, number, number, number, number | null, string, string, number | null];

export async function startFakeRetailPrices(o: { spot?: Record<string, number>; onDemand?: Record<string, number>; pageSize?: number; location?: string } = {}): Promise<FakeRetailPrices> {
  const location = o.location ?? 'eastus';
  const rows = (snapshot.regions as unknown as Record<string, Row[]>)[location] ?? [];
  const onDemand = o.onDemand ?? Object.fromEntries(rows.filter((r) => r[7] !== null).map((r) => [r[0], r[7]!]));
  const items: Record<string, unknown>[] = [];
  for (const [name, price] of Object.entries(onDemand).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const meter = name.replace(/^Standard_/, '').replace(/_/g, ' ');
    const series = `Virtual Machines ${meter.replace(/^[A-Z]+\d+/, (m) => m.replace(/\d+/, ''))} Series`;
    items.push(item(location, name, `${meter}`, series, price));
    items.push(item(location, name, `${meter}`, `${series} Windows`, price * 1.8));
    items.push(item(location, name, `${meter} Low Priority`, series, price * 0.2));
    items.push(item(location, name, `${meter}`, `${meter.split(' ')[0]} Series CloudServices`, price * 1.5));
    const spot = o.spot?.[name];
    if (spot !== undefined) items.push(item(location, name, `${meter} Spot`, series, spot));
  }
  // An unattributed meter and a zero price, as the real API has.
  items.push(item(location, '', 'Unattributed Spot', 'Virtual Machines Dsv5 Series', 0.5));
  items.push(item(location, 'Standard_B1ls_v2', 'B1ls v2 Spot', 'Virtual Machines Bsv2 Series', 0));

  const pageSize = o.pageSize ?? 1000;
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const url = new URL(req.url ?? '/', 'http://x');
    if (fake.failing) return send(503, { Error: { Code: 'ServiceUnavailable', Message: 'unavailable (the test made it so)' } });
    if (url.pathname !== '/api/retail/prices') return send(404, { Error: { Code: 'NotFound', Message: url.pathname } });
    fake.requests++;
    // Since 2023-01-01-preview the filter's values are case-sensitive: match it as written.
    const filter = url.searchParams.get('$filter') ?? '';
    const wanted = `serviceName eq 'Virtual Machines' and armRegionName eq '${location}' and priceType eq 'Consumption'`;
    const matching = filter === wanted ? items : [];
    const skip = Number(url.searchParams.get('$skip') ?? 0);
    const page = matching.slice(skip, skip + pageSize);
    const nextUrl = new URL(url.toString());
    nextUrl.searchParams.set('$skip', String(skip + pageSize));
    const next = skip + pageSize < matching.length ? `${base}${nextUrl.pathname}${nextUrl.search}` : null;
    send(200, { BillingCurrency: 'USD', CustomerEntityId: 'Default', CustomerEntityType: 'Retail', Items: page, NextPageLink: next, Count: page.length });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fake: FakeRetailPrices = {
    url: `${base}/api/retail/prices`,
    requests: 0,
    failing: false,
    stop: () => new Promise((r) => server.close(() => r())),
  };
  return fake;
}

function item(location: string, armSkuName: string, meterName: string, productName: string, retailPrice: number): Record<string, unknown> {
  return {
    currencyCode: 'USD',
    tierMinimumUnits: 0,
    retailPrice: Math.round(retailPrice * 1e6) / 1e6,
    unitPrice: Math.round(retailPrice * 1e6) / 1e6,
    armRegionName: location,
    location: location === 'eastus' ? 'US East' : location,
    effectiveStartDate: '2026-06-01T00:00:00Z',
    meterId: `00000000-0000-0000-0000-${Buffer.from(meterName + productName).toString('hex').slice(0, 12).padEnd(12, '0')}`,
    meterName,
    productId: 'DZH318Z0BQ4K',
    skuId: 'DZH318Z0BQ4K/00CQ',
    productName,
    skuName: meterName,
    serviceName: 'Virtual Machines',
    serviceId: 'DZH313Z7MMC8',
    serviceFamily: 'Compute',
    unitOfMeasure: '1 Hour',
    type: 'Consumption',
    isPrimaryMeterRegion: true,
    armSkuName,
  };
}
