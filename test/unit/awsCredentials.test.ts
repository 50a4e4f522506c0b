// AWS credentials that are missing, expired or refused, and a missing region: each comes out of
// any client as one MeadowrunError naming the fix. The SDK's real credential chain runs here, on
// config files of the test's own (no request leaves the machine: it fails before sending).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, test } from 'node:test';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { awsClient, credentialsError } from '../../src/cloud/aws/clients';
import { MeadowrunError } from '../../src/core/errors';
import { tempDir } from '../support/tempDir';

process.env.AWS_EC2_METADATA_DISABLED = 'true';
const home = tempDir('aws-home');
let config: string;

// A new home and config file for each test: the SDK caches the files it read by path.
beforeEach(() => {
  for (const k of Object.keys(process.env)) if (/^AWS_/.test(k) && k !== 'AWS_EC2_METADATA_DISABLED') delete process.env[k];
  process.env.HOME = fs.mkdtempSync(path.join(home, 'home-'));
  config = path.join(process.env.HOME, '.aws', 'config');
  fs.mkdirSync(path.dirname(config), { recursive: true });
  fs.writeFileSync(config, '');
  process.env.AWS_CONFIG_FILE = config;
  process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(process.env.HOME, '.aws', 'credentials');
});

/** What a DynamoDB call fails with; the endpoint is never reached, so nothing listens there. */
async function failure(settings: Parameters<typeof awsClient>[1]): Promise<MeadowrunError> {
  const client = awsClient(DynamoDBClient, { endpoint: 'http://127.0.0.1:9', ...settings });
  try {
    await client.send(new ListTablesCommand({}));
  } catch (e) {
    assert.ok(e instanceof MeadowrunError, `not ours: ${(e as Error).name}: ${(e as Error).message}`);
    assert.equal(e.code, 'cloud-credentials');
    return e;
  }
  assert.fail('the call succeeded');
}

test('no credentials anywhere: set them up with aws configure sso, or choose a profile', async () => {
  const e = await failure({ region: 'us-east-1' });
  assert.equal(
    e.message,
    'No AWS credentials found for the default AWS profile: set them up with `aws configure sso` (or `aws configure` for access keys), or choose a profile with the setting meadowrun.aws.profile or --profile',
  );
});

test('a profile that does not exist is named', async () => {
  const e = await failure({ region: 'us-east-1', profile: 'nope' });
  assert.match(e.message, /^No AWS credentials found for the AWS profile "nope": set them up with `aws configure sso`/);
});

test('an SSO profile whose login expired: aws sso login --profile NAME', async () => {
  fs.writeFileSync(
    config,
    ['[profile work]', 'sso_session = corp', 'sso_account_id = 111111111111', 'sso_role_name = Dev', 'region = us-east-1',
      '[sso-session corp]', 'sso_start_url = https://example.invalid/start', 'sso_region = us-east-1', ''].join('\n'),
  );
  // The token cache as `aws sso login` leaves it, a day after the session ended.
  const cache = path.join(process.env.HOME!, '.aws', 'sso', 'cache');
  fs.mkdirSync(cache, { recursive: true });
  const expired = { accessToken: 'x', expiresAt: new Date(Date.now() - 86_400_000).toISOString(), region: 'us-east-1', startUrl: 'https://example.invalid/start' };
  fs.writeFileSync(path.join(cache, `${createHash('sha1').update('corp').digest('hex')}.json`), JSON.stringify(expired));
  const e = await failure({ profile: 'work' });
  assert.equal(e.message, 'The AWS SSO session of the AWS profile "work" has expired: run `aws sso login --profile work`');
  // Never logged in at all reads the same: the fix is the same.
  fs.rmSync(cache, { recursive: true });
  assert.equal((await failure({ profile: 'work' })).message, e.message);
});

test('no region: the setting, the flag and AWS_REGION are named', async () => {
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  const e = await failure({});
  assert.match(e.message, /^No AWS region: set meadowrun\.aws\.region \(or --region, or AWS_REGION\)/);
});

test("AWS's answers to expired or unknown keys say how to renew them; other errors pass through", () => {
  const named = (name: string) => Object.assign(new Error('from AWS'), { name });
  assert.match(credentialsError(named('ExpiredTokenException'), { profile: 'p' })!.message, /have expired: run `aws sso login --profile p`/);
  assert.match(credentialsError(named('ExpiredToken'), {})!.message, /The AWS credentials of the default AWS profile have expired/);
  assert.match(credentialsError(named('UnrecognizedClientException'), {})!.message, /^AWS rejected the credentials .*UnrecognizedClientException/);
  assert.match(credentialsError(named('InvalidClientTokenId'), {})!.message, /^AWS rejected/);
  for (const other of ['ConditionalCheckFailedException', 'AccessDeniedException', 'ResourceNotFoundException']) {
    assert.equal(credentialsError(named(other), {}), undefined, other);
  }
});
