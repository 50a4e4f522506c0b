// A stand-in for the AWS Pricing API, which no emulator has: GetProducts over the SDK's own
// protocol (JSON 1.1, X-Amz-Target AWSPriceListService.GetProducts), answered with items shaped
// like the real ones (product.attributes, terms.OnDemand[…].priceDimensions[…].pricePerUnit.USD,
// each a JSON string), paged 100 at a time, from the bundled snapshot's us-east-1 prices.
// Clients find it through AWS_ENDPOINT_URL_PRICING (the SDK's per-service endpoint variable).
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import snapshot from '../../src/cloud/aws/data/catalogSnapshot.json';

export interface FakePricing {
  endpoint: string;
  /** Environment for clients: AWS_ENDPOINT_URL_PRICING. */
  env: Record<string, string>;
  /** How many GetProducts requests it answered. */
  requests: number;
  /** When set, every request fails with HTTP 503 (an unreachable source). */
  failing: boolean;
  stop(): Promise<void>;
}

export async function startFakePricing(o: { prices?: Record<string, number> } = {}): Promise<FakePricing> {
  const specs = new Map((snapshot.types as [string, number, number, number, number | null, string][]).map((t) => [t[0], t]));
  const prices: Record<string, number> = o.prices ?? (snapshot.onDemandPrices as Record<string, Record<string, number>>)['us-east-1'];
  const items = Object.entries(prices)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, price]) => productJson(name, price, specs.get(name)));
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (fake.failing) return send(503, { __type: 'ServiceUnavailableException', message: 'unavailable (the test made it so)' });
    if (req.headers['x-amz-target'] !== 'AWSPriceListService.GetProducts') return send(400, { __type: 'InvalidParameterException', message: 'only GetProducts' });
    fake.requests++;
    const input = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { Filters?: { Field: string; Value: string }[]; NextToken?: string; MaxResults?: number };
    const region = input.Filters?.find((f) => f.Field === 'regionCode')?.Value;
    const matching = region === 'us-east-1' ? items : [];
    const start = Number(input.NextToken ?? 0);
    const size = input.MaxResults ?? 100;
    const page = matching.slice(start, start + size);
    send(200, { FormatVersion: 'aws_v1', PriceList: page, ...(start + size < matching.length && { NextToken: String(start + size) }) });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fake: FakePricing = {
    endpoint,
    env: { AWS_ENDPOINT_URL_PRICING: endpoint },
    requests: 0,
    failing: false,
    stop: () => new Promise((r) => server.close(() => r())),
  };
  return fake;
}

function productJson(name: string, price: number, spec?: [string, number, number, number, number | null, string]): string {
  const sku = `SKU${Buffer.from(name).toString('hex').slice(0, 12).toUpperCase()}`;
  return JSON.stringify({
    product: {
      productFamily: 'Compute Instance',
      attributes: {
        instanceType: name,
        regionCode: 'us-east-1',
        location: 'US East (N. Virginia)',
        operatingSystem: 'Linux',
        tenancy: 'Shared',
        preInstalledSw: 'NA',
        capacitystatus: 'Used',
        ...(spec && { vcpu: String(spec[1]), memory: `${spec[2]} GiB` }),
        ...(/^[cmr][5-7]i?\./.test(name) && { physicalProcessor: 'Intel Xeon Platinum 8275L', processorFeatures: 'Intel AVX; Intel AVX2; Intel AVX512; Intel Turbo' }),
      },
      sku,
    },
    serviceCode: 'AmazonEC2',
    terms: {
      OnDemand: {
        [`${sku}.JRTCKXETXF`]: {
          priceDimensions: {
            [`${sku}.JRTCKXETXF.6YS6EN2CT7`]: {
              unit: 'Hrs',
              endRange: 'Inf',
              description: `$${price} per On Demand Linux ${name} Instance Hour`,
              appliesTo: [],
              rateCode: `${sku}.JRTCKXETXF.6YS6EN2CT7`,
              beginRange: '0',
              pricePerUnit: { USD: price.toFixed(10) },
            },
          },
          sku,
          effectiveDate: '2026-11-01T00:00:00Z',
          offerTermCode: 'JRTCKXETXF',
          termAttributes: {},
        },
      },
    },
    version: '20261101000000',
    publicationDate: '2026-11-01T00:00:00Z',
  });
}
