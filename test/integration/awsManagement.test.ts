// The management functions on the emulated AWS (moto, and a stand-in Pricing API): install creates
// the Lambda function from the bundle the build produced, its role, the schedule's rule, target and
// invoke permission, all tagged; installing again changes nothing; a new bundle updates the code;
// uninstall removes it all. moto cannot run a Lambda, so the harness does what Lambda would: it
// fetches back the very zip that was deployed (GetFunction's code location), unzips it with Python's
// zipfile, and runs its handler in a Node 22 process with the function's environment, a scheduled
// event and a Lambda-shaped context — every AWS call going through a recorder, so the last test can
// check each one against the execution role's policy document.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CloudWatchLogsClient, DescribeLogGroupsCommand, ListTagsForResourceCommand } from '@aws-sdk/client-cloudwatch-logs';
import { _InstanceType, DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeRuleCommand, EventBridgeClient, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { GetRoleCommand, GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetFunctionCommand, GetPolicyCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetQueueUrlCommand, SQSClient, TagQueueCommand } from '@aws-sdk/client-sqs';
import { AwsCloud } from '../../src/cloud/aws';
import { AwsManagementInstaller, functionZip } from '../../src/cloud/aws/management/installer';
import { DEFAULT_MANAGEMENT_CONFIG, ManagementConfig } from '../../src/core/management';
import { instanceRecord } from '../contracts/allocationTableContract';
import { allows, iamRequests, startCallRecorder, type CallRecorder } from '../support/awsCalls';
import { startFakePricing, type FakePricing } from '../support/fakePricing';
import { motoUnavailable, startMoto, type Moto } from '../support/moto';
import { invokeOnNode22, node22Unavailable } from '../support/node22Harness';
import { runNode } from '../support/runNode';
import { tempDir } from '../support/tempDir';

const root = path.join(__dirname, '..', '..');
const bundle = path.join(root, 'dist', 'lambda-adjuster.js');
const ACCOUNT = '123456789012';
const AMI = 'ami-12c6146b';

const unavailable = motoUnavailable() ?? node22Unavailable() ?? (fs.existsSync(bundle) ? undefined : 'dist/lambda-adjuster.js is not built');

describe('AWS management functions on moto', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let moto: Moto;
  let pricing: FakePricing;
  let recorder: CallRecorder;
  let cloud: AwsCloud;
  let ec2: EC2Client;
  let lambda: LambdaClient;
  const say: string[] = [];
  let sandboxTmp: string; // the function's /tmp, kept between invocations as in a warm sandbox

  before(async () => {
    moto = await startMoto();
    pricing = await startFakePricing({ prices: { 'c5.large': 0.085, 'm5.large': 0.096 } });
    Object.assign(process.env, moto.env, pricing.env);
    recorder = await startCallRecorder({ default: moto.endpoint, pricing: pricing.endpoint });
    cloud = new AwsCloud(moto.region, { ami: AMI, sshFrom: '127.0.0.1/32', dir: path.join(tempDir('aws-mgmt'), 'aws') });
    ec2 = new EC2Client({});
    lambda = new LambdaClient({});
    sandboxTmp = tempDir('lambda-tmp');
    await cloud.provider.prepare(); // what `meadowrun aws prepare` makes: the function launches into it
  });
  after(async () => {
    await recorder?.stop();
    await pricing?.stop();
    await moto?.stop();
  });
  beforeEach(() => void say.splice(0));

  const install = (c: Partial<ManagementConfig> = {}, o: { bundle?: string } = {}) =>
    (o.bundle ? new AwsManagementInstaller(cloud, { ami: AMI, bundle: o.bundle }) : cloud.management).install({ ...DEFAULT_MANAGEMENT_CONFIG, ...c }, { onProgress: (line) => say.push(line) });

  /** The function as deployed: its configuration and the zip fetched back from its code location. */
  async function deployed() {
    const fn = await lambda.send(new GetFunctionCommand({ FunctionName: 'meadowrun-adjuster' }));
    const zip = Buffer.from(await (await fetch(fn.Code!.Location!)).arrayBuffer());
    return { fn, zip };
  }

  /** One invocation as Lambda would make it: the deployed zip, unzipped, its handler run on Node 22. */
  async function invoke(o: { at?: number } = {}): Promise<{ result: Record<string, unknown>; log: string }> {
    const { fn, zip } = await deployed();
    assert.equal(createHash('sha256').update(zip).digest('base64'), fn.Configuration!.CodeSha256, 'the zip fetched back is the code Lambda runs');
    const task = tempDir('lambda-task');
    fs.writeFileSync(path.join(task, '..', `${path.basename(task)}.zip`), zip);
    execFileSync('/usr/bin/python3', ['-m', 'zipfile', '-e', path.join(task, '..', `${path.basename(task)}.zip`), task]);
    const cfg = fn.Configuration!;
    const event = { version: '0', id: crypto.randomUUID(), 'detail-type': 'Scheduled Event', source: 'aws.events', account: ACCOUNT, time: new Date(o.at ?? Date.now()).toISOString(), region: moto.region, resources: [`arn:aws:events:${moto.region}:${ACCOUNT}:rule/meadowrun-adjuster-schedule`], detail: {} };
    const env = {
      PATH: '/usr/bin:/bin',
      ...cfg.Environment!.Variables,
      AWS_REGION: moto.region,
      AWS_DEFAULT_REGION: moto.region,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_SESSION_TOKEN: 'testing',
      AWS_LAMBDA_FUNCTION_NAME: cfg.FunctionName!,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(cfg.MemorySize),
      AWS_EXECUTION_ENV: `AWS_Lambda_${cfg.Runtime}`,
      LAMBDA_TASK_ROOT: task,
      TZ: ':UTC',
      TMPDIR: sandboxTmp,
      MEADOWRUN_TEST_TIMEOUT_S: String(cfg.Timeout),
      AWS_ENDPOINT_URL: recorder.endpoint,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const [file] = cfg.Handler!.split('.');
    assert.ok(fs.existsSync(path.join(task, `${file}.js`)), `the handler's file ${file}.js is in the zip`);
    return invokeOnNode22('lambdaInvoke.cjs', [task, cfg.Handler!, JSON.stringify(event)], { cwd: task, env });
  }

  async function launchTagged(type = 'm5.large'): Promise<string> {
    const r = await ec2.send(
      new RunInstancesCommand({ ImageId: AMI, InstanceType: type as _InstanceType, MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'meadowrun', Value: 'true' }] }] }),
    );
    return r.Instances![0].InstanceId!;
  }

  async function stateOf(id: string): Promise<string | undefined> {
    const r = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return r.Reservations?.[0]?.Instances?.[0]?.State?.Name;
  }

  async function clearFleet(): Promise<void> {
    for (const r of await cloud.table.listInstances()) {
      for (const jobId of Object.keys(r.jobs)) await cloud.table.deallocateJob(r.id, jobId);
      await cloud.table.deregisterInstance(r.id);
    }
    for (const r of await cloud.provider.listRunning()) await cloud.provider.terminate(r.id);
  }

  it('install creates the function from the built bundle, its role, the rule, its target and the invoke permission, all tagged', async () => {
    await install({ idleTimeoutS: 300 });
    const { fn, zip } = await deployed();
    assert.deepEqual(zip, functionZip(bundle), 'the deployed code is the zip of dist/lambda-adjuster.js');
    const c = fn.Configuration!;
    assert.equal(c.Runtime, 'nodejs22.x');
    assert.deepEqual(c.Architectures, ['arm64']);
    assert.equal(c.Handler, 'index.handler');
    assert.equal(fn.Tags?.meadowrun, 'true');
    assert.match(c.Role!, /:role\/meadowrun-adjuster$/);
    const iam = new IAMClient({});
    assert.deepEqual((await iam.send(new GetRoleCommand({ RoleName: 'meadowrun-adjuster' }))).Role!.Tags, [{ Key: 'meadowrun', Value: 'true' }]);
    await iam.send(new GetRolePolicyCommand({ RoleName: 'meadowrun-adjuster', PolicyName: 'meadowrun-adjuster' }));
    const events = new EventBridgeClient({});
    const rule = await events.send(new DescribeRuleCommand({ Name: 'meadowrun-adjuster-schedule' }));
    assert.equal(rule.ScheduleExpression, 'rate(1 minute)');
    assert.equal(rule.State, 'ENABLED');
    const targets = await events.send(new ListTargetsByRuleCommand({ Rule: 'meadowrun-adjuster-schedule' }));
    assert.deepEqual(targets.Targets!.map((t) => t.Arn), [c.FunctionArn]);
    const policy = JSON.parse((await lambda.send(new GetPolicyCommand({ FunctionName: 'meadowrun-adjuster' }))).Policy!);
    assert.equal(policy.Statement.length, 1);
    assert.equal(policy.Statement[0].Principal.Service, 'events.amazonaws.com');
    assert.match(JSON.stringify(policy.Statement[0].Condition), /rule\/meadowrun-adjuster-schedule/);
    // (The table is there already: `meadowrun aws prepare` made it.)
    assert.deepEqual(
      say.map((l) => l.split(' ').slice(0, 4).join(' ')),
      ['Stored the configuration in', 'Created the IAM role', "Set the role's policy", 'Created the log group', 'Created the Lambda function', 'Created the EventBridge rule', "Made the function the rule's", 'Let the rule invoke'].map((l) => l.split(' ').slice(0, 4).join(' ')),
    );
    // Made by install, not by the function's first run: tagged, and not kept forever.
    const logs = new CloudWatchLogsClient({});
    const { logGroups } = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/aws/lambda/meadowrun-adjuster' }));
    assert.deepEqual(logGroups?.map((g) => [g.logGroupName, g.retentionInDays]), [['/aws/lambda/meadowrun-adjuster', 14]]);
    assert.deepEqual((await logs.send(new ListTagsForResourceCommand({ resourceArn: logGroups![0].logGroupArn!.replace(/:\*$/, '') }))).tags, { meadowrun: 'true' });
    const status = await cloud.management.status();
    assert.equal(status.installed, true);
    assert.match(status.detail!, /Lambda meadowrun-adjuster .*rate\(1 minute\)/);
    assert.equal(status.logGroup, '/aws/lambda/meadowrun-adjuster');
    assert.match(status.logLink!, /^https:\/\/us-east-1\.console\.aws\.amazon\.com\/cloudwatch\/.*\$252Faws\$252Flambda\$252Fmeadowrun-adjuster$/);
  });

  it('a second install changes nothing; a new bundle updates the code in place', async () => {
    const before = (await deployed()).fn.Configuration!;
    await install({ idleTimeoutS: 300 });
    assert.deepEqual(say, ['Stored the configuration in meadowrun-allocation (thresholds, idle timeout: read at every run)']);
    const again = (await deployed()).fn.Configuration!;
    assert.equal(again.CodeSha256, before.CodeSha256);
    assert.equal(again.LastModified, before.LastModified);

    const newer = path.join(tempDir('lambda-bundle'), 'lambda-adjuster.js');
    fs.writeFileSync(newer, fs.readFileSync(bundle, 'utf8') + '\n// a newer build\n');
    say.splice(0);
    await install({ idleTimeoutS: 300 }, { bundle: newer });
    assert.ok(say.some((l) => /^Updated the function's code/.test(l)), say.join('\n'));
    const { fn, zip } = await deployed();
    assert.notEqual(fn.Configuration!.CodeSha256, before.CodeSha256);
    assert.deepEqual(zip, functionZip(newer));
    // And back to the build's own, for the invocations below.
    await install({ idleTimeoutS: 300 });
    assert.deepEqual((await deployed()).zip, functionZip(bundle));
  });

  it('an idle instance is terminated once idle past the timeout; a younger idle one is kept', async () => {
    await clearFleet();
    await install({ idleTimeoutS: 300 });
    const now = Date.now();
    const old = await launchTagged();
    const young = await launchTagged();
    await cloud.table.registerInstance({ ...instanceRecord(old), typeName: 'm5.large', registeredAt: now - 3600_000, lastJobChangeAt: now - 301_000 });
    await cloud.table.registerInstance({ ...instanceRecord(young), typeName: 'm5.large', registeredAt: now - 3600_000, lastJobChangeAt: now - 100_000 });
    const { result, log } = await invoke({ at: now });
    assert.deepEqual(result.terminated, [old], log);
    assert.match(String((result.kept as Record<string, string>)[young]), /^idle 10\ds$/);
    assert.equal(await stateOf(old), 'terminated');
    assert.equal(await stateOf(young), 'running');
    assert.deepEqual((await cloud.table.listInstances()).map((r) => r.id), [young]);
    assert.ok((await cloud.table.getInstance(young))!.managed, 'the kept instance is marked as managed (its watchdog defers)');
    const status = await cloud.management.status();
    assert.deepEqual(status.lastRun!.terminated, [old], 'the run record');
    assert.ok(status.nextRunAt! >= Date.now() - 1000);
  });

  it('an unmet threshold launches the cheapest type, once; a later run marks it ready when EC2 shows its host key', async () => {
    await clearFleet();
    await install({ thresholds: [{ name: 'warm', cpu: 2, memoryGb: 4, gpus: 0, maxEvictionRatePct: 0, count: 1 }] });
    const first = await invoke();
    assert.equal((first.result.launched as string[]).length, 1, first.log);
    const [id] = first.result.launched as string[];
    const row = (await cloud.table.getInstance(id))!;
    assert.equal(row.state, 'launching');
    assert.equal(row.typeName, 'c5.large');
    assert.equal(moto.instanceProfiles.get(id)?.name, 'meadowrun-instance', 'launched with the instance role');
    const tags = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0].Instances![0].Tags!;
    assert.ok(tags.some((t) => t.Key === 'meadowrun' && t.Value === 'true'));

    const second = await invoke();
    assert.deepEqual(second.result.launched, [], 'the launching instance counts: nothing more is launched');
    assert.equal((await cloud.table.getInstance(id))!.state, 'launching', 'no host key on its console yet');

    moto.consoleOutput = (instance) => (instance === id ? '-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheTest root@host\n-----END SSH HOST KEY KEYS-----\n' : undefined);
    try {
      const third = await invoke();
      assert.deepEqual(third.result.launched, []);
      const ready = (await cloud.table.getInstance(id))!;
      assert.equal(ready.state, 'ready', third.log);
      assert.equal(ready.ssh!.hostKey, 'AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheTest');
      assert.equal((third.result.kept as Record<string, string>)[id], 'threshold warm');
    } finally {
      moto.consoleOutput = undefined;
    }
  });

  it('a running instance never registered is terminated after the grace period; a registered one gone from EC2 is deregistered', async () => {
    await clearFleet();
    await install({});
    const stray = await launchTagged();
    // Gone as instances go: terminated (by its idle watchdog, a spot interruption, a person).
    const gone = await launchTagged();
    await cloud.provider.terminate(gone);
    const now = Date.now();
    await cloud.table.registerInstance({ ...instanceRecord(gone), typeName: 'm5.large', registeredAt: now - 3600_000, lastJobChangeAt: now - 3600_000 });
    const within = await invoke({ at: now + 9 * 60_000 });
    assert.equal((within.result.kept as Record<string, string>)[stray], 'launching', 'within the provider grace (10 min) it may still be registering');
    assert.deepEqual(within.result.deregistered, [gone]);
    assert.equal(await cloud.table.getInstance(gone), undefined);
    const past = await invoke({ at: now + 11 * 60_000 });
    assert.deepEqual(past.result.terminated, [stray], past.log);
    assert.equal(await stateOf(stray), 'terminated');
  });

  it('two overlapping invocations do no harm: the missing capacity is launched once', async () => {
    await clearFleet();
    await install({ thresholds: [{ cpu: 2, memoryGb: 4, gpus: 0, maxEvictionRatePct: 0, count: 2 }] });
    const attempts = moto.launchAttempts.length;
    const runs = await Promise.all([invoke(), invoke()]);
    const launched = runs.flatMap((r) => r.result.launched as string[]);
    assert.equal(launched.length, 2, runs.map((r) => JSON.stringify(r.result)).join('\n'));
    assert.equal(moto.launchAttempts.length - attempts, 2, 'two RunInstances in all');
    assert.ok(runs.some((r) => r.result.skipped) || runs.some((r) => (r.result.launched as string[]).length === 0), 'one of them skipped or found the threshold met');
    assert.deepEqual((await cloud.provider.listRunning()).map((r) => r.id).sort(), launched.sort());
  });

  it('queue pairs of map jobs unused longer than the configured age are deleted, with their payloads', async () => {
    await clearFleet();
    await install({ queueMaxAgeS: 3600 });
    await cloud.queues.createPair('map-stale');
    await cloud.queues.createPair('map-fresh');
    const sqs = new SQSClient({});
    const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: 'meadowrun-map-stale-request' }))).QueueUrl!;
    await sqs.send(new TagQueueCommand({ QueueUrl: url, Tags: { 'meadowrun-last-used': String(Date.now() - 2 * 3600_000) } }));
    const payload = await cloud.payloads.put('map-stale/big', Buffer.from('x'));
    const { result, log } = await invoke();
    assert.deepEqual(result.deletedQueues, ['map-stale'], log);
    const left = (await cloud.queues.listPairs()).map((p) => p.jobId);
    assert.deepEqual(left, ['map-fresh']);
    await assert.rejects(cloud.payloads.get(payload), /does not exist/);
    await cloud.queues.deletePair('map-fresh');
  });

  it("every AWS call the function made is allowed by its execution role's policy", async () => {
    const policy = JSON.parse(decodeURIComponent((await new IAMClient({}).send(new GetRolePolicyCommand({ RoleName: 'meadowrun-adjuster', PolicyName: 'meadowrun-adjuster' }))).PolicyDocument!));
    const tags = new Map<string, Record<string, string>>();
    for (const r of (await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []) {
      for (const i of r.Instances ?? []) tags.set(i.InstanceId!, Object.fromEntries((i.Tags ?? []).map((t) => [t.Key!, t.Value!])));
    }
    const requests = recorder.calls.flatMap((c) => iamRequests(c, { region: moto.region, account: ACCOUNT, tagsOf: (id) => tags.get(id) ?? {} }));
    const actions = new Set(requests.map((r) => r.action));
    // The runs above made every kind of call: launch, terminate, the catalog, queues and payloads.
    for (const a of ['dynamodb:Scan', 'dynamodb:PutItem', 'ec2:RunInstances', 'ec2:TerminateInstances', 'ec2:GetConsoleOutput', 'iam:PassRole', 'sqs:DeleteQueue', 's3:DeleteObject', 'pricing:GetProducts']) {
      assert.ok(actions.has(a), `the function called ${a}`);
    }
    const denied = requests.filter((r) => !allows(policy, r));
    assert.deepEqual(denied.map((r) => `${r.call}: ${r.action} on ${r.resource} ${JSON.stringify(r.context)}`), []);
    // And the policy is not a blanket: an untagged instance may not be ended, another role not passed.
    assert.equal(allows(policy, { action: 'ec2:TerminateInstances', resource: `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/i-1`, context: {}, call: '' }), false);
    assert.equal(allows(policy, { action: 'iam:PassRole', resource: `arn:aws:iam::${ACCOUNT}:role/admin`, context: { 'iam:PassedToService': 'ec2.amazonaws.com' }, call: '' }), false);
    assert.equal(allows(policy, { action: 'dynamodb:Scan', resource: `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/other`, context: {}, call: '' }), false);
  });

  it('uninstall removes exactly what install made, saying what, and leaves nothing tagged meadowrun of it', async () => {
    await clearFleet();
    await cloud.management.uninstall({ onProgress: (line) => say.push(line) });
    assert.deepEqual(
      say.map((l) => l.replace(/ \(.*\)$/, '')),
      ["Removed the rule's target", 'Deleted the EventBridge rule meadowrun-adjuster-schedule', 'Deleted the Lambda function meadowrun-adjuster', 'Deleted the log group /aws/lambda/meadowrun-adjuster', "Deleted the role's policy", 'Deleted the IAM role meadowrun-adjuster', 'Removed the management\'s items from meadowrun-allocation'],
    );
    await assert.rejects(lambda.send(new GetFunctionCommand({ FunctionName: 'meadowrun-adjuster' })), /ResourceNotFound/);
    assert.deepEqual((await new CloudWatchLogsClient({}).send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/aws/lambda/meadowrun-adjuster' }))).logGroups, []);
    await assert.rejects(new IAMClient({}).send(new GetRoleCommand({ RoleName: 'meadowrun-adjuster' })), /NoSuchEntity|cannot be found/);
    await assert.rejects(new EventBridgeClient({}).send(new DescribeRuleCommand({ Name: 'meadowrun-adjuster-schedule' })), /ResourceNotFound|does not exist/);
    const status = await cloud.management.status();
    assert.equal(status.installed, false);
    assert.equal(status.lastRun, undefined);
    say.splice(0);
    await cloud.management.uninstall({ onProgress: (line) => say.push(line) });
    assert.deepEqual(say, [], 'a second uninstall finds nothing to remove');
  });

  it('the CLI: manage install|status|run-once --dry-run|uninstall --cloud aws, each step said', async () => {
    const home = tempDir('aws-mgmt-home');
    const env = { PATH: process.env.PATH, HOME: home, ...moto.env, ...pricing.env, MEADOWRUN_AWS_AMI: AMI, MEADOWRUN_AWS_SSH_FROM: '127.0.0.1/32', MEADOWRUN_AWS_DIR: path.join(home, 'aws') };
    // Not execFileSync: moto's proxy answers from this process, which must keep running meanwhile.
    const cli = async (...args: string[]) => {
      const r = await runNode(path.join(root, 'dist', 'cli.js'), ['--cloud', 'aws', 'manage', ...args], { env });
      assert.equal(r.code, 0, `meadowrun manage ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    const installed = await cli('install', '--idle-timeout', '600', '--thresholds', '[{"cpu": 2, "memoryGb": 4, "count": 1}]');
    assert.match(installed, /^Created the IAM role meadowrun-adjuster$/m);
    assert.match(installed, /^Created the Lambda function meadowrun-adjuster \(version .*nodejs22\.x on arm64/m);
    assert.match(installed, /^Created the EventBridge rule meadowrun-adjuster-schedule \(rate\(1 minute\)\)$/m);
    assert.match(installed, /^Installed the management functions \(runs every 60 s; idle timeout 600 s; 1 threshold\)\.$/m);
    const status = await cli('status');
    assert.match(status, /^Installed \(version .*, Lambda meadowrun-adjuster in us-east-1, rate\(1 minute\)\): runs every 60 s; idle timeout 600 s; 1 threshold$/m);
    assert.match(status, /^Logs: \/aws\/lambda\/meadowrun-adjuster — https:\/\/us-east-1\.console\.aws\.amazon\.com\//m);
    const plan = await cli('run-once', '--dry-run');
    assert.match(plan, /^launch +1 × c5\.large +threshold 1×\(2 CPU, 4 GB\)/m);
    assert.deepEqual(await cloud.provider.listRunning(), [], 'a dry run launches nothing');
    const removed = await cli('uninstall');
    assert.match(removed, /^Deleted the Lambda function meadowrun-adjuster/m);
    assert.match(removed, /^Uninstalled the management functions\.$/m);
    assert.match(await cli('status'), /^Not installed\.$/m);
  });
});
