// Access tokens as Microsoft Entra ID issues them, for the stand-ins that hand out tokens in tests
// (a VM's metadata service, a test's own credential): JWTs with the claims Azurite's `--oauth basic`
// checks (audience, an Entra issuer, iat/nbf/exp). Azurite checks no signature, so the signature
// part is a placeholder; nothing here signs or verifies.
import type { AccessToken, TokenCredential } from '@azure/identity';

export const TEST_TENANT = '00000000-0000-0000-0000-00000000000t';
export const STORAGE_AUDIENCE = 'https://storage.azure.com';

export interface TokenClaims {
  /** The resource the token is for; the storage services accept https://storage.azure.com. */
  audience?: string;
  /** Seconds from now to expiry (negative: already expired). */
  expiresInS?: number;
  issuer?: string;
  /** The identity's object id. */
  oid?: string;
}

export function accessToken(o: TokenClaims = {}): { token: string; expiresOnTimestamp: number } {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + (o.expiresInS ?? 3600);
  const iat = Math.min(now, exp - 60);
  const claims = {
    aud: o.audience ?? STORAGE_AUDIENCE,
    iss: o.issuer ?? `https://sts.windows.net/${TEST_TENANT}/`,
    iat,
    nbf: iat,
    exp,
    oid: o.oid ?? '22222222-0000-0000-0000-000000000001',
    tid: TEST_TENANT,
  };
  const part = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return { token: `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.not-signed`, expiresOnTimestamp: exp * 1000 };
}

/** A TokenCredential giving such tokens for whatever scope is asked (its resource the audience), counting what it was asked. */
export function testCredential(o: Omit<TokenClaims, 'audience'> = {}): TokenCredential & { scopes: string[] } {
  const scopes: string[] = [];
  return {
    scopes,
    async getToken(scope: string | string[]): Promise<AccessToken> {
      const s = Array.isArray(scope) ? scope[0] : scope;
      scopes.push(s);
      return { ...accessToken({ ...o, audience: s.replace(/\/\.default$/, '') }), tokenType: 'Bearer' };
    },
  };
}
