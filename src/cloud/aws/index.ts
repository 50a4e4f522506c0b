// The AWS cloud: EC2 instances, the DynamoDB allocation table, the SSH key in Secrets Manager, all
// in the user's own account with the credentials the AWS tools already stored. Loaded with import()
// only when `aws` is chosen, so no other cloud's users load the SDK.
import * as os from 'os';
import * as path from 'path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { PricingClient } from '@aws-sdk/client-pricing';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { MeadowrunError } from '../../core/errors';
import { memoizeSuccess } from '../memoizeSuccess';
import { Cloud, PayloadStore } from '../ports';
import { AccountResource, describeAccount, uninstallAccount } from './account';
import { pricingRegion } from './catalog';
import { awsClient, AwsSettings } from './clients';
import { createAllocationTable, DynamoAllocationTable } from './dynamoAllocationTable';
import { Ec2Provider, Ec2ProviderOptions } from './ec2Provider';
import { AwsManagementInstaller } from './management/installer';
import { ALLOCATION_TABLE, payloadBucketName } from './names';
import { ensurePayloadBucket, S3PayloadStore } from './s3PayloadStore';
import { SecretsManagerSecretStore } from './secretsManagerSecretStore';
import { SqsTaskQueues } from './sqsTaskQueues';

/**
 * Beyond the settings: for emulators and VPC endpoints, from environment variables (MEADOWRUN_AWS_*),
 * as the tests set them.
 */
export interface AwsCloudOptions extends AwsSettings {
  /** The instances' deallocation sweep (and spot-notice check) interval and dead-job grace, in seconds; 30 and 120 by default, as on every cloud. */
  sweepIntervalS?: number;
  sweepGraceS?: number;
  /** The AWS endpoint instances reach (an emulator, a VPC endpoint). */
  instanceEndpoint?: string;
  /** Each step of a launch as it is reached (the cold-start benchmark). */
  onPhase?: Ec2ProviderOptions['onPhase'];
  /** Where this machine keeps the catalog cache and its client records (0700). */
  dir?: string;
}

export class AwsCloud implements Cloud {
  readonly location: string;
  readonly clientDir: string;
  readonly provider: Ec2Provider;
  readonly table: DynamoAllocationTable;
  readonly secrets: SecretsManagerSecretStore;
  readonly queues: SqsTaskQueues;
  readonly payloads: PayloadStore;
  readonly management: AwsManagementInstaller;

  /** Profile, region and endpoint, for the clients of `meadowrun aws status|uninstall` (account.ts). */
  readonly settings: AwsSettings;

  constructor(readonly region: string, o: AwsCloudOptions) {
    const settings: AwsSettings = { profile: o.profile, region, endpoint: o.endpoint };
    this.settings = settings;
    const dir = o.dir ?? path.join(os.homedir(), '.meadowrun', 'aws');
    this.location = `AWS ${region}${o.profile ? ` (profile ${o.profile})` : ''}`;
    this.clientDir = path.join(dir, 'clients');
    const dynamo = awsClient(DynamoDBClient, settings);
    this.table = new DynamoAllocationTable(dynamo, ALLOCATION_TABLE);
    this.secrets = SecretsManagerSecretStore.open(settings);
    this.queues = SqsTaskQueues.open(settings);
    this.s3 = awsClient(S3Client, settings);
    this.payloads = lazyPayloads(() => this.payloadStore());
    this.provider = new Ec2Provider({
      ec2: awsClient(EC2Client, settings),
      ssm: awsClient(SSMClient, settings),
      iam: awsClient(IAMClient, settings),
      pricing: awsClient(PricingClient, { ...settings, region: pricingRegion(region) }),
      region,
      cacheDir: path.join(dir, 'cache'),
      tableName: ALLOCATION_TABLE,
      ami: o.ami?.startsWith('/') ? { parameter: o.ami } : o.ami ? { id: o.ami } : undefined,
      sshFrom: o.sshFrom,
      ...((o.sweepIntervalS || o.sweepGraceS) && { sweep: { intervalS: o.sweepIntervalS || 30, graceS: o.sweepGraceS || 120 } }),
      instanceEndpoint: o.instanceEndpoint,
      onPhase: o.onPhase,
      payloadBucket: () => this.payloadStore().then((s) => s.bucket),
      publishedHostKey: (id) => this.table.publishedHostKey(id),
      prepareAlso: () => createAllocationTable(dynamo, ALLOCATION_TABLE),
      environmentMaxAgeS: async () => (await this.management.config()).environmentMaxAgeS,
    });
    this.management = new AwsManagementInstaller(this, { ami: o.ami, instanceEndpoint: o.instanceEndpoint });
  }

  private readonly s3: S3Client;

  /** The payload bucket's name: S3's names are global, so it holds the account id and the region. */
  payloadBucket(): Promise<string> {
    return this.bucketName();
  }

  private readonly bucketName = memoizeSuccess(() =>
    awsClient(STSClient, this.settings)
      .send(new GetCallerIdentityCommand({}))
      .then((r) => payloadBucketName(r.Account!, this.region)),
  );

  /** The payload store, its bucket created when missing (once per process: a map may run on warm instances, with no launch to prepare it). */
  private readonly payloadStore = memoizeSuccess(() =>
    this.payloadBucket().then(async (bucket) => {
      await ensurePayloadBucket(this.s3, bucket, this.region);
      return new S3PayloadStore(this.s3, bucket);
    }),
  );

  /** The account and identity the credentials sign in as: the check that they work. */
  async identity(): Promise<{ account: string; arn: string }> {
    const r = await awsClient(STSClient, this.settings).send(new GetCallerIdentityCommand({}));
    return { account: r.Account ?? '', arn: r.Arn ?? '' };
  }

  /**
   * What every launch needs, created ahead of the first (`meadowrun aws prepare`, the editor's
   * Prepare AWS Account): the instance profile, security group, table and bucket, and the SSH key.
   * Returns everything Meadowrun then has in the region.
   */
  async prepareAccount(say: (line: string) => void = () => undefined): Promise<AccountResource[]> {
    say('Making the instance role and profile, security group, allocation table and payload bucket (where missing)');
    await this.provider.prepare();
    say('Reading the SSH key from Secrets Manager (made on first use)');
    await this.secrets.getSshKeyPair();
    say('Listing what Meadowrun has in the region');
    return this.describeAccount();
  }

  /** Meadowrun's instances and resources in the region (account.ts). */
  describeAccount(): Promise<AccountResource[]> {
    return describeAccount(this);
  }

  /** Terminates the instances and removes everything else Meadowrun created in the region. */
  uninstallAccount(say?: (line: string) => void): Promise<void> {
    return uninstallAccount(this, say);
  }
}

export async function createAwsCloud(settings: AwsSettings = {}): Promise<AwsCloud> {
  const env = process.env;
  const options: AwsCloudOptions = {
    ...settings,
    // A setting (or flag) wins over the environment.
    ami: checkAmi(settings.ami || env.MEADOWRUN_AWS_AMI || undefined),
    sshFrom: settings.sshFrom || env.MEADOWRUN_AWS_SSH_FROM || undefined,
    instanceEndpoint: env.MEADOWRUN_AWS_INSTANCE_ENDPOINT || undefined,
    // As the local cloud reads them (tests shorten the sweep).
    sweepIntervalS: Number(env.MEADOWRUN_SWEEP_INTERVAL) || undefined,
    sweepGraceS: Number(env.MEADOWRUN_SWEEP_GRACE) || undefined,
    dir: env.MEADOWRUN_AWS_DIR || undefined,
  };
  // The region as the SDK resolves it (setting, AWS_REGION, the profile's), needed by name for the
  // catalog and the instances' config.
  const probe = awsClient(EC2Client, settings);
  const region = await probe.config.region().catch(() => undefined);
  probe.destroy();
  if (!region) {
    throw new MeadowrunError('No AWS region: set meadowrun.aws.region (or --region, or AWS_REGION), or give your profile a region with `aws configure`', 'cloud-credentials');
  }
  return new AwsCloud(region, options);
}

/** An AMI id or an SSM parameter, or one message saying what is expected. */
function checkAmi(ami: string | undefined): string | undefined {
  if (ami === undefined || /^ami-[0-9a-f]{8,17}$/.test(ami) || /^\/[\w.\-/]+$/.test(ami)) return ami;
  throw new MeadowrunError(
    `meadowrun.aws.ami (--ami) must be an AMI id such as ami-0abcdef1234567890 or an SSM parameter such as /aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id (got "${ami}")`,
    'bad-config',
  );
}

/** A payload store opened at its first use (finding the bucket's name takes a call). */
function lazyPayloads(open: () => Promise<PayloadStore>): PayloadStore {
  return {
    put: async (key, data) => (await open()).put(key, data),
    get: async (ref) => (await open()).get(ref),
    deleteJob: async (jobId) => (await open()).deleteJob(jobId),
  };
}
