// AWS command line profiles for the editor's tests, as a user would have them after `aws configure`:
// `emu` signs in to the test's moto with keys and has a region, `nokeys` has a region and no way to
// sign in. The returned environment points the SDK (in an extension host) at these files and at
// moto, with no credentials or region of its own, so what the user picks is what is used.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Moto } from './moto';

export function awsProfilesEnv(dir: string, moto: Moto): Record<string, string> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const config = path.join(dir, 'config');
  const credentials = path.join(dir, 'credentials');
  fs.writeFileSync(config, `[profile emu]\nregion = ${moto.region}\n\n[profile nokeys]\nregion = eu-west-1\n`, { mode: 0o600 });
  fs.writeFileSync(credentials, `[emu]\naws_access_key_id = testing\naws_secret_access_key = testing\n`, { mode: 0o600 });
  return {
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: credentials,
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}
