// The management functions on AWS: the Lambda function `meadowrun-adjuster` (the bundled
// dist/lambda-adjuster.js, zipped in memory), its execution role, and an EventBridge rule that invokes
// it on a schedule; its configuration is an item of the allocation table, read at every run. Install
// finds what exists and creates or updates only what differs (the code by its SHA-256), so running it
// again changes nothing; uninstall removes exactly what install made.
import { createHash } from 'crypto';
import * as fs from 'fs';
import { DescribeRuleCommand, DeleteRuleCommand, EventBridgeClient, ListTargetsByRuleCommand, PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateRoleCommand, DeleteRoleCommand, DeleteRolePolicyCommand, GetRoleCommand, GetRolePolicyCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  AddPermissionCommand,
  CreateFunctionCommand,
  DeleteFunctionCommand,
  FunctionConfiguration,
  GetFunctionCommand,
  GetPolicyCommand,
  LambdaClient,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionActiveV2,
  waitUntilFunctionUpdatedV2,
} from '@aws-sdk/client-lambda';
import { CloudWatchLogsClient, CreateLogGroupCommand, DeleteLogGroupCommand, DescribeLogGroupsCommand, PutRetentionPolicyCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { version } from '../../../../package.json';
import { AdjusterRun, DEFAULT_MANAGEMENT_CONFIG, ManagementConfig, ManagementStatus, validateManagementConfig } from '../../../core/management';
import { ManagementInstaller, ManagementProgress } from '../../ports';
import type { AwsCloud } from '..';
import { awsClient } from '../clients';
import { createAllocationTable } from '../dynamoAllocationTable';
import { ADJUSTER_FUNCTION, ADJUSTER_ROLE, ADJUSTER_RULE, MEADOWRUN_TAGS } from '../names';
import { FunctionEnvironment } from './functionCloud';
import { FUNCTION_TIMEOUT_S, runFromClient } from '../../../management/managedRun';
import { builtBundle, zip } from '../../zip';
import { DynamoManagementItems } from './items';
import { adjusterRolePolicy, LAMBDA_TRUST } from './policy';

const RUNTIME = 'nodejs22.x';
const ARCHITECTURE = 'arm64'; // Graviton: the same runs for less
const MEMORY_MB = 256;
const HANDLER = 'index.handler';
const TARGET_ID = 'meadowrun-adjuster';
const PERMISSION_ID = 'meadowrun-schedule';
const DESCRIPTION = 'Meadowrun management: stops idle instances, keeps thresholds of capacity, deletes stale map queues';

/** The schedule EventBridge takes for an interval: whole minutes, at least one. */
export function scheduleFor(intervalS: number): string {
  const minutes = Math.max(1, Math.round(intervalS / 60));
  return `rate(${minutes} minute${minutes === 1 ? '' : 's'})`;
}

function scheduleMs(expression: string | undefined): number | undefined {
  const m = /^rate\((\d+) (minute|minutes|hour|hours)\)$/.exec(expression ?? '');
  return m ? Number(m[1]) * (m[2].startsWith('hour') ? 3600_000 : 60_000) : undefined;
}

/** The function's code as Lambda takes it: a zip of the bundle as index.js. The same bundle makes the same bytes. */
export function functionZip(bundle = builtBundle('lambda-adjuster.js', __dirname)): Buffer {
  return zip([{ name: 'index.js', data: fs.readFileSync(bundle) }]);
}

export function codeSha256(code: Buffer): string {
  return createHash('sha256').update(code).digest('base64');
}

const LOG_GROUP = `/aws/lambda/${ADJUSTER_FUNCTION}`;
/** Long enough to look back on a run that went wrong; short enough that the logs cost next to nothing. */
const LOG_RETENTION_DAYS = 14;

const code = (e: unknown) => ((e as Error)?.name ?? '').replace(/Exception$/, '');
const notFound = (e: unknown) => ['ResourceNotFound', 'NoSuchEntity'].includes(code(e));

export interface AwsManagementOptions {
  /** An AMI id or SSM parameter for the instances the function launches (the clients'). */
  ami?: string;
  /** The AWS endpoint the instances reach, when not AWS's own. */
  instanceEndpoint?: string;
  /** The bundle to deploy; dist/lambda-adjuster.js when absent. */
  bundle?: string;
}

export class AwsManagementInstaller implements ManagementInstaller {
  private readonly lambda: LambdaClient;
  private readonly events: EventBridgeClient;
  private readonly iam: IAMClient;
  private readonly dynamo: DynamoDBClient;
  private readonly logs: CloudWatchLogsClient;
  readonly items: DynamoManagementItems;

  constructor(
    private readonly cloud: AwsCloud,
    private readonly o: AwsManagementOptions = {},
  ) {
    this.lambda = awsClient(LambdaClient, cloud.settings);
    this.events = awsClient(EventBridgeClient, cloud.settings);
    this.iam = awsClient(IAMClient, cloud.settings);
    this.dynamo = awsClient(DynamoDBClient, cloud.settings);
    this.logs = awsClient(CloudWatchLogsClient, cloud.settings);
    this.items = new DynamoManagementItems(this.dynamo, cloud.table.tableName);
  }

  async config(): Promise<ManagementConfig> {
    return (await this.items.readConfig()) ?? DEFAULT_MANAGEMENT_CONFIG;
  }

  async install(config: ManagementConfig, o: ManagementProgress = {}): Promise<void> {
    const say = o.onProgress ?? (() => undefined);
    config = validateManagementConfig(config);
    const zipped = functionZip(this.o.bundle);
    const tableName = this.cloud.table.tableName;
    if (await createAllocationTable(this.dynamo, tableName)) say(`Created the DynamoDB table ${tableName}`);
    await this.items.writeConfig(config);
    say(`Stored the configuration in ${tableName} (thresholds, idle timeout: read at every run)`);
    const bucket = await this.cloud.payloadBucket();
    const role = await this.ensureRole(tableName, bucket, say);
    const env: FunctionEnvironment = {
      MEADOWRUN_VERSION: version,
      MEADOWRUN_TABLE: tableName,
      MEADOWRUN_PAYLOAD_BUCKET: bucket,
      MEADOWRUN_SSH_PUBLIC_KEY: (await this.cloud.secrets.getSshKeyPair()).publicKey,
      ...(this.o.ami && { MEADOWRUN_AMI: this.o.ami }),
      ...(this.o.instanceEndpoint && { MEADOWRUN_INSTANCE_ENDPOINT: this.o.instanceEndpoint }),
    };
    await this.ensureLogGroup(say);
    const functionArn = await this.ensureFunction(role, zipped, env as unknown as Record<string, string>, say);
    const ruleArn = await this.ensureRule(scheduleFor(config.intervalS), say);
    await this.ensureTarget(functionArn, say);
    await this.ensurePermission(ruleArn, say);
  }

  /**
   * Made before the function, so Lambda does not make it on its first run: untagged, and kept
   * forever (a run a minute would bill storage for good).
   */
  private async ensureLogGroup(say: (line: string) => void): Promise<void> {
    const { logGroups } = await this.logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: LOG_GROUP }));
    const group = logGroups?.find((g) => g.logGroupName === LOG_GROUP);
    if (!group) {
      await this.logs.send(new CreateLogGroupCommand({ logGroupName: LOG_GROUP, tags: Object.fromEntries(MEADOWRUN_TAGS.map((t) => [t.Key, t.Value])) }));
    }
    if (group?.retentionInDays !== LOG_RETENTION_DAYS) {
      await this.logs.send(new PutRetentionPolicyCommand({ logGroupName: LOG_GROUP, retentionInDays: LOG_RETENTION_DAYS }));
      say(`${group ? 'Updated' : 'Created'} the log group ${LOG_GROUP} (runs kept ${LOG_RETENTION_DAYS} days)`);
    }
  }

  private async ensureRole(tableName: string, bucket: string, say: (line: string) => void): Promise<string> {
    let arn = await this.iam
      .send(new GetRoleCommand({ RoleName: ADJUSTER_ROLE }))
      .then((r) => r.Role!.Arn!)
      .catch((e) => (notFound(e) ? undefined : Promise.reject(e)));
    if (!arn) {
      const r = await this.iam.send(
        new CreateRoleCommand({ RoleName: ADJUSTER_ROLE, AssumeRolePolicyDocument: LAMBDA_TRUST, Tags: MEADOWRUN_TAGS, Description: 'Meadowrun management function: its table, instances, queues and logs' }),
      );
      arn = r.Role!.Arn!;
      say(`Created the IAM role ${ADJUSTER_ROLE}`);
    }
    const policy = adjusterRolePolicy({ tableName, bucket });
    const current = await this.iam
      .send(new GetRolePolicyCommand({ RoleName: ADJUSTER_ROLE, PolicyName: ADJUSTER_ROLE }))
      .then((r) => decodeURIComponent(r.PolicyDocument ?? ''))
      .catch((e) => (notFound(e) ? undefined : Promise.reject(e)));
    if (!current || JSON.stringify(JSON.parse(current)) !== policy) {
      await this.iam.send(new PutRolePolicyCommand({ RoleName: ADJUSTER_ROLE, PolicyName: ADJUSTER_ROLE, PolicyDocument: policy }));
      say(`${current ? 'Updated' : 'Set'} the role's policy (least privilege: its table, Meadowrun's instances, queues and payloads, its logs)`);
    }
    return arn;
  }

  private async ensureFunction(role: string, zipped: Buffer, env: Record<string, string>, say: (line: string) => void): Promise<string> {
    const existing = await this.lambda.send(new GetFunctionCommand({ FunctionName: ADJUSTER_FUNCTION })).catch((e) => (notFound(e) ? undefined : Promise.reject(e)));
    const settings = { Role: role, Runtime: RUNTIME, Handler: HANDLER, Timeout: FUNCTION_TIMEOUT_S, MemorySize: MEMORY_MB, Description: DESCRIPTION, Environment: { Variables: env } } as const;
    if (!existing?.Configuration) {
      // A role made moments ago may not be assumable by Lambda yet (IAM is eventually consistent).
      const deadline = Date.now() + 90_000;
      for (;;) {
        try {
          const created = await this.lambda.send(
            new CreateFunctionCommand({ FunctionName: ADJUSTER_FUNCTION, ...settings, Architectures: [ARCHITECTURE], Code: { ZipFile: zipped }, Tags: { meadowrun: 'true' } }),
          );
          await waitUntilFunctionActiveV2({ client: this.lambda, maxWaitTime: 120, minDelay: 1, maxDelay: 5 }, { FunctionName: ADJUSTER_FUNCTION });
          say(`Created the Lambda function ${ADJUSTER_FUNCTION} (version ${version}, ${RUNTIME} on ${ARCHITECTURE}, ${Math.round(zipped.length / 1024)} KB)`);
          return created.FunctionArn!;
        } catch (e) {
          if (!(code(e) === 'InvalidParameterValue' && /role/i.test((e as Error).message)) || Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 3000));
        }
      }
    }
    const current = existing.Configuration;
    if (current.CodeSha256 !== codeSha256(zipped) || current.Architectures?.[0] !== ARCHITECTURE) {
      await this.lambda.send(new UpdateFunctionCodeCommand({ FunctionName: ADJUSTER_FUNCTION, ZipFile: zipped, Architectures: [ARCHITECTURE] }));
      await waitUntilFunctionUpdatedV2({ client: this.lambda, maxWaitTime: 120, minDelay: 1, maxDelay: 5 }, { FunctionName: ADJUSTER_FUNCTION });
      say(`Updated the function's code (version ${current.Environment?.Variables?.MEADOWRUN_VERSION ?? '?'} → ${version})`);
    }
    if (configurationDiffers(current, settings)) {
      await this.lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: ADJUSTER_FUNCTION, ...settings }));
      await waitUntilFunctionUpdatedV2({ client: this.lambda, maxWaitTime: 120, minDelay: 1, maxDelay: 5 }, { FunctionName: ADJUSTER_FUNCTION });
      say(`Updated the function's settings`);
    }
    return current.FunctionArn!;
  }

  private async ensureRule(schedule: string, say: (line: string) => void): Promise<string> {
    const rule = await this.events.send(new DescribeRuleCommand({ Name: ADJUSTER_RULE })).catch((e) => (notFound(e) ? undefined : Promise.reject(e)));
    if (rule?.Arn && rule.ScheduleExpression === schedule && rule.State === 'ENABLED') return rule.Arn;
    const r = await this.events.send(
      new PutRuleCommand({ Name: ADJUSTER_RULE, ScheduleExpression: schedule, State: 'ENABLED', Description: 'Runs the Meadowrun management function', Tags: MEADOWRUN_TAGS }),
    );
    say(`${rule ? 'Updated' : 'Created'} the EventBridge rule ${ADJUSTER_RULE} (${schedule})`);
    return r.RuleArn!;
  }

  private async ensureTarget(functionArn: string, say: (line: string) => void): Promise<void> {
    const targets = await this.events.send(new ListTargetsByRuleCommand({ Rule: ADJUSTER_RULE }));
    if (targets.Targets?.some((t) => t.Id === TARGET_ID && t.Arn === functionArn)) return;
    await this.events.send(new PutTargetsCommand({ Rule: ADJUSTER_RULE, Targets: [{ Id: TARGET_ID, Arn: functionArn }] }));
    say(`Made the function the rule's target`);
  }

  private async ensurePermission(ruleArn: string, say: (line: string) => void): Promise<void> {
    const policy = await this.lambda
      .send(new GetPolicyCommand({ FunctionName: ADJUSTER_FUNCTION }))
      .then((r) => JSON.parse(r.Policy ?? '{}') as { Statement?: { Sid?: string }[] })
      .catch((e) => (notFound(e) ? undefined : Promise.reject(e)));
    if (policy?.Statement?.some((s) => s.Sid === PERMISSION_ID)) return;
    await this.lambda.send(
      new AddPermissionCommand({ FunctionName: ADJUSTER_FUNCTION, StatementId: PERMISSION_ID, Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com', SourceArn: ruleArn }),
    );
    say(`Let the rule invoke the function`);
  }

  async uninstall(o: ManagementProgress = {}): Promise<void> {
    const say = o.onProgress ?? (() => undefined);
    const ignoreMissing = (e: unknown) => (notFound(e) ? false : Promise.reject(e));
    const done = <T>(p: Promise<T>) => p.then(() => true, ignoreMissing);
    // The schedule first, so nothing invokes a function being removed.
    if (await done(this.events.send(new RemoveTargetsCommand({ Rule: ADJUSTER_RULE, Ids: [TARGET_ID] })))) say(`Removed the rule's target`);
    const rule = await done(this.events.send(new DescribeRuleCommand({ Name: ADJUSTER_RULE })));
    if (rule && (await done(this.events.send(new DeleteRuleCommand({ Name: ADJUSTER_RULE }))))) say(`Deleted the EventBridge rule ${ADJUSTER_RULE}`);
    if (await done(this.lambda.send(new DeleteFunctionCommand({ FunctionName: ADJUSTER_FUNCTION })))) say(`Deleted the Lambda function ${ADJUSTER_FUNCTION} (and its invoke permission)`);
    if (await done(this.logs.send(new DeleteLogGroupCommand({ logGroupName: LOG_GROUP })))) say(`Deleted the log group ${LOG_GROUP}`);
    if (await done(this.iam.send(new DeleteRolePolicyCommand({ RoleName: ADJUSTER_ROLE, PolicyName: ADJUSTER_ROLE })))) say(`Deleted the role's policy`);
    if (await done(this.iam.send(new DeleteRoleCommand({ RoleName: ADJUSTER_ROLE })))) say(`Deleted the IAM role ${ADJUSTER_ROLE}`);
    const items = await this.items.deleteAll();
    if (items.length) say(`Removed the management's items from ${this.cloud.table.tableName} (${items.join(', ')})`);
  }

  async status(): Promise<ManagementStatus> {
    const [fn, rule, run, config] = await Promise.all([
      this.lambda.send(new GetFunctionCommand({ FunctionName: ADJUSTER_FUNCTION })).catch((e) => (notFound(e) ? undefined : Promise.reject(e))),
      this.events.send(new DescribeRuleCommand({ Name: ADJUSTER_RULE })).catch((e) => (notFound(e) ? undefined : Promise.reject(e))),
      this.items.readRun(),
      this.config(),
    ]);
    const installed = !!fn?.Configuration;
    const every = rule?.State === 'ENABLED' ? scheduleMs(rule.ScheduleExpression) : undefined;
    const region = this.cloud.region;
    const group = LOG_GROUP;
    return {
      installed,
      version: fn?.Configuration?.Environment?.Variables?.MEADOWRUN_VERSION,
      detail: installed
        ? `Lambda ${ADJUSTER_FUNCTION} in ${region}, ${rule ? `${rule.ScheduleExpression}${rule.State === 'ENABLED' ? '' : ' (disabled)'}` : 'no schedule'}`
        : undefined,
      config,
      lastRun: run?.lastRun,
      // EventBridge keeps its own clock; the last run plus the rate is when the next is due.
      nextRunAt: installed && every ? Math.max(Date.now(), (run?.lastRun.at ?? Date.now()) + every) : undefined,
      logGroup: group,
      logLink: `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#logsV2:log-groups/log-group/${encodeURIComponent(encodeURIComponent(group)).replace(/%/g, '$')}`,
    };
  }

  runOnce(o: { dryRun?: boolean; now?: number } = {}): Promise<AdjusterRun> {
    return runFromClient(this.cloud, this.items, o);
  }
}

function configurationDiffers(current: FunctionConfiguration, wanted: { Role: string; Runtime: string; Handler: string; Timeout: number; MemorySize: number; Description: string; Environment: { Variables: Record<string, string> } }): boolean {
  const vars = current.Environment?.Variables ?? {};
  const want = wanted.Environment.Variables;
  return (
    current.Role !== wanted.Role ||
    current.Runtime !== wanted.Runtime ||
    current.Handler !== wanted.Handler ||
    current.Timeout !== wanted.Timeout ||
    current.MemorySize !== wanted.MemorySize ||
    current.Description !== wanted.Description ||
    Object.keys(vars).length !== Object.keys(want).length ||
    Object.entries(want).some(([k, v]) => vars[k] !== v)
  );
}
