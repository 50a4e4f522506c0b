// `--cloud aws` end to end on the emulated AWS (moto + instances that really boot, and a stand-in
// Pricing API): a cold run-function launches the cheapest type, whose real user data boots it; the
// client pins the host key read from its console, connects, sends the agent, and the agent (with
// the instance role's credentials, from the emulated IMDS) frees the job in DynamoDB. Then a warm
// run reuses the instance. The CLI runs as a user's would, its AWS endpoint and fake keys from the
// environment, and never asks the metadata service (AWS_EC2_METADATA_DISABLED=true).
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoAllocationTable } from '../../src/cloud/aws/dynamoAllocationTable';
import { hostKeyFromConsole } from '../../src/cloud/cloudInit';
import { ec2EmulatorUnavailable, startEc2Emulator, type Ec2Emulator } from '../support/ec2emu';
import { startFakePricing, type FakePricing } from '../support/fakePricing';
import { makeProject } from '../support/localCloud';
import { startNode } from '../support/runNode';
import { tempDir } from '../support/tempDir';

const unavailable = ec2EmulatorUnavailable();
const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');

describe('--cloud aws on the emulated AWS', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let emu: Ec2Emulator;
  let pricing: FakePricing;
  let project: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    emu = await startEc2Emulator();
    pricing = await startFakePricing({ prices: { 'c5.large': 0.085, 'm5.large': 0.096, 'r5.large': 0.126, 'c5.xlarge': 0.17 } });
    project = makeProject({
      'jobs.py':
        'import socket\ndef cube(x):\n    return {"cube": x ** 3, "host": socket.gethostname()}\ndef blob(n):\n    return "x" * n\n' +
        // A cached environment last used `days` ago, as the agent leaves one (the job runs in <work>/projects/<name>), and the instance's config.
        'import json, os, time\ndef plant(name, days):\n    env = os.path.join("..", "..", "envs", name)\n    os.makedirs(env)\n' +
        '    marker = os.path.join(env, "meadowrun-environment.json")\n    with open(marker, "w") as f:\n        json.dump({"hash": name, "source": "uv.lock"}, f)\n' +
        '    then = time.time() - days * 86400\n    os.utime(marker, (then, then))\n    with open("/etc/meadowrun/agent.json") as f:\n        return json.load(f).get("environments")\n',
    });
    const home = tempDir('aws-home');
    env = {
      PATH: process.env.PATH,
      HOME: home,
      ...emu.moto.env,
      ...pricing.env,
      MEADOWRUN_AWS_INSTANCE_ENDPOINT: emu.instanceEndpoint,
      // The instances' watch looks for a spot notice every 3 s, not every 30.
      MEADOWRUN_SWEEP_INTERVAL: '3',
      MEADOWRUN_AWS_DIR: path.join(home, 'aws'),
    };
  });

  after(async () => {
    await pricing?.stop();
    await emu?.stop();
  });

  const meadowrun = (...args: string[]) => start(...args).done;
  // The image and where SSH comes from as a user sets them (the MEADOWRUN_AWS_* variables are tested in awsMapFaults).
  const start = (...args: string[]) => startNode(cli, ['--cloud', 'aws', '--ami', 'ami-12c6146b', '--ssh-from', '127.0.0.1/32', ...args], { cwd: project, env });
  const table = () => {
    Object.assign(process.env, emu.moto.env);
    return DynamoAllocationTable.open({}, 'meadowrun-allocation');
  };

  it('runs a function cold (launch → boot → host key → SSH → agent → result), then warm on the same instance', async () => {
    const cold = await meadowrun('run-function', 'jobs.py:cube', '--args', '[3]', '--json');
    assert.equal(cold.code, 0, `${cold.stderr}\n${emu.log.slice(-10).join('\n')}`);
    const result = JSON.parse(cold.stdout);
    assert.equal(result.outcome.status, 'succeeded', cold.stdout);
    const value = JSON.parse(result.outcome.value.json);
    assert.equal(value.cube, 27);
    assert.equal(result.launched, true);
    const [instance] = emu.instances();
    assert.ok(instance, 'one instance runs');
    assert.equal(result.instanceId, instance.id);
    assert.equal(value.host, `ip-${instance.privateIp.replace(/\./g, '-')}`, 'the function ran on the emulated instance');
    assert.deepEqual(emu.moto.launchAttempts.map((a) => [a.instanceType, a.market]), [['c5.large', 'on-demand']]);

    // The agent on the instance freed the job in DynamoDB, with the instance role's credentials.
    const [row] = await table().listInstances();
    assert.equal(row.id, instance.id);
    assert.deepEqual(row.jobs, {});
    assert.equal(row.ssh?.user, 'meadowrun');
    assert.equal(row.state, 'ready');
    // The instance published its host key in its row (with its role's credentials): the key sshd has, as on the console.
    assert.equal(row.ssh?.hostKey, await table().publishedHostKey(instance.id));
    assert.equal(row.ssh?.hostKey, hostKeyFromConsole(emu.consoleOutput(instance.id) ?? ''));

    const warm = await meadowrun('run-function', 'jobs.py:cube', '--args', '[4]', '--json');
    assert.equal(warm.code, 0, warm.stderr);
    const again = JSON.parse(warm.stdout);
    assert.deepEqual([JSON.parse(again.outcome.value.json).cube, again.instanceId, again.launched], [64, instance.id, false]);
    assert.equal(emu.moto.launchAttempts.length, 1, 'the warm run launched nothing');
    console.log(`aws: cold run-function ${cold.seconds.toFixed(1)} s, warm ${warm.seconds.toFixed(1)} s (each a new CLI process)`);
  });

  it('runs a map job on the warm instance: 200 tasks, 2 workers, every result in order; a result over a queue message goes through S3; no queue or payload is left', async () => {
    const launches = emu.moto.launchAttempts.length;
    const map = await meadowrun('run-map', 'jobs.py:cube', '--args', 'range(200)', '--workers', '2', '--cpu', '0.5', '--memory', '0.5', '--json');
    assert.equal(map.code, 0, map.stderr);
    const out = JSON.parse(map.stdout);
    assert.equal(out.status, 'succeeded', map.stdout);
    assert.deepEqual(out.results.map((r: { cube: number }) => r.cube), Array.from({ length: 200 }, (_, i) => i ** 3));
    assert.deepEqual(out.failures, []);
    // 300 KB is over SQS's 256 KiB: the result is put in the payload bucket, the message refers to it.
    const big = await meadowrun('run-map', 'jobs.py:blob', '--args', '[300000, 3]', '--workers', '1', '--cpu', '0.5', '--memory', '0.5', '--json');
    assert.equal(big.code, 0, big.stderr);
    assert.deepEqual(JSON.parse(big.stdout).results.map((r: string) => r.length), [300000, 3]);
    assert.equal(emu.moto.launchAttempts.length, launches, 'both ran on the warm instance');

    const queues = await new SQSClient({}).send(new ListQueuesCommand({ QueueNamePrefix: 'meadowrun-' }));
    assert.deepEqual(queues.QueueUrls ?? [], [], 'the maps deleted their queues');
    const objects = await new S3Client({ forcePathStyle: true }).send(new ListObjectsV2Command({ Bucket: 'meadowrun-payloads-123456789012-us-east-1' }));
    assert.deepEqual(objects.Contents ?? [], [], 'and their payloads');
    console.log(`aws: run-map of 200 tasks on 2 workers ${map.seconds.toFixed(1)} s; one 300 KB result through S3 ${big.seconds.toFixed(1)} s`);
  });

  it("meadowrun envs list|prune reach the instance over SSH; the instance was launched with the environments' age for its watch", async () => {
    const planted = await meadowrun('run-function', 'jobs.py:plant', '--args', '["0ld0ld0ld0ld0ld0", 30]', '--json');
    assert.equal(planted.code, 0, planted.stderr);
    assert.deepEqual(JSON.parse(JSON.parse(planted.stdout).outcome.value.json), { maxAgeS: 7 * 86400 }, 'the default week: no management configuration is installed');
    const envs = async (...args: string[]) => {
      const r = await meadowrun('envs', ...args, '--json');
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { instanceId: string; hash: string; source: string; inUse: boolean; removed?: boolean }[];
    };
    const [instance] = emu.instances();
    const listed = await envs('list');
    assert.deepEqual(listed.map((e) => [e.instanceId, e.hash, e.source, e.inUse]), [[instance.id, '0ld0ld0ld0ld0ld0', 'uv.lock', false]]);
    assert.deepEqual((await envs('prune', '--older-than', '60')).map((e) => [e.hash, !!e.removed]), [['0ld0ld0ld0ld0ld0', false]], 'used 30 days ago: kept');
    assert.deepEqual((await envs('prune', '--older-than', '7')).map((e) => [e.hash, !!e.removed]), [['0ld0ld0ld0ld0ld0', true]]);
    assert.deepEqual(await envs('list'), []);
  });

  it('launches the next cheapest type when the cheapest has no capacity in any zone, saying so', async () => {
    emu.moto.injectLaunchError({ instanceType: 'm5.large', code: 'InsufficientInstanceCapacity' });
    const before = emu.moto.launchAttempts.length;
    // 6 GB fits neither the warm c5.large nor a new one: m5.large is the cheapest that does.
    const r = await meadowrun('run-function', 'jobs.py:cube', '--args', '[5]', '--memory', '6');
    emu.moto.clearLaunchErrors();
    assert.equal(r.code, 0, r.stderr);
    const attempts = emu.moto.launchAttempts.slice(before);
    assert.ok(attempts.length >= 2 && attempts.slice(0, -1).every((a) => a.instanceType === 'm5.large' && a.error === 'InsufficientInstanceCapacity'), JSON.stringify(attempts));
    assert.equal(new Set(attempts.slice(0, -1).map((a) => a.availabilityZone)).size, attempts.length - 1, 'each zone once');
    assert.deepEqual([attempts.at(-1)!.instanceType, attempts.at(-1)!.error], ['r5.large', undefined]);
    // Each zone tried is said as it fails (the editor's progress shows the same lines), then the type given up.
    const zones = attempts.slice(0, -1).map((a) => a.availabilityZone).filter(Boolean);
    for (const [i, zone] of zones.slice(0, -1).entries()) assert.ok(r.stderr.includes(`in ${zone} (InsufficientInstanceCapacity), trying ${zones[i + 1]}\n`), `${zone} → ${zones[i + 1]} in:\n${r.stderr}`);
    assert.match(r.stderr, /No capacity for m5\.large .*trying the next cheapest type/);
    assert.match(r.stderr, /Launching a r5\.large instance/);
  });

  it('a run cancelled (Ctrl-C) while its instance boots leaves nothing running or registered', async () => {
    const before = emu.moto.launchAttempts.length;
    const rows = (await table().listInstances()).map((r) => r.id);
    // 3 CPUs fit no instance running (all have 2): a c5.xlarge is launched.
    const run = start('run-function', 'jobs.py:cube', '--args', '[6]', '--cpu', '3');
    // Once RunInstances has answered, the instance exists and boots.
    const deadline = Date.now() + 60_000;
    while (!emu.moto.launchAttempts.slice(before).some((a) => a.instanceIds?.length)) {
      assert.ok(Date.now() < deadline && run.child.exitCode === null, 'the run launches an instance');
      await new Promise((r) => setTimeout(r, 20));
    }
    const id = emu.moto.launchAttempts.slice(before).find((a) => a.instanceIds?.length)!.instanceIds![0];
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    await emu.waitForGone(id);
    assert.deepEqual((await table().listInstances()).map((r) => r.id), rows, 'its row is gone');
    const described = await new EC2Client({}).send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    assert.match(described.Reservations![0].Instances![0].State!.Name!, /shutting-down|terminated/);
  });

  it("the instance's watch, started by systemd once the agent was sent, fences the instance when a spot interruption is announced", async () => {
    const first = emu.instance(emu.moto.launchAttempts.find((a) => a.instanceIds?.length)!.instanceIds![0])!;
    assert.ok(first?.on, 'the first instance (the cold run) runs');
    assert.equal((await table().getInstance(first.id))?.preventFurtherAllocation, false);
    emu.setSpotAction(first.id, 'terminate');
    // The watch looks every sweep interval (3 s here): wait for the row to change, no longer.
    const t0 = Date.now();
    for (;;) {
      const row = await table().getInstance(first.id);
      if (row?.preventFurtherAllocation) break;
      assert.ok(Date.now() - t0 < 30_000, `the watch fenced ${first.id} within 30 s\n${emu.consoleOutput(first.id)?.split('\n').slice(-15).join('\n')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    emu.setSpotAction(first.id, undefined);
    console.log(`aws: spot notice → instance fenced in ${((Date.now() - t0) / 1000).toFixed(1)} s (sweep interval 3 s)`);
  });

  it('aws status lists what Meadowrun has in the account; uninstall asks first, then terminates and removes all of it', async () => {
    const status = await meadowrun('aws', 'status', '--json');
    assert.equal(status.code, 0, status.stderr);
    const kinds = (JSON.parse(status.stdout).resources as { kind: string }[]).map((r) => r.kind);
    assert.ok(kinds.includes('EC2 instance'), kinds.join());
    for (const kind of ['DynamoDB table', 'Secrets Manager secret', 'S3 bucket', 'security group', 'IAM instance profile', 'IAM role']) assert.ok(kinds.includes(kind), `${kind} in ${kinds}`);

    // No terminal to ask on, and no --yes: it lists, and removes nothing.
    const refused = await meadowrun('aws', 'uninstall');
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /This removes from AWS us-east-1:\n(.|\n)*DynamoDB table: meadowrun-allocation/);
    assert.match(refused.stderr, /confirm with --yes/);
    assert.ok(emu.instances().length > 0, 'nothing was terminated');

    const removed = await meadowrun('aws', 'uninstall', '--yes');
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /Removed\./);
    const after = await meadowrun('aws', 'status');
    assert.equal(after.stdout, "Nothing of Meadowrun's in AWS us-east-1.\n");
    for (const i of emu.instances()) await emu.waitForGone(i.id);
  });
});
