// A cold run_function on the emulated AWS (moto + instances that really boot, test/support/ec2emu),
// phase by phase, then the warm path against the same floor as bench/warm-latency:
//   API       RunInstances answered (after prepare: role, security group, table, bucket)
//   running   EC2 (moto) says running
//   boot      the emulator started the instance's machine (systemd-nspawn)
//   host key  the instance published its SSH host key (in its row; or the console as fallback)
//   SSH       its sshd answers
//   agent     the agent runs and the project is synced
//   result    the function's result is back
// Warm: runFunction(noop) on the same instance (resident agent, warm fork server) and from a new
// client each time (a CLI run), against the floor: ssh2 exec of `python3 -c pass` on an open
// connection to the instance. Target, as on the local cloud: warm runFunction ≤ 0.5 × floor.
// Then the client's DynamoDB requests per warm job, and its allocation alone on that instance: a
// listing and a compare-and-swap (a client with no last instance) against one allocate-if-fits.
// Needs root (the emulator: network namespaces, overlayfs, systemd-nspawn) and the built dist/.
import * as path from 'path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { AwsCloud } from '../src/cloud/aws';
import { DEFAULT_RESOURCES } from '../src/core/resources';
import type { ReadyInstance } from '../src/cloud/ports';
import { allocateJob } from '../src/jobs/allocate';
import { Engine } from '../src/jobs/engine';
import { SshConnection } from '../src/remote/connection';
import { ec2EmulatorUnavailable, startEc2Emulator } from '../test/support/ec2emu';
import { startFakePricing } from '../test/support/fakePricing';
import { makeProject } from '../test/support/localCloud';
import { tempDir } from '../test/support/tempDir';

const N = Number(process.env.BENCH_N ?? 40);

async function timeEach(n: number, f: () => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await f();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return times;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  const unavailable = ec2EmulatorUnavailable();
  if (unavailable) throw new Error(`aws-cold-start: ${unavailable}`);
  const emu = await startEc2Emulator();
  const pricing = await startFakePricing({ prices: { 'c5.large': 0.085, 'm5.large': 0.096 } });
  Object.assign(process.env, emu.moto.env, pricing.env);
  const project = makeProject({ 'noop.py': 'def noop():\n    return None\n' });
  const phases = new Map<string, { at: number; detail?: string }>();
  const cloud = new AwsCloud(emu.region, {
    ami: 'ami-12c6146b',
    sshFrom: '127.0.0.1/32',
    instanceEndpoint: emu.instanceEndpoint,
    dir: path.join(tempDir('aws-cold-start'), 'aws'),
    onPhase: (_id, phase, detail) => void (phases.has(phase) || phases.set(phase, { at: Date.now(), detail })),
  });
  const engine = new Engine(cloud);
  try {
    const t0 = Date.now();
    let agentAt = 0;
    const cold = await engine.runFunction('noop.py:noop', '[]', {
      projectDir: project,
      onEvent: (e) => {
        if (e.kind === 'synced' && !agentAt) agentAt = Date.now();
      },
    });
    const resultAt = Date.now();
    if (cold.outcome.status !== 'succeeded' || !cold.launched) throw new Error(`the cold run did not launch and succeed: ${JSON.stringify(cold.outcome)}`);
    const bootedAt = emu.instance(cold.instanceId)?.bootedAt ?? NaN;
    const steps: [string, number, string?][] = [
      ['API (RunInstances answered)', phases.get('launched')!.at],
      ['running (EC2 says so)', phases.get('running')!.at],
      ['boot (machine started)', bootedAt],
      ['host key published', phases.get('host-key')!.at, `from the ${phases.get('host-key')!.detail}`],
      ['SSH answers', phases.get('ssh')!.at],
      ['agent up, project synced', agentAt],
      ['result', resultAt],
    ];

    for (let i = 0; i < 5; i++) await engine.runFunction('noop.py:noop', '[]', { projectDir: project });
    const instance = (await cloud.table.getInstance(cold.instanceId))!;
    const privateKey = (await cloud.secrets.getSshKeyPair()).privateKey;
    const conn = await SshConnection.open({ instanceId: instance.id, endpoint: instance.ssh!, privateKey });
    await conn.exec('python3 -c pass');
    const floor = await timeEach(N, async () => {
      const r = await conn.exec('python3 -c pass');
      if (r.exitCode !== 0) throw new Error('floor command failed');
    });
    conn.close();
    // The client's DynamoDB requests in the warm runs (the agent's release, on the instance, is not counted).
    const requests = new Map<string, number>();
    const dynamo = (cloud.table as unknown as { dynamo: DynamoDBClient }).dynamo;
    dynamo.middlewareStack.add((next, context) => (args) => (requests.set(String(context.commandName), (requests.get(String(context.commandName)) ?? 0) + 1), next(args)), {
      step: 'initialize',
      name: 'benchCount',
    });
    const warm = await timeEach(N, async () => {
      const r = await engine.runFunction('noop.py:noop', '[]', { projectDir: project });
      if (r.outcome.status !== 'succeeded' || r.instanceId !== instance.id) throw new Error(`warm run: ${JSON.stringify(r.outcome)}`);
    });
    dynamo.middlewareStack.remove('benchCount');
    // The client's allocation alone, on the same instance: as a client with no last instance does it
    // (a Scan of the table and a compare-and-swap) and as the warm path does (one allocate-if-fits).
    const allocationMs = async (preferred?: ReadyInstance) => {
      const times: number[] = [];
      for (let i = 0; i < N; i++) {
        const jobId = `bench-${preferred ? 'p' : 'l'}${i}`;
        const t = process.hrtime.bigint();
        const { instance: on } = await allocateJob(cloud, DEFAULT_RESOURCES, jobId, { preferred, noLaunch: true });
        times.push(Number(process.hrtime.bigint() - t) / 1e6);
        await cloud.table.deallocateJob(on.id, jobId);
      }
      return median(times);
    };
    const ready = (await cloud.table.getInstance(instance.id)) as ReadyInstance;
    const listed = await allocationMs();
    const preferred = await allocationMs(ready);
    const newClient = await timeEach(Math.min(N, 20), async () => {
      const client = new Engine(cloud);
      try {
        const r = await client.runFunction('noop.py:noop', '[]', { projectDir: project });
        if (r.outcome.status !== 'succeeded') throw new Error(JSON.stringify(r.outcome));
      } finally {
        client.dispose();
      }
    });

    console.log(`aws-cold-start on the EC2 emulator (${instance.typeName}); seconds from the call`);
    // In the order they happened: the emulator starts the machine as soon as moto says running,
    // which the client sees at its next look.
    let previous = t0;
    for (const [name, at, note] of steps.sort((a, b) => a[1] - b[1])) {
      console.log(`  ${name.padEnd(30)} ${((at - t0) / 1000).toFixed(2).padStart(6)}  (+${((at - previous) / 1000).toFixed(2)})${note ? `  ${note}` : ''}`);
      previous = at;
    }
    const f = median(floor);
    const w = median(warm);
    const c = median(newClient);
    console.log(`warm path (median of ${N} runs, ms)`);
    console.log(`  floor     ssh2 exec "python3 -c pass" on an open connection   ${f.toFixed(2)}`);
    console.log(`  meadowrun runFunction(noop) on the warm instance               ${w.toFixed(2)}`);
    console.log(`  meadowrun runFunction(noop) from a new client (a CLI run)     ${c.toFixed(2)}`);
    console.log(`  ratio runFunction / floor     ${(w / f).toFixed(3)}  (target ≤ 0.5, as warm-latency)`);
    const perJob = [...requests].map(([name, n]) => `${(n / N).toFixed(2)} ${name.replace(/Command$/, '')}`).join(', ');
    console.log(`  DynamoDB requests per warm job from the client: ${perJob} (the agent's release is one more)`);
    console.log(`  allocation alone: listing + compare-and-swap ${listed.toFixed(2)}, allocate-if-fits on the last instance ${preferred.toFixed(2)} (ratio ${(preferred / listed).toFixed(3)})`);
    console.log(`  ratio new client / floor      ${(c / f).toFixed(3)}`);
    console.log(`  ratio cold / warm             ${((resultAt - t0) / w).toFixed(0)}`);
  } finally {
    engine.dispose();
    for (const r of await cloud.provider.listRunning()) {
      await cloud.table.deregisterInstance(r.id);
      await cloud.provider.terminate(r.id);
    }
    await pricing.stop();
    await emu.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
