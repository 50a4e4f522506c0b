// The AWS cloud as the management function sees it: its configuration from the function's
// environment (set by the installer), the credentials of its execution role, and an EC2 provider
// that launches into the account as `meadowrun aws prepare` left it without changing it.
import * as os from 'os';
import * as path from 'path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeSecurityGroupsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { PricingClient } from '@aws-sdk/client-pricing';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { MeadowrunError } from '../../../core/errors';
import { pricingRegion } from '../catalog';
import { awsClient, AwsSettings } from '../clients';
import { DynamoAllocationTable } from '../dynamoAllocationTable';
import { Ec2Provider } from '../ec2Provider';
import { ALLOCATION_TABLE } from '../names';
import { INSTANCE_PROFILE, SECURITY_GROUP } from '../prepare';
import { S3PayloadStore } from '../s3PayloadStore';
import { SqsTaskQueues } from '../sqsTaskQueues';
import { INSIDE_THE_FUNCTION, ManagedCloud, ManagementItems, publicKeyOnly } from '../../../management/managedRun';
import { DynamoManagementItems } from './items';

/** The function's environment variables, as the installer sets them. */
export interface FunctionEnvironment {
  MEADOWRUN_VERSION: string;
  MEADOWRUN_TABLE: string;
  MEADOWRUN_PAYLOAD_BUCKET: string;
  /** The clients' SSH public key, which the instances it launches accept (the private key stays in Secrets Manager). */
  MEADOWRUN_SSH_PUBLIC_KEY: string;
  /** An AMI id or SSM parameter, when the clients use one other than the default. */
  MEADOWRUN_AMI?: string;
  /** The AWS endpoint the instances reach (a VPC endpoint, an emulator), when not AWS's own. */
  MEADOWRUN_INSTANCE_ENDPOINT?: string;
}

/** What the function's code needs: the cloud's ports and the management items. */
export function functionCloud(env: NodeJS.ProcessEnv = process.env): { cloud: ManagedCloud; items: ManagementItems } {
  const region = env.AWS_REGION;
  const publicKey = env.MEADOWRUN_SSH_PUBLIC_KEY;
  const bucket = env.MEADOWRUN_PAYLOAD_BUCKET;
  if (!region || !publicKey || !bucket) {
    throw new MeadowrunError('The management function lacks AWS_REGION, MEADOWRUN_SSH_PUBLIC_KEY or MEADOWRUN_PAYLOAD_BUCKET: install it again', 'bad-config');
  }
  const tableName = env.MEADOWRUN_TABLE || ALLOCATION_TABLE;
  const settings: AwsSettings = { region };
  const dynamo = awsClient(DynamoDBClient, settings);
  const ec2 = awsClient(EC2Client, settings);
  const ami = env.MEADOWRUN_AMI;
  const table = new DynamoAllocationTable(dynamo, tableName);
  const items = new DynamoManagementItems(dynamo, tableName);
  const provider = new Ec2Provider({
    ec2,
    ssm: awsClient(SSMClient, settings),
    iam: awsClient(IAMClient, settings), // never called: findPrepared replaces what prepare makes
    pricing: awsClient(PricingClient, { ...settings, region: pricingRegion(region) }),
    region,
    cacheDir: path.join(os.tmpdir(), 'meadowrun-catalog'),
    tableName,
    ami: ami?.startsWith('/') ? { parameter: ami } : ami ? { id: ami } : undefined,
    instanceEndpoint: env.MEADOWRUN_INSTANCE_ENDPOINT || undefined,
    payloadBucket: async () => bucket,
    publishedHostKey: (id) => table.publishedHostKey(id),
    environmentMaxAgeS: async () => (await items.readConfig())?.environmentMaxAgeS,
    findPrepared: async () => {
      const r = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [SECURITY_GROUP] }, { Name: 'tag:meadowrun', Values: ['true'] }] }));
      const securityGroup = r.SecurityGroups?.[0]?.GroupId;
      if (!securityGroup) throw new MeadowrunError(`No security group ${SECURITY_GROUP}: run \`meadowrun aws prepare\` (the management function launches only into a prepared account)`, 'launch');
      return { securityGroup, instanceProfile: INSTANCE_PROFILE };
    },
  });
  const cloud: ManagedCloud = {
    location: `AWS ${region} (management function)`,
    clientDir: path.join(os.tmpdir(), 'meadowrun-clients'),
    provider,
    table,
    secrets: publicKeyOnly(publicKey),
    queues: SqsTaskQueues.open(settings),
    payloads: new S3PayloadStore(awsClient(S3Client, settings), bucket),
    management: INSIDE_THE_FUNCTION,
  };
  return { cloud, items };
}
