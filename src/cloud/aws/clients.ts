// One way to build AWS SDK v3 clients: the region, the profile and (for tests, or a VPC endpoint) an
// endpoint from the settings, credentials from the SDK's default chain (env, profiles incl. SSO,
// instance roles), and every credential failure turned into one message that says how to fix it.
// Only client classes the caller imports are loaded: the agent needs DynamoDB and SQS, not EC2.
import { MeadowrunError } from '../../core/errors';

/** `meadowrun.aws.*` in the editor, `--profile` / `--region` / `--ami` / `--ssh-from` on the command line. */
export interface AwsSettings {
  /** A profile of ~/.aws/config; the SDK's default (AWS_PROFILE, then `default`) when absent. */
  profile?: string;
  /** The SDK's default (AWS_REGION, then the profile's region) when absent. */
  region?: string;
  /** Another endpoint for every service (an emulator); the SDK also honours AWS_ENDPOINT_URL. */
  endpoint?: string;
  /** `meadowrun.aws.ami` / `--ami`: an AMI id, or an SSM parameter naming one (a value starting with "/"); Ubuntu 24.04's parameter when absent. */
  ami?: string;
  /** `meadowrun.aws.sshFrom` / `--ssh-from`: where SSH comes from (an IPv4 CIDR) for NAT, VPN or in-VPC clients; this machine's public address /32 when absent. */
  sshFrom?: string;
}

/** What every client constructor of SDK v3 takes (each takes more). */
interface BaseConfig {
  region?: string;
  profile?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
}

interface Middleware {
  add(middleware: unknown, options: { step: 'initialize'; name: string; priority: 'high' }): void;
}

/** A client of `Client` (e.g. DynamoDBClient) configured from `settings`. */
export function awsClient<C extends { middlewareStack: Middleware }>(Client: new (config: BaseConfig) => C, settings: AwsSettings): C {
  const config: BaseConfig = {};
  if (settings.region) config.region = settings.region;
  if (settings.profile) config.profile = settings.profile;
  if (settings.endpoint) config.endpoint = settings.endpoint;
  // Buckets as paths, not host names: an emulator on 127.0.0.1 has no bucket.127.0.0.1.
  if (settings.endpoint || process.env.AWS_ENDPOINT_URL || process.env.AWS_ENDPOINT_URL_S3) config.forcePathStyle = true;
  // The SDK warns on every Node below 22 that its later releases will need 22; the pinned release
  // runs on 20, and the editor's Node is not the user's to choose: the warning would only be noise.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new Client(config);
  client.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
      try {
        return await next(args);
      } catch (e) {
        throw credentialsError(e, settings) ?? e;
      }
    },
    { step: 'initialize', name: 'meadowrunCredentialsError', priority: 'high' },
  );
  return client;
}

// Answers of AWS services to a request signed with keys they do not accept (any more).
const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'RequestExpired', 'TokenRefreshRequired']);
const REJECTED = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'AuthFailure',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
]);

/**
 * The one message for AWS credentials that are missing, expired or rejected, or for a missing
 * region, naming the fix; undefined for any other error.
 */
export function credentialsError(e: unknown, settings: AwsSettings): MeadowrunError | undefined {
  if (e instanceof MeadowrunError) return undefined;
  const name = (e as Error)?.name ?? '';
  const message = String((e as Error)?.message ?? '');
  const profile = settings.profile ?? process.env.AWS_PROFILE;
  const which = profile ? `the AWS profile "${profile}"` : 'the default AWS profile';
  const login = profile ? `\`aws sso login --profile ${profile}\`` : '`aws sso login`';
  const setUp = '`aws configure sso` (or `aws configure` for access keys)';
  const chooseProfile = 'choose a profile with the setting meadowrun.aws.profile or --profile';
  let what: string | undefined;
  if (/region is missing/i.test(message)) {
    return new MeadowrunError(
      `No AWS region: set meadowrun.aws.region (or --region, or AWS_REGION), or give ${which} a region with \`aws configure\``,
      'cloud-credentials',
      { cause: e },
    );
  } else if (/sso/i.test(message) && /(expired|invalid|refresh)/i.test(message)) {
    what = `The AWS SSO session of ${which} has expired: run ${login}`;
  } else if (name === 'CredentialsProviderError' || name === 'TokenProviderError' || /could not load credentials/i.test(message)) {
    what = `No AWS credentials found for ${which}: set them up with ${setUp}, or ${chooseProfile}`;
  } else if (EXPIRED.has(name)) {
    what = `The AWS credentials of ${which} have expired: run ${login} (or renew your keys with \`aws configure\`)`;
  } else if (REJECTED.has(name)) {
    what = `AWS rejected the credentials of ${which} (${name}): renew them with ${login} or \`aws configure\``;
  }
  return what ? new MeadowrunError(what, 'cloud-credentials', { cause: e }) : undefined;
}

/** The error's name as SDK v3 reports a service's error code (e.g. ConditionalCheckFailedException). */
export function errorName(e: unknown): string {
  return (e as Error)?.name ?? '';
}
