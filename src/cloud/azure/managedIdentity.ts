// A VM's managed identity as a TokenCredential, asked of the instance metadata service directly
// (GET /metadata/identity/oauth2/token, learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token):
// one request and a cache, where @azure/identity's ManagedIdentityCredential would bring MSAL
// and double the Azure agent bundle. Only the agent on a VM uses it; the client never does.
import * as http from 'http';
import type { AccessToken, TokenCredential } from '@azure/identity'; // types only: nothing of it is loaded

/** What the metadata service answers (numbers as strings). */
interface ImdsToken {
  access_token: string;
  expires_on: string;
  token_type: string;
}

export class VmManagedIdentity implements TokenCredential {
  private readonly cache = new Map<string, AccessToken>();

  /**
   * `imds` is http://169.254.169.254 on a VM (a stand-in in tests); `clientId` picks a
   * user-assigned identity, else the system-assigned one.
   */
  constructor(
    private readonly imds: string,
    private readonly clientId?: string,
  ) {}

  async getToken(scopes: string | string[]): Promise<AccessToken> {
    // A scope is "<resource>/.default"; the metadata service takes the resource.
    const resource = (Array.isArray(scopes) ? scopes[0] : scopes).replace(/\/\.default$/, '');
    const cached = this.cache.get(resource);
    if (cached && cached.expiresOnTimestamp - Date.now() > 5 * 60_000) return cached;
    const url = new URL('/metadata/identity/oauth2/token', this.imds);
    url.searchParams.set('api-version', '2018-02-01');
    url.searchParams.set('resource', resource);
    if (this.clientId) url.searchParams.set('client_id', this.clientId);
    const r = await get(url);
    if (r.status !== 200) throw new Error(`the VM's managed identity gave no token for ${resource}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
    const t = JSON.parse(r.body) as ImdsToken;
    const token: AccessToken = { token: t.access_token, expiresOnTimestamp: Number(t.expires_on) * 1000, tokenType: 'Bearer' };
    this.cache.set(resource, token);
    return token;
  }
}

function get(url: URL): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers: { Metadata: 'true' }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`the instance metadata service (${url.origin}) did not answer within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}
