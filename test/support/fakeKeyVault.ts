// A small stand-in for an Azure Key Vault's secrets API (no emulator runs here), over HTTPS with a
// certificate from a test CA for 127.0.0.1 (the SDK refuses bearer tokens over http). It answers the
// calls @azure/keyvault-secrets makes with the status codes, headers and bodies of the SDK's own
// recordings (Azure/azure-sdk-for-js sdk/keyvault/keyvault-secrets/recordings/node/…): a request
// without a bearer token gets 401 with the WWW-Authenticate challenge, then any token is accepted;
// set, get (latest or a version), list, list versions, delete (soft: the deleted secret appears
// under /deletedsecrets after a poll, as deletions take a moment), purge and recover.
import { randomBytes } from 'node:crypto';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { testCertificate } from './testCertificate';

interface Version {
  id: string;
  value: string;
  created: number;
  tags?: Record<string, string>;
  contentType?: string;
}

interface Secret {
  /** As first set (Key Vault's names are case-insensitive: the map is keyed by the lower-cased name). */
  name: string;
  versions: Version[];
  /** Set when deleted: the deletion (seconds since epoch), and how many reads still see it as in progress. */
  deleted?: { at: number; pendingReads: number };
  /** Reads of the secret that still see a recovery as in progress. */
  recovering?: number;
}

export interface FakeKeyVault {
  /** The vault URL, https://127.0.0.1:PORT */
  url: string;
  /** The PEM certificate to trust (tlsOptions.ca, or NODE_EXTRA_CA_CERTS in a child process). */
  ca: string;
  caFile: string;
  /** Every request, as "METHOD path" (without the query), for tests of what the client did. */
  requests: string[];
  /** How many requests were answered with the 401 challenge, and the bearer tokens accepted after it. */
  challenges: number;
  tokens: Set<string>;
  /** Names of the secrets it holds, live or soft-deleted. */
  secretNames(): string[];
  /** Forgets every secret, as purging the vault does (the fake Resource Manager calls it). */
  clear(): void;
  stop(): Promise<void>;
}

const RECOVERY = { recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 };
const TENANT = '12345678-1234-1234-1234-123456789012';

/** `addresses`: more addresses its certificate is valid for (the machine emulator's gateway, for VMs that reach it through a forwarder). */
export async function startFakeKeyVault(o: { addresses?: string[] } = {}): Promise<FakeKeyVault> {
  const tls = testCertificate(['127.0.0.1', ...(o.addresses ?? [])], 'keyvault');
  const secrets = new Map<string, Secret>();
  const requests: string[] = [];
  let url = '';
  const now = () => Math.floor(Date.now() / 1000);
  const attributes = (v: Version) => ({ enabled: true, created: v.created, updated: v.created, ...RECOVERY });
  const bundle = (name: string, v: Version, withValue = true) => ({
    ...(withValue && { value: v.value }),
    ...(v.contentType !== undefined && { contentType: v.contentType }),
    id: `${url}/secrets/${name}/${v.id}`,
    attributes: attributes(v),
    ...(v.tags && { tags: v.tags }),
  });
  const deletedBundle = (name: string, s: Secret) => {
    const latest = s.versions[s.versions.length - 1];
    return {
      recoveryId: `${url}/deletedsecrets/${name}`,
      deletedDate: s.deleted!.at,
      scheduledPurgeDate: s.deleted!.at + RECOVERY.recoverableDays * 86400,
      id: `${url}/secrets/${name}/${latest.id}`,
      attributes: attributes(latest),
      ...(latest.tags && { tags: latest.tags }),
    };
  };
  const notFound = (name: string) => ({
    error: {
      code: 'SecretNotFound',
      message: `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
    },
  });
  const deletedNotFound = (name: string) => ({ error: { code: 'SecretNotFound', message: `Deleted Secret not found: ${name}` } });
  // Secrets names are case-insensitive in Key Vault.
  const live = (name: string) => {
    const s = secrets.get(name.toLowerCase());
    if (!s || s.deleted) return undefined;
    if (s.recovering) {
      s.recovering--;
      return undefined;
    }
    return s;
  };

  const fake: FakeKeyVault = {
    url,
    ca: tls.ca,
    caFile: tls.caFile,
    requests,
    challenges: 0,
    tokens: new Set(),
    secretNames: () => [...secrets.values()].map((s) => s.name),
    clear: () => secrets.clear(),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', url);
      requests.push(`${req.method} ${u.pathname}`);
      const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
        const text = json === undefined ? '' : JSON.stringify(json);
        res.writeHead(status, { 'Cache-Control': 'no-cache', ...(text && { 'Content-Type': 'application/json; charset=utf-8' }), 'Content-Length': String(Buffer.byteLength(text)), ...headers });
        res.end(text);
      };
      const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
      if (!bearer) {
        fake.challenges++;
        send(401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } }, {
          'WWW-Authenticate': `Bearer authorization="https://login.windows.net/${TENANT}", resource="https://vault.azure.net"`,
        });
        return;
      }
      fake.tokens.add(bearer[1]);
      const parts = u.pathname.split('/').filter(Boolean);
      const [collection, name, rest, more] = parts;
      const key = name?.toLowerCase();
      if (collection === 'secrets' && !name && req.method === 'GET') {
        const value = [...secrets.entries()]
          .filter(([, s]) => !s.deleted)
          .map(([, s]) => {
            const latest = s.versions[s.versions.length - 1];
            return { id: `${url}/secrets/${s.name}`, attributes: attributes(latest), ...(latest.tags && { tags: latest.tags }) };
          });
        return send(200, { value, nextLink: null });
      }
      if (collection === 'secrets' && name && req.method === 'PUT' && !rest) {
        const existing = secrets.get(key!);
        if (existing?.deleted) {
          return send(409, {
            error: {
              code: 'Conflict',
              message: `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
              innererror: { code: 'ObjectIsDeletedButRecoverable' },
            },
          });
        }
        const p = JSON.parse(body || '{}') as { value?: string; tags?: Record<string, string>; contentType?: string };
        const v: Version = { id: randomBytes(16).toString('hex'), value: p.value ?? '', created: now(), tags: p.tags, contentType: p.contentType };
        const s: Secret = existing ?? { name: name, versions: [] };
        s.versions.push(v);
        secrets.set(key!, s);
        return send(200, bundle(s.name, v));
      }
      if (collection === 'secrets' && name && req.method === 'GET' && rest === 'versions') {
        const s = live(name);
        const value = (s?.versions ?? []).map((v) => ({ id: `${url}/secrets/${name}/${v.id}`, attributes: attributes(v), ...(v.tags && { tags: v.tags }) }));
        return send(200, { value: value.reverse(), nextLink: null });
      }
      if (collection === 'secrets' && name && req.method === 'GET') {
        const s = live(name);
        const v = s && (rest ? s.versions.find((x) => x.id === rest) : s.versions[s.versions.length - 1]);
        return v ? send(200, bundle(name, v)) : send(404, notFound(name));
      }
      if (collection === 'secrets' && name && req.method === 'DELETE' && !rest) {
        const s = live(name);
        if (!s) return send(404, notFound(name));
        s.deleted = { at: now(), pendingReads: 1 };
        return send(200, deletedBundle(name, s));
      }
      if (collection === 'deletedsecrets' && name) {
        const s = secrets.get(key!);
        if (!s?.deleted) return send(404, deletedNotFound(name));
        if (req.method === 'GET' && !rest) {
          if (s.deleted.pendingReads > 0) {
            s.deleted.pendingReads--;
            return send(404, deletedNotFound(name));
          }
          return send(200, deletedBundle(name, s));
        }
        if (req.method === 'DELETE' && !rest) {
          secrets.delete(key!);
          return send(204);
        }
        if (req.method === 'POST' && rest === 'recover' && !more) {
          s.deleted = undefined;
          s.recovering = 1;
          return send(200, bundle(name, s.versions[s.versions.length - 1], false));
        }
      }
      // Not a call the SDK makes for Meadowrun: the fake's own limit, not Key Vault's answer.
      send(501, { error: { code: 'NotImplemented', message: `The fake Key Vault does not answer ${req.method} ${u.pathname}` } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.url = url;
  return fake;
}
