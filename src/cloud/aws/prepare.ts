// What every launch needs in the account, created once and found again by name (all `meadowrun-`,
// tagged meadowrun=true): the instance role and its instance profile (least privilege: its own
// table, the map queues, the payload bucket), and the security group whose only ingress is SSH from
// the clients' addresses. Each step is idempotent; `describePrepared` lists what exists, for
// `meadowrun aws status` and `uninstall`.
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetInstanceProfileCommand,
  IAMClient,
  PutRolePolicyCommand,
  RemoveRoleFromInstanceProfileCommand,
} from '@aws-sdk/client-iam';
import { MeadowrunError } from '../../core/errors';
import { USER_SECRET_PREFIX } from './names';

export const INSTANCE_ROLE = 'meadowrun-instance';
export const INSTANCE_PROFILE = 'meadowrun-instance';
export const SECURITY_GROUP = 'meadowrun-ssh';
export const TAGS = [{ Key: 'meadowrun', Value: 'true' }];

const TRUST_EC2 = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

/**
 * What the agent on an instance may do with the role's credentials, and no more (the instance
 * side's calls, checked by test/integration/awsInstanceSide.test.ts): read its row, free jobs, fence
 * itself and deregister (DeleteItem) in the allocation table; work the map queues a client created
 * (receive, send results, extend, acknowledge, tag the pair's last use); read and write payloads.
 * Read the user secrets jobs name (meadowrun-secret-*), never the SSH key.
 * Nothing in EC2 or IAM: an instance cannot launch, list or end others, create or delete queues.
 * IAM has no actions of its own for SQS batches: SendMessage also allows SendMessageBatch, and so on.
 */
export function instanceRolePolicy(tableName: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], Resource: `arn:aws:dynamodb:*:*:table/${tableName}` },
      {
        Effect: 'Allow',
        Action: ['sqs:GetQueueUrl', 'sqs:ReceiveMessage', 'sqs:SendMessage', 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:TagQueue'],
        Resource: 'arn:aws:sqs:*:*:meadowrun-*',
      },
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:aws:s3:::meadowrun-*/*' },
      // Not called, but without it S3 answers a missing payload with 403, not 404 (payload-gone).
      { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: 'arn:aws:s3:::meadowrun-*' },
      // The user's secrets a job names (index credentials, a git key); never meadowrun-ssh-key.
      // Secrets Manager ARNs end in -XXXXXX (six random characters), hence the trailing *.
      { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: `arn:aws:secretsmanager:*:*:secret:${USER_SECRET_PREFIX}*` },
    ],
  });
}

// EC2 names errors by their code; IAM's modelled ones end in "Exception" (EntityAlreadyExistsException).
const code = (e: unknown) => ((e as Error)?.name ?? '').replace(/Exception$/, '');

/** The instance role and its profile; returns the profile's name for RunInstances. */
export async function ensureInstanceProfile(iam: IAMClient, tableName: string): Promise<string> {
  await iam.send(new CreateRoleCommand({ RoleName: INSTANCE_ROLE, AssumeRolePolicyDocument: TRUST_EC2, Tags: TAGS, Description: 'Meadowrun instances: their allocation table rows, map queues and payloads' })).catch(ignore('EntityAlreadyExists'));
  // Put every time: a newer version's policy replaces an older one.
  await iam.send(new PutRolePolicyCommand({ RoleName: INSTANCE_ROLE, PolicyName: INSTANCE_ROLE, PolicyDocument: instanceRolePolicy(tableName) }));
  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: INSTANCE_PROFILE, Tags: TAGS })).catch(ignore('EntityAlreadyExists'));
  const profile = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: INSTANCE_PROFILE }));
  if (!profile.InstanceProfile?.Roles?.some((r) => r.RoleName === INSTANCE_ROLE)) {
    await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: INSTANCE_PROFILE, RoleName: INSTANCE_ROLE })).catch(ignore('LimitExceeded'));
  }
  return INSTANCE_PROFILE;
}

function ignore(...codes: string[]) {
  return (e: unknown) => {
    if (!codes.includes(code(e))) throw e;
  };
}

/** The security group for SSH in the default VPC (instances launch there), created when missing. */
export async function ensureSecurityGroup(ec2: EC2Client): Promise<string> {
  const existing = await findSecurityGroup(ec2);
  if (existing) return existing;
  const vpcs = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }));
  const vpc = vpcs.Vpcs?.[0]?.VpcId;
  if (!vpc) throw new MeadowrunError('This AWS region has no default VPC, which Meadowrun launches instances in: create one with `aws ec2 create-default-vpc`', 'launch');
  try {
    const created = await ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: SECURITY_GROUP,
        Description: 'Meadowrun: SSH from the clients that launched instances',
        VpcId: vpc,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: TAGS }],
      }),
    );
    return created.GroupId!;
  } catch (e) {
    // Another client created it at the same moment.
    if (code(e) === 'InvalidGroup.Duplicate') return (await findSecurityGroup(ec2))!;
    throw e;
  }
}

async function findSecurityGroup(ec2: EC2Client): Promise<string | undefined> {
  const r = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [SECURITY_GROUP] }, { Name: 'tag:meadowrun', Values: ['true'] }] }));
  return r.SecurityGroups?.[0]?.GroupId;
}

/** Lets SSH in from `cidr` (the client's public address /32, or the override); already allowed is fine. */
export async function allowSsh(ec2: EC2Client, groupId: string, cidr: string): Promise<void> {
  await ec2
    .send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: cidr, Description: 'meadowrun client' }] }],
      }),
    )
    .catch(ignore('InvalidPermission.Duplicate'));
}

/** What exists of the above (for status and uninstall). */
export async function describePrepared(ec2: EC2Client, iam: IAMClient): Promise<{ kind: string; name: string }[]> {
  const found: { kind: string; name: string }[] = [];
  const group = await findSecurityGroup(ec2);
  if (group) found.push({ kind: 'security group', name: `${SECURITY_GROUP} (${group})` });
  const profile = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: INSTANCE_PROFILE })).catch(() => undefined);
  if (profile?.InstanceProfile) {
    found.push({ kind: 'IAM instance profile', name: INSTANCE_PROFILE });
    for (const r of profile.InstanceProfile.Roles ?? []) found.push({ kind: 'IAM role', name: r.RoleName! });
  }
  return found;
}

/** Removes the role, profile and security group (instances using them must be gone first). */
export async function removePrepared(ec2: EC2Client, iam: IAMClient): Promise<void> {
  const group = await findSecurityGroup(ec2);
  if (group) await ec2.send(new DeleteSecurityGroupCommand({ GroupId: group })).catch(ignore('InvalidGroup.NotFound'));
  await iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: INSTANCE_PROFILE, RoleName: INSTANCE_ROLE })).catch(ignore('NoSuchEntity'));
  await iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: INSTANCE_PROFILE })).catch(ignore('NoSuchEntity'));
  await iam.send(new DeleteRolePolicyCommand({ RoleName: INSTANCE_ROLE, PolicyName: INSTANCE_ROLE })).catch(ignore('NoSuchEntity'));
  await iam.send(new DeleteRoleCommand({ RoleName: INSTANCE_ROLE })).catch(ignore('NoSuchEntity'));
}
