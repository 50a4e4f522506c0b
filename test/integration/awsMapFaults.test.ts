// A map on 2 emulated EC2 instances that loses a worker and a whole instance mid-run, end to end
// with `--cloud aws`: 2,000 tasks on 2 workers (one per instance); once the first request message
// is done, one worker's Python is killed with SIGKILL on its instance and the other instance is
// terminated through the EC2 API (the emulator then really powers that machine off). Every result
// must still come back exactly once and in order, and nothing may be left: no worker process, no
// allocation, no row for the terminated instance, no queue.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { GetQueueAttributesCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoAllocationTable } from '../../src/cloud/aws/dynamoAllocationTable';
import { ec2EmulatorUnavailable, startEc2Emulator, type Ec2Emulator, type EmulatedInstance } from '../support/ec2emu';
import { jobProcesses } from '../support/machineProcesses';
import { startFakePricing, type FakePricing } from '../support/fakePricing';
import { makeProject } from '../support/localCloud';
import { startNode } from '../support/runNode';
import { tempDir } from '../support/tempDir';

const unavailable = ec2EmulatorUnavailable();
const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const TASKS = 2000;

describe('a map on AWS that loses a worker and an instance', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let emu: Ec2Emulator;
  let pricing: FakePricing;
  let project: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    emu = await startEc2Emulator();
    // Two c5.large (one worker of 2 CPUs each) cost less than one c5.xlarge holding both.
    pricing = await startFakePricing({ prices: { 'c5.large': 0.085, 'c5.xlarge': 0.4 } });
    project = makeProject({ 'jobs.py': 'import time\ndef slow_cube(x):\n    time.sleep(0.01)\n    return x ** 3\n' });
    const home = tempDir('aws-faults-home');
    env = {
      PATH: process.env.PATH,
      HOME: home,
      ...emu.moto.env,
      ...pricing.env,
      MEADOWRUN_AWS_AMI: 'ami-12c6146b',
      MEADOWRUN_AWS_SSH_FROM: '127.0.0.1/32',
      MEADOWRUN_AWS_INSTANCE_ENDPOINT: emu.instanceEndpoint,
      MEADOWRUN_AWS_DIR: path.join(home, 'aws'),
    };
    Object.assign(process.env, emu.moto.env);
  });

  after(async () => {
    await pricing?.stop();
    await emu?.stop();
  });

  it(`${TASKS} tasks on 2 instances: a worker killed with SIGKILL and the other instance terminated mid-map → every result once, in order, nothing left`, async () => {
    const t0 = Date.now();
    const map = startNode(cli, ['--cloud', 'aws', 'run-map', 'jobs.py:slow_cube', '--args', `range(${TASKS})`, '--workers', '2', '--cpu', '2', '--memory', '2', '--json'], { cwd: project, env });
    const running = () => assert.equal(map.child.exitCode, null, `the map ended before the faults were injected:\n${map.out.stderr}\n${map.out.stdout.slice(0, 2000)}`);

    // Both workers run, one on each instance, and the first request message is done.
    let workers: { instance: EmulatedInstance; pid: number }[] = [];
    let requestQueue: string | undefined;
    const sqs = new SQSClient({});
    // 2,000 tasks go out as 16 messages of 125: all 16 seen, then fewer, means one is done.
    let seen = 0;
    for (const deadline = Date.now() + 180_000; ; ) {
      running();
      assert.ok(Date.now() < deadline, `the map's 2 workers started within 180 s\n${map.out.stderr}\n${emu.log.slice(-10).join('\n')}`);
      workers = emu.instances().flatMap((instance) => jobProcesses(instance).map((pid) => ({ instance, pid })));
      requestQueue ??= (await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'meadowrun-map-' }))).QueueUrls?.find((u) => u.endsWith('-request'));
      const left = requestQueue ? await requestMessagesLeft(sqs, requestQueue) : 0;
      seen = Math.max(seen, left);
      if (workers.length === 2 && new Set(workers.map((w) => w.instance.id)).size === 2 && seen === 16 && left < 16) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const [killed, lost] = workers;
    process.kill(killed.pid, 'SIGKILL');
    await new EC2Client({}).send(new TerminateInstancesCommand({ InstanceIds: [lost.instance.id] }));
    const faultsAt = (Date.now() - t0) / 1000;

    const { code, stdout, stderr } = await map.done;
    assert.equal(code, 0, `${stderr}\n${emu.log.slice(-10).join('\n')}`);
    const out = JSON.parse(stdout);
    assert.equal(out.status, 'succeeded');
    assert.deepEqual(out.failures, []);
    assert.equal(out.results.length, TASKS);
    out.results.forEach((r: number, i: number) => assert.equal(r, i ** 3, `task ${i}`));

    // The terminated instance is really gone, and forgotten.
    await emu.waitForGone(lost.instance.id);
    const table = DynamoAllocationTable.open({}, 'meadowrun-allocation');
    const rows = await table.listInstances();
    assert.ok(!rows.some((r) => r.id === lost.instance.id), `the terminated instance is not registered: ${JSON.stringify(rows.map((r) => r.id))}`);
    for (const r of rows) assert.deepEqual(r.jobs, {}, `nothing is allocated on ${r.id}`);
    // No worker process runs anywhere, and no queue is left.
    for (const i of emu.instances()) assert.deepEqual(jobProcesses(i), [], `no job process on ${i.id}`);
    const queues = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'meadowrun-' }));
    assert.deepEqual(queues.QueueUrls ?? [], [], 'the map deleted its queues');
    // Every instance still running is registered (none launched for a replacement was left behind).
    const registered = new Set(rows.map((r) => r.id));
    for (const i of emu.instances()) assert.ok(registered.has(i.id), `${i.id} runs and is registered`);
    console.log(`aws: run-map of ${TASKS} tasks, faults injected at ${faultsAt.toFixed(1)} s, done in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${emu.moto.launchAttempts.length} launches`);
  });
});

/** Messages of the request queue not yet acknowledged (visible or claimed). */
async function requestMessagesLeft(sqs: SQSClient, url: string): Promise<number> {
  const r = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  return Number(r.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(r.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}
