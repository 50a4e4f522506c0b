// A stand-in for the Azure CLI (`az`), put first on PATH, so the client's real credential chain
// (@azure/identity's AzureCliCredential runs `az account get-access-token`) and its subscription
// lookup (`az account show`) and the editor's subscription picker (`az account list`) run in tests
// without a login to Microsoft. It answers only those three calls, with the shapes az 2.x prints; logged out, it fails like az does ("Please run 'az login'").
// The token is any string (the fakes of Resource Manager and Key Vault accept any bearer token),
// except for storage (`--resource https://storage.azure.com`): a JWT with the claims Azurite's
// `--oauth basic` checks (test/support/accessToken.ts), made at each call, valid for an hour.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './tempDir';

export interface FakeAz {
  /** Put this first on PATH. */
  dir: string;
  subscription: string;
  login(): void;
  logout(): void;
  /** PATH with the fake first. */
  path: string;
}

export function fakeAz(o: { subscription?: string; loggedIn?: boolean } = {}): FakeAz {
  const dir = tempDir('fake-az');
  const subscription = o.subscription ?? '00000000-0000-0000-0000-000000000001';
  const expiresOn = Math.floor(Date.now() / 1000) + 3600;
  fs.writeFileSync(
    path.join(dir, 'token.json'),
    JSON.stringify({
      accessToken: 'fake-token-for-tests',
      expiresOn: new Date(expiresOn * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '.000000'),
      expires_on: expiresOn,
      subscription,
      tenant: '00000000-0000-0000-0000-00000000000t',
      tokenType: 'Bearer',
    }),
  );
  fs.writeFileSync(path.join(dir, 'subscription'), `${subscription}\n`);
  const tenantId = '00000000-0000-0000-0000-00000000000t';
  const account = (id: string, name: string, isDefault: boolean) => ({ cloudName: 'AzureCloud', homeTenantId: tenantId, id, isDefault, managedByTenants: [], name, state: 'Enabled', tenantId, user: { name: 'dev@example.com', type: 'user' } });
  fs.writeFileSync(
    path.join(dir, 'accounts.json'),
    JSON.stringify([account(subscription, 'Meadowrun tests', true), account('00000000-0000-0000-0000-000000000002', 'Another subscription', false)], null, 2),
  );
  const script = `#!/bin/sh
dir=$(dirname "$0")
tenant=${tenantId}
if [ ! -f "$dir/logged-in" ]; then
  echo "ERROR: Please run 'az login' to setup account." >&2
  exit 1
fi
case "$1 $2" in
  "account get-access-token")
    resource=
    while [ $# -gt 0 ]; do
      if [ "$1" = --resource ]; then resource=$2; fi
      shift
    done
    case "$resource" in
      https://storage.azure.com|https://storage.azure.com/) ;;
      *) cat "$dir/token.json"; exit 0 ;;
    esac
    now=$(date +%s)
    exp=$((now + 3600))
    b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
    header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
    claims=$(printf '{"aud":"%s","iss":"https://sts.windows.net/%s/","iat":%s,"nbf":%s,"exp":%s,"oid":"33333333-0000-0000-0000-000000000001","tid":"%s"}' "$resource" "$tenant" "$now" "$now" "$exp" "$tenant" | b64url)
    printf '{"accessToken":"%s.%s.not-signed","expiresOn":"%s","expires_on":%s,"subscription":"%s","tenant":"%s","tokenType":"Bearer"}\n' \
      "$header" "$claims" "$(date -d "@$exp" '+%Y-%m-%d %H:%M:%S.000000')" "$exp" "$(cat "$dir/subscription")" "$tenant"
    ;;
  "account show") cat "$dir/subscription" ;;
  "account list") cat "$dir/accounts.json" ;;
  *) echo "fake az: unsupported: $*" >&2; exit 2 ;;
esac
`;
  fs.writeFileSync(path.join(dir, 'az'), script, { mode: 0o700 });
  const marker = path.join(dir, 'logged-in');
  const fake: FakeAz = {
    dir,
    subscription,
    login: () => fs.writeFileSync(marker, ''),
    logout: () => fs.rmSync(marker, { force: true }),
    path: `${dir}${path.delimiter}${process.env.PATH ?? ''}`,
  };
  if (o.loggedIn ?? true) fake.login();
  return fake;
}
