// The AWS profiles the editor's pickers offer, read from the AWS tools' own files, and the region
// the status bar shows — checked against the region the SDK itself resolves from the same files.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { EC2Client } from '@aws-sdk/client-ec2';
import { awsClient } from '../../src/cloud/aws/clients';
import { awsConfigFiles, AWS_REGIONS, effectiveAwsRegion, environmentCredentials, missingCredentialsHint, parseAwsProfiles, regionChoices } from '../../src/core/awsProfiles';
import { describeInstance } from '../../src/ui/format';
import type { InstanceRecord } from '../../src/cloud/ports';
import { tempDir } from '../support/tempDir';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

const CONFIG = `# a comment
[default]
region = eu-west-1

[profile dev]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Dev
region = us-east-2
s3 =
    max_concurrent_requests = 20

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1

[profile ci]
role_arn = arn:aws:iam::111122223333:role/ci
source_profile = keys

  [profile  spaced ]
credential_process = /usr/bin/creds
; another comment
`;

const CREDENTIALS = `[keys]
aws_access_key_id = AKIAEXAMPLE
aws_secret_access_key = secret

[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = secret
`;

test('profiles of both files, default first, with how each signs in and its region; sso-session sections are not profiles', () => {
  assert.deepEqual(parseAwsProfiles(CONFIG, CREDENTIALS), [
    { name: 'default', region: 'eu-west-1', signIn: 'access keys' },
    { name: 'ci', signIn: 'role' },
    { name: 'dev', region: 'us-east-2', signIn: 'sso' },
    { name: 'keys', signIn: 'access keys' },
    { name: 'spaced', signIn: 'process' },
  ]);
  assert.deepEqual(parseAwsProfiles('', ''), []);
  assert.deepEqual(parseAwsProfiles('[profile a]\r\nregion=ap-south-1\r\n', ''), [{ name: 'a', region: 'ap-south-1', signIn: 'none' }]);
});

test('the files are where AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE say, else ~/.aws', () => {
  assert.deepEqual(awsConfigFiles({}, '/home/u'), { config: '/home/u/.aws/config', credentials: '/home/u/.aws/credentials' });
  assert.deepEqual(awsConfigFiles({ AWS_CONFIG_FILE: '~/c', AWS_SHARED_CREDENTIALS_FILE: '/etc/k' }, '/home/u'), { config: '/home/u/c', credentials: '/etc/k' });
});

test('the region: the setting, else AWS_REGION, else the profile’s (the setting’s, AWS_PROFILE, default)', () => {
  const profiles = parseAwsProfiles(CONFIG, CREDENTIALS);
  assert.equal(effectiveAwsRegion({ profile: 'dev', region: 'sa-east-1' }, { AWS_REGION: 'us-west-2' }, profiles), 'sa-east-1');
  assert.equal(effectiveAwsRegion({ profile: 'dev' }, { AWS_REGION: 'us-west-2' }, profiles), 'us-west-2');
  assert.equal(effectiveAwsRegion({ profile: 'dev' }, {}, profiles), 'us-east-2');
  assert.equal(effectiveAwsRegion({}, { AWS_PROFILE: 'dev' }, profiles), 'us-east-2');
  assert.equal(effectiveAwsRegion({}, {}, profiles), 'eu-west-1');
  assert.equal(effectiveAwsRegion({ profile: 'ci' }, {}, profiles), undefined);
});

test('the region agrees with the one the SDK resolves from the same files', async () => {
  const home = tempDir('aws-profiles');
  const saved = { ...process.env };
  try {
    for (const k of Object.keys(process.env)) if (/^AWS_/.test(k) && k !== 'AWS_EC2_METADATA_DISABLED') delete process.env[k];
    fs.writeFileSync(path.join(home, 'config'), CONFIG);
    fs.writeFileSync(path.join(home, 'credentials'), CREDENTIALS);
    process.env.AWS_CONFIG_FILE = path.join(home, 'config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(home, 'credentials');
    const profiles = parseAwsProfiles(CONFIG, CREDENTIALS);
    for (const profile of ['dev', 'default']) {
      const sdk = await awsClient(EC2Client, { profile }).config.region();
      assert.equal(effectiveAwsRegion({ profile }, process.env, profiles), sdk, profile);
    }
  } finally {
    process.env = saved;
  }
});

test('credentials in the environment count without a profile; with none at all, Select Cloud says how to get them', () => {
  assert.equal(environmentCredentials({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' }), true);
  assert.equal(environmentCredentials({ AWS_ACCESS_KEY_ID: 'a' }), false);
  assert.equal(environmentCredentials({}), false);
  assert.match(missingCredentialsHint([], {}) ?? '', /^No AWS credentials found: set them up with `aws configure sso` \(then `aws sso login --profile NAME`/);
  assert.equal(missingCredentialsHint([], { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' }), undefined);
  assert.equal(missingCredentialsHint(parseAwsProfiles('[profile x]\n', ''), {}), undefined);
});

test('the region picker offers the profile’s and the current region first, every region once', () => {
  const choices = regionChoices(['eu-west-1', undefined, 'eu-west-1', 'us-east-2']);
  assert.deepEqual(choices.slice(0, 2), ['eu-west-1', 'us-east-2']);
  assert.equal(new Set(choices).size, choices.length);
  assert.equal(choices.length, AWS_REGIONS.length);
  assert.deepEqual(regionChoices(['xx-test-9']).slice(0, 1), ['xx-test-9'], 'a region not in the list is kept');
});

test('an EC2 instance row says launching, its market and zone; a local one only spot', () => {
  const row: InstanceRecord = {
    id: 'i-0abc',
    state: 'launching',
    typeName: 'm5.large',
    spot: false,
    zone: 'us-east-1b',
    price: 0.096,
    total: { cpu: 2, memoryGb: 8, gpus: 0 },
    jobs: { j1: { jobId: 'j1', cpu: 1, memoryGb: 2, gpus: 0, allocatedAt: 0 } },
    preventFurtherAllocation: false,
    registeredAt: 0,
    lastJobChangeAt: 0,
    etag: 'e',
  };
  assert.equal(describeInstance(row, undefined, 0), 'launching · $0.0960/h · 1 job · 1/2 CPU, 6/8 GB free · on-demand · us-east-1b · i-0abc');
  assert.equal(describeInstance({ ...row, state: 'ready', spot: true }, undefined, 0), '$0.0960/h · 1 job · 1/2 CPU, 6/8 GB free · spot · us-east-1b · i-0abc');
  assert.equal(describeInstance({ ...row, preventFurtherAllocation: true }, undefined, 0).split(' · ')[0], 'launch given up');
  const local = { ...row, id: 'local-1', state: 'ready' as const, zone: undefined, jobs: {} };
  assert.equal(describeInstance(local, undefined, 60_000), '$0.0960/h · idle 1m · 2/2 CPU, 8/8 GB free · local-1');
});
