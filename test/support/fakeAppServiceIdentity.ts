// The managed identity endpoint App Service gives a Function app (IDENTITY_ENDPOINT, with the secret
// IDENTITY_HEADER; learn.microsoft.com/azure/app-service/overview-managed-identity, "REST endpoint
// reference", api-version 2019-08-01), on 127.0.0.1 for a test: GET ?resource=…&api-version=…
// with the X-IDENTITY-HEADER header → {access_token, expires_on, resource, token_type, client_id}.
// Each token is a JWT naming the principal (oid), so a fake that receives it can tell who called,
// with the audience, issuer and lifetime Azurite's `--oauth basic` checks (test/support/accessToken.ts).
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { accessToken } from './accessToken';

export interface FakeAppServiceIdentity {
  /** IDENTITY_ENDPOINT and IDENTITY_HEADER, as the platform sets them. */
  env: { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string };
  /** The resources tokens were asked for. */
  requests: string[];
  stop(): Promise<void>;
}

export async function startFakeAppServiceIdentity(o: { principalId: () => string | undefined }): Promise<FakeAppServiceIdentity> {
  const secret = crypto.randomUUID();
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const resource = url.searchParams.get('resource');
    if (req.headers['x-identity-header'] !== secret) return res.writeHead(401).end();
    if (url.pathname !== '/msi/token' || url.searchParams.get('api-version') !== '2019-08-01' || !resource) {
      res.writeHead(400, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ statusCode: 400, message: 'Unable to load requested managed identity.' }));
    }
    requests.push(resource);
    const token = accessToken({ audience: resource, oid: o.principalId() ?? '' });
    const body = {
      access_token: token.token,
      expires_on: String(Math.floor(token.expiresOnTimestamp / 1000)),
      resource,
      token_type: 'Bearer',
      client_id: crypto.randomUUID(),
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    env: { IDENTITY_ENDPOINT: `http://127.0.0.1:${(server.address() as AddressInfo).port}/msi/token`, IDENTITY_HEADER: secret },
    requests,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
