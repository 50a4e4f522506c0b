// A VM's metadata service on 127.0.0.1 (never 169.254.169.254 from this machine), as Azure's
// answers: Scheduled Events, its managed identity's tokens and its own resource id. Tokens for
// storage are JWTs Azurite's `--oauth basic` accepts (test/support/accessToken.ts), or what
// `storageToken` says (an expired one, another audience); tokens for anything else are
// `mi-token-for-<resource>`, which the stand-ins of Resource Manager and Key Vault take.
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { accessToken, STORAGE_AUDIENCE, type TokenClaims } from './accessToken';

export interface Imds {
  endpoint: string;
  events: object[];
  resourceId: string;
  tokenRequests: URLSearchParams[];
  /** The claims of the storage tokens it gives (an expired one, another audience…); valid ones when unset. */
  storageToken?: TokenClaims;
  /** Scheduled Events requests so far. */
  eventPolls: number;
  withoutMetadataHeader: number;
  stop(): Promise<void>;
}

export async function startImds(resourceId = ''): Promise<Imds> {
  const imds: Imds = { endpoint: '', events: [], resourceId, tokenRequests: [], eventPolls: 0, withoutMetadataHeader: 0, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url!, 'http://imds');
    // The service refuses requests without `Metadata: true` (a guard against SSRF).
    if (req.headers.metadata !== 'true') {
      imds.withoutMetadataHeader++;
      return res.writeHead(400).end();
    }
    const json = (body: object) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (u.pathname === '/metadata/scheduledevents' && u.searchParams.get('api-version')) {
      imds.eventPolls++;
      return json({ DocumentIncarnation: imds.events.length, Events: imds.events });
    }
    if (u.pathname === '/metadata/identity/oauth2/token') {
      imds.tokenRequests.push(u.searchParams);
      const resource = u.searchParams.get('resource') ?? '';
      const { token, expiresOnTimestamp } =
        resource.replace(/\/$/, '') === STORAGE_AUDIENCE
          ? accessToken({ audience: resource, ...imds.storageToken })
          : { token: `mi-token-for-${resource}`, expiresOnTimestamp: Date.now() + 3600_000 };
      const expires = Math.floor(expiresOnTimestamp / 1000);
      return json({ access_token: token, refresh_token: '', expires_in: '3599', expires_on: String(expires), not_before: String(expires - 3600), resource, token_type: 'Bearer' });
    }
    if (u.pathname === '/metadata/instance/compute/resourceId' && u.searchParams.get('format') === 'text') return res.writeHead(200, { 'content-type': 'text/plain' }).end(imds.resourceId);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  imds.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  imds.stop = () => new Promise((r) => server.close(() => r()));
  return imds;
}
