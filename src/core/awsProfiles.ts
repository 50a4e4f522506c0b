// The profiles the AWS command line keeps (~/.aws/config and ~/.aws/credentials), read for the
// editor's pickers and its status bar: which profiles exist, how each signs in, and its region.
// Pure: the caller reads the files (awsConfigFiles says which).

export interface AwsProfile {
  name: string;
  region?: string;
  /** How it gets credentials, in a word for a picker. */
  signIn: 'sso' | 'access keys' | 'role' | 'process' | 'none';
}

/** Where the AWS tools keep their config and credentials: AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE, else ~/.aws. */
export function awsConfigFiles(env: Record<string, string | undefined>, home: string): { config: string; credentials: string } {
  const expand = (p: string) => (p.startsWith('~/') ? `${home}${p.slice(1)}` : p);
  return {
    config: expand(env.AWS_CONFIG_FILE || `${home}/.aws/config`),
    credentials: expand(env.AWS_SHARED_CREDENTIALS_FILE || `${home}/.aws/credentials`),
  };
}

/** An INI file as the AWS tools read it: sections of `key = value`; indented lines continue a key (ignored here). */
function parseIni(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*([#;]|$)/.test(raw)) continue;
    const section = /^\s*\[\s*([^\]]+?)\s*\]/.exec(raw);
    if (section) {
      current = sections.get(section[1]) ?? new Map();
      sections.set(section[1], current);
      continue;
    }
    if (/^\s/.test(raw)) continue; // a nested value (`s3 =` followed by indented keys)
    const kv = /^([^=]+?)\s*=\s*(.*?)\s*$/.exec(raw);
    if (kv && current) current.set(kv[1].toLowerCase(), kv[2]);
  }
  return sections;
}

/**
 * The profiles of both files, by name, sorted with `default` first. In the config file a profile is
 * `[profile NAME]` (or `[default]`); in the credentials file, `[NAME]`. The region comes from the
 * config file (the credentials file may hold one too, which the SDK reads as well).
 */
export function parseAwsProfiles(configText: string, credentialsText: string): AwsProfile[] {
  const merged = new Map<string, Map<string, string>>();
  const add = (name: string, keys: Map<string, string>) => merged.set(name, new Map([...(merged.get(name) ?? []), ...keys]));
  for (const [header, keys] of parseIni(credentialsText)) add(header, keys);
  for (const [header, keys] of parseIni(configText)) {
    if (header === 'default') add('default', keys);
    else if (/^profile\s+/.test(header)) add(header.replace(/^profile\s+/, ''), keys);
    // [sso-session x], [services x] and others are not profiles.
  }
  const profiles = [...merged].map(([name, keys]): AwsProfile => {
    const region = keys.get('region') || undefined;
    return { name, ...(region && { region }), signIn: signIn(keys) };
  });
  return profiles.sort((a, b) => Number(b.name === 'default') - Number(a.name === 'default') || a.name.localeCompare(b.name));
}

function signIn(keys: Map<string, string>): AwsProfile['signIn'] {
  if (keys.has('sso_session') || keys.has('sso_start_url')) return 'sso';
  if (keys.has('aws_access_key_id')) return 'access keys';
  if (keys.has('role_arn')) return 'role';
  if (keys.has('credential_process')) return 'process';
  return 'none';
}

/** How to get AWS credentials, for every place that finds none. */
export const AWS_CREDENTIALS_FIX =
  'set them up with `aws configure sso` (then `aws sso login --profile NAME` when the session expires), or `aws configure` for access keys';

/**
 * What Select Cloud says under AWS when this machine has no AWS credentials at all (no profile in
 * either file, none in the environment); undefined when it has some. AWS can be chosen all the same.
 */
export function missingCredentialsHint(profiles: AwsProfile[], env: Record<string, string | undefined>): string | undefined {
  return profiles.length || environmentCredentials(env) ? undefined : `No AWS credentials found: ${AWS_CREDENTIALS_FIX}.`;
}

/** Whether the SDK's default chain has credentials without a profile: keys in the environment, or a web identity. */
export function environmentCredentials(env: Record<string, string | undefined>): boolean {
  return !!(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) || !!env.AWS_WEB_IDENTITY_TOKEN_FILE;
}

/**
 * The region jobs run in, as the SDK chooses it: the setting, else AWS_REGION, else the profile's
 * (the setting's profile, else AWS_PROFILE, else `default`). Undefined when none says.
 */
export function effectiveAwsRegion(setting: { profile?: string; region?: string }, env: Record<string, string | undefined>, profiles: AwsProfile[]): string | undefined {
  if (setting.region) return setting.region;
  if (env.AWS_REGION) return env.AWS_REGION;
  const name = setting.profile || env.AWS_PROFILE || 'default';
  return profiles.find((p) => p.name === name)?.region;
}

/** The commercial regions with EC2, for the region picker (a region not listed can still be typed into the setting). */
export const AWS_REGIONS: readonly string[] = [
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
  'ca-central-1', 'ca-west-1', 'sa-east-1', 'mx-central-1',
  'eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-central-1', 'eu-central-2', 'eu-north-1', 'eu-south-1', 'eu-south-2',
  'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3',
  'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-7', 'ap-south-1', 'ap-south-2', 'ap-east-1',
  'me-south-1', 'me-central-1', 'il-central-1', 'af-south-1',
];

/** The regions in the order the picker offers them: the preferred ones (the profile's, the current) first. */
export function regionChoices(preferred: (string | undefined)[]): string[] {
  const first = [...new Set(preferred.filter((r): r is string => !!r))];
  return [...first, ...AWS_REGIONS.filter((r) => !first.includes(r))];
}
