// The EC2 provider on the emulated AWS (moto + instances that really boot, test/support/ec2emu, and
// a stand-in Pricing API): its catalog, a launch whose real user data boots to a pinned SSH login
// with Node and Python, a zone without capacity skipped for the next one, and a launch cancelled
// while it boots leaving nothing running.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { PricingClient } from '@aws-sdk/client-pricing';
import { SSMClient } from '@aws-sdk/client-ssm';
import { Ec2Provider } from '../../src/cloud/aws/ec2Provider';
import { INSTALL_DOCKER } from '../../src/cloud/cloudInit';
import { MeadowrunError } from '../../src/core/errors';
import type { SshEndpoint } from '../../src/cloud/ports';
import { ec2EmulatorUnavailable, startEc2Emulator, type Ec2Emulator } from '../support/ec2emu';
import { startFakePricing, type FakePricing } from '../support/fakePricing';
import { tempDir } from '../support/tempDir';
import { sshExec as runOverSsh } from '../support/sshExec';
import { Client, type ConnectConfig } from 'ssh2';

const unavailable = ec2EmulatorUnavailable();
// Three x86 types, one burstable and one arm64: only the three are eligible for an x86 AMI.
const PRICES = { 'c5.large': 0.085, 'm5.large': 0.096, 'r5.large': 0.126, 't3.micro': 0.0104, 'm7g.medium': 0.0408 };

describe('EC2 provider on the emulated AWS', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let emu: Ec2Emulator;
  let pricing: FakePricing;
  let provider: Ec2Provider;
  let publicKey: string;
  let privateKey: Buffer;
  let cache: string;
  const attempts: string[] = [];
  const phases: { id: string; phase: string; detail?: string; at: number }[] = [];

  before(async () => {
    emu = await startEc2Emulator();
    pricing = await startFakePricing({ prices: PRICES });
    Object.assign(process.env, emu.moto.env, pricing.env);
    const dir = tempDir('ec2provider');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'meadowrun-test', '-f', path.join(dir, 'key')]);
    privateKey = fs.readFileSync(path.join(dir, 'key'));
    publicKey = fs.readFileSync(path.join(dir, 'key.pub'), 'utf8').trim();
    cache = path.join(dir, 'cache');
    provider = new Ec2Provider({
      ec2: new EC2Client({}),
      ssm: new SSMClient({}),
      iam: new IAMClient({}),
      pricing: new PricingClient({ region: 'us-east-1' }),
      region: emu.region,
      cacheDir: cache,
      tableName: 'meadowrun-allocation',
      ami: { id: 'ami-12c6146b' },
      sshFrom: '127.0.0.1/32',
      instanceEndpoint: emu.instanceEndpoint,
      pollMs: 200,
      onAttempt: (line) => attempts.push(line),
      onPhase: (id, phase, detail) => phases.push({ id, phase, detail, at: Date.now() }),
      // No allocation table here: the instance's publish finds no row, and the key comes from the console.
      publishedHostKey: async () => undefined,
      // The management config's age, which the instance's watch applies to its environments.
      environmentMaxAgeS: async () => 3 * 86400,
    });
  });

  after(async () => {
    await pricing?.stop();
    await emu?.stop();
  });

  const sshExec = (ssh: SshEndpoint, command: string) =>
    runOverSsh({ host: ssh.host, port: ssh.port, username: ssh.user, privateKey, hostKey: ssh.hostKey }, command);

  it('offers only the types that run the AMI, not burstable ones, at the Pricing API prices, cached in a private directory', async () => {
    const types = await provider.listInstanceTypes();
    assert.deepEqual(types.map((t) => [t.name, t.onDemandPrice]).sort(), [['c5.large', 0.085], ['m5.large', 0.096], ['r5.large', 0.126]]);
    const c5 = types.find((t) => t.name === 'c5.large')!;
    assert.deepEqual([c5.cpu, c5.memoryGb, c5.gpus], [2, 4, 0]);
    assert.deepEqual(c5.cpuFeatures, ['avx', 'avx2', 'avx512', 'intel']);
    // moto's spot prices, and the bundled Spot Advisor range as the eviction rate.
    assert.ok(c5.spotPrice! > 0 && c5.evictionRatePct! > 0, `spot price and eviction rate: ${JSON.stringify(c5)}`);
    assert.deepEqual(fs.readdirSync(cache).sort(), ['us-east-1-on-demand.json', 'us-east-1-spot.json', 'us-east-1-types.json']);
    assert.equal(fs.statSync(cache).mode & 0o777, 0o700);
    for (const f of fs.readdirSync(cache)) assert.equal(fs.statSync(path.join(cache, f)).mode & 0o777, 0o600, f);
  });

  it('launches the cheapest type: its user data boots it, the host key from its console is the one SSH shows, Node and Python are there', async () => {
    const [c5] = (await provider.listInstanceTypes()).filter((t) => t.name === 'c5.large');
    const t0 = Date.now();
    const { id } = await provider.launch({ type: c5, spot: false, price: c5.onDemandPrice }, publicKey);
    assert.deepEqual((await provider.listRunning()).map((r) => [r.id, r.market]), [[id, 'on-demand']], 'listed from its launch on');
    const launched = { id, ...(await provider.waitReady(id)) };
    const at = (phase: string) => ((phases.find((p) => p.id === launched.id && p.phase === phase)!.at - t0) / 1000).toFixed(1);
    console.log(`ec2Provider: launch → running ${at('running')} s → host key on the console ${at('host-key')} s → SSH answers ${at('ssh')} s`);
    assert.deepEqual(phases.filter((p) => p.id === launched.id).map((p) => [p.phase, p.detail]), [['launched', undefined], ['running', undefined], ['host-key', 'console'], ['ssh', undefined]]);
    assert.equal(launched.ssh.user, 'meadowrun');
    assert.equal(launched.ssh.host, emu.instance(launched.id)?.publicIp);
    const out = await sshExec(launched.ssh, 'node -v; python3 -c "print(1+1)"; id -un; cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub; stat -c "%U %a" /etc/meadowrun/agent.json');
    const [node, two, user, key, owner] = out.trim().split('\n');
    assert.match(node, /^v\d+\./);
    assert.deepEqual([two, user, key, owner], ['2', 'meadowrun', launched.ssh.hostKey, 'meadowrun 600']);
    // The agent's config, with the id the instance learnt as it booted.
    const config = JSON.parse(await sshExec(launched.ssh, 'cat /etc/meadowrun/agent.json'));
    assert.deepEqual(config, { ...provider.agentConfig(3 * 86400), docker: { install: INSTALL_DOCKER }, instanceId: launched.id });
    assert.deepEqual(config.environments, { maxAgeS: 3 * 86400 });
    assert.equal(config.endpoint, emu.instanceEndpoint);
    // Keys only, as sshd first started: cloud-init did not rewrite its config and restart it while it answered.
    assert.deepEqual(await authMethods(launched.ssh.host), ['publickey']);
    assert.doesNotMatch(emu.consoleOutput(launched.id) ?? '', /Stopping .*ssh\.service/);
    // A wrong pinned key is refused.
    await assert.rejects(sshExec({ ...launched.ssh, hostKey: 'AAAAC3NzaC1lZDI1NTE5AAAAIwrong' }, 'true'));
    const attempt = emu.moto.launchAttempts.at(-1)!;
    assert.deepEqual([attempt.instanceType, attempt.market], ['c5.large', 'on-demand']);
    assert.deepEqual(emu.moto.instanceProfiles.get(launched.id), { name: 'meadowrun-instance', arn: undefined });
    assert.deepEqual((await provider.listRunning()).map((r) => [r.id, r.typeName]), [[launched.id, 'c5.large']]);
    await provider.terminate(launched.id);
    await emu.waitForGone(launched.id);
    assert.deepEqual(await provider.listRunning(), []);
  });

  it('launches spot in the cheapest zone, and in the next zone when that one has no capacity', async () => {
    const [m5] = (await provider.listInstanceTypes()).filter((t) => t.name === 'm5.large');
    const before = emu.moto.launchAttempts.length;
    emu.moto.injectLaunchError({ instanceType: 'm5.large', code: 'InsufficientInstanceCapacity', times: 1 });
    const heard: string[] = [];
    const { id, zone } = await provider.launch({ type: m5, spot: true, price: m5.spotPrice! }, publicKey, { onAttempt: (l) => heard.push(l) });
    const tried = emu.moto.launchAttempts.slice(before);
    assert.equal(tried.length, 2);
    assert.deepEqual(tried.map((a) => [a.market, a.error]), [['spot', 'InsufficientInstanceCapacity'], ['spot', undefined]]);
    assert.notEqual(tried[0].availabilityZone, tried[1].availabilityZone);
    assert.equal(zone, tried[1].availabilityZone, 'the zone it was launched in is returned (the explorer shows it)');
    assert.deepEqual((await provider.listRunning()).filter((r) => r.id === id).map((r) => [r.market, r.zone]), [['spot', zone]], 'listed with its market and zone');
    const said = `No capacity for m5.large (spot) in ${tried[0].availabilityZone} (InsufficientInstanceCapacity), trying ${tried[1].availabilityZone}`;
    assert.ok(attempts.includes(said), attempts.join('\n'));
    assert.ok(heard.includes(said), `the launch's own listener (a job's progress) hears it too: ${heard.join('\n')}`);
    await provider.terminate(id);
    await emu.waitForGone(id);
  });

  it('names the quota when the account has no vCPUs left', async () => {
    const [r5] = (await provider.listInstanceTypes()).filter((t) => t.name === 'r5.large');
    emu.moto.injectLaunchError({ instanceType: 'r5.large', code: 'VcpuLimitExceeded', message: 'You have requested more vCPU capacity than your current vCPU limit', times: 1 });
    await assert.rejects(provider.start({ type: r5, spot: false, price: r5.onDemandPrice }, publicKey), (e: MeadowrunError) => {
      assert.equal(e.code, 'quota');
      assert.match(e.message, /on-demand vCPU quota .*servicequotas/);
      return true;
    });
  });

  it('a wait for a booting instance is cancelled at once; the engine then terminates it', async () => {
    const [c5] = (await provider.listInstanceTypes()).filter((t) => t.name === 'c5.large');
    const controller = new AbortController();
    const { id } = await provider.launch({ type: c5, spot: false, price: c5.onDemandPrice }, publicKey);
    const waiting = provider.waitReady(id, { signal: controller.signal });
    controller.abort();
    await assert.rejects(waiting, (e: MeadowrunError) => e.code === 'cancelled');
    await provider.terminate(id);
    await emu.waitForGone(id);
    assert.deepEqual(await provider.listRunning(), []);
  });
});

/** The authentication methods an SSH server offers (what it answers to a "none" attempt). */
function authMethods(host: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on('error', () => undefined);
    c.connect({
      host,
      username: 'meadowrun',
      readyTimeout: 10_000,
      authHandler: (methodsLeft: string[] | null, _partial: boolean, next: (m: false | { type: 'none'; username: string }) => void) => {
        if (methodsLeft === null) return next({ type: 'none', username: 'meadowrun' });
        c.end();
        resolve(methodsLeft);
        next(false);
      },
    } as ConnectConfig);
    setTimeout(() => reject(new Error(`no authentication methods from ${host}`)), 15_000).unref();
  });
}
