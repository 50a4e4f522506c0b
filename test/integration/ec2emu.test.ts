// The EC2 emulator itself (test/support/ec2emu): instances launched through moto's API really boot,
// run their user data with cloud-init, answer SSH at the address moto reports, see an IMDS (v1/v2,
// role credentials, spot notice) that only instances can reach, reach moto from inside, and are gone
// after TerminateInstances. Also prints how long RunInstances → SSH takes for 1 and 4 instances.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ec2EmulatorUnavailable, startEc2Emulator, type Ec2Emulator } from '../support/ec2emu';
import { AwsQueryError, awsQuery, items, text } from '../support/ec2emu/awsQuery';
import { tempDir } from '../support/tempDir';
import { sshExec as runOverSsh } from '../support/sshExec';

const unavailable = ec2EmulatorUnavailable();

describe('EC2 emulator', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let emu: Ec2Emulator;
  let privateKey: Buffer;
  let userData: string;
  const ec2 = (action: string, params: Record<string, string | number | undefined> = {}) =>
    awsQuery(emu.moto.endpoint, 'ec2', emu.region, action, params);

  before(async () => {
    emu = await startEc2Emulator();
    const dir = tempDir('ec2emu-key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ec2emu-test', '-f', path.join(dir, 'key')]);
    privateKey = fs.readFileSync(path.join(dir, 'key'));
    const publicKey = fs.readFileSync(path.join(dir, 'key.pub'), 'utf8').trim();
    // A shell script, as the provider's user data will be: cloud-init runs it in its final stage.
    userData = [
      '#!/bin/sh',
      'set -eu',
      'echo "hello from user data on $(cat /var/lib/cloud/data/instance-id)" > /var/tmp/hello.txt',
      'install -d -m 700 /root/.ssh',
      `echo '${publicKey}' > /root/.ssh/authorized_keys`,
      'chmod 600 /root/.ssh/authorized_keys',
      'systemctl restart ssh',
      '',
    ].join('\n');
    const iam = (action: string, params: Record<string, string>) => awsQuery(emu.moto.endpoint, 'iam', emu.region, action, params);
    await iam('CreateRole', { RoleName: 'emu-role', AssumeRolePolicyDocument: '{"Version":"2012-10-17","Statement":[]}' });
    await iam('CreateInstanceProfile', { InstanceProfileName: 'emu-profile' });
    await iam('AddRoleToInstanceProfile', { InstanceProfileName: 'emu-profile', RoleName: 'emu-role' });
  });

  after(async () => {
    await emu?.stop();
  });

  const launch = async (count: number, extra: Record<string, string> = {}) => {
    const r = await ec2('RunInstances', {
      ImageId: 'ami-12c6146b', InstanceType: 't3.micro', MinCount: count, MaxCount: count,
      UserData: Buffer.from(userData).toString('base64'), ...extra,
    });
    return items(r, 'RunInstancesResponse', 'instancesSet').map((i) => ({ id: text(i, 'instanceId')!, publicIp: text(i, 'ipAddress')! }));
  };

  const sshExec = (host: string, command: string) => runOverSsh({ host, username: 'root', privateKey, readyTimeout: 5000 }, command);

  /** Waits for the user data to have installed the key (SSH refuses it until then). */
  const waitForSsh = async (host: string, timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await sshExec(host, 'cat /var/tmp/hello.txt');
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`no SSH login at ${host} after ${timeoutMs / 1000} s: ${(e as Error).message}\n${emu.log.join('\n')}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };

  const connectError = (host: string) =>
    new Promise<string>((resolve) => {
      const s = net.connect({ host, port: 22 });
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });

  it('boots an instance with its user data, SSH at its public address, IMDS and moto inside, and keeps its disk across stop/start, and destroys it on terminate', async () => {
    const t0 = Date.now();
    const [inst] = await launch(1, { 'IamInstanceProfile.Name': 'emu-profile' });
    assert.ok(new RegExp(`^198\\.51\\.100\\.`).test(inst.publicIp), `a public address from the emulator's pool: ${inst.publicIp}`);
    const hello = await waitForSsh(inst.publicIp);
    console.log(`ec2emu: 1 instance, RunInstances → SSH login with user data done: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(hello.trim(), `hello from user data on ${inst.id}`);

    // IMDSv2 from inside: a token, then the instance id moto gave; a wrong token is refused.
    const imds = 'http://169.254.169.254/latest';
    const v2 = `T=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' ${imds}/api/token) && curl -sf -H "X-aws-ec2-metadata-token: $T"`;
    assert.equal(await sshExec(inst.publicIp, `${v2} ${imds}/meta-data/instance-id`), inst.id);
    assert.equal(await sshExec(inst.publicIp, `curl -s -o /dev/null -w '%{http_code}' -H 'X-aws-ec2-metadata-token: forged' ${imds}/meta-data/instance-id`), '401');
    assert.equal(await sshExec(inst.publicIp, `${v2} ${imds}/meta-data/iam/security-credentials/`), 'emu-role');
    const creds = JSON.parse(await sshExec(inst.publicIp, `${v2} ${imds}/meta-data/iam/security-credentials/emu-role`));
    assert.equal(creds.Code, 'Success');
    assert.ok(creds.AccessKeyId && creds.SecretAccessKey && creds.Token, 'role credentials from moto STS');
    assert.equal(Buffer.from(await sshExec(inst.publicIp, `${v2} ${imds}/user-data`)).toString(), userData);
    // The spot notice: none until the test switches it on.
    const spot = `curl -s -w ' %{http_code}' -H "X-aws-ec2-metadata-token: $(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' ${imds}/api/token)" ${imds}/meta-data/spot/instance-action`;
    assert.match(await sshExec(inst.publicIp, spot), / 404$/);
    emu.setSpotAction(inst.id, 'terminate');
    const notice = await sshExec(inst.publicIp, spot);
    assert.match(notice, / 200$/);
    assert.equal(JSON.parse(notice.replace(/ 200$/, '')).action, 'terminate');

    // moto from inside, at the gateway: it knows this instance.
    const auth = `Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/${emu.region}/ec2/aws4_request, SignedHeaders=host, Signature=0`;
    const described = await sshExec(inst.publicIp, `curl -sf -H '${auth}' -d Action=DescribeInstances -d Version=2016-11-15 -d InstanceId.1=${inst.id} ${emu.instanceEndpoint}/`);
    assert.match(described, new RegExp(`<instanceId>${inst.id}</instanceId>`));

    // The console (cloud-init's host keys block) through GetConsoleOutput, and it is the key SSH shows.
    const consoleXml = await ec2('GetConsoleOutput', { InstanceId: inst.id });
    const consoleText = Buffer.from(text(consoleXml, 'GetConsoleOutputResponse', 'output') ?? '', 'base64').toString();
    const keyLine = /^(ssh-ed25519 \S+)/m.exec(consoleText.split('-----BEGIN SSH HOST KEY KEYS-----')[1] ?? '');
    assert.ok(keyLine, `the console shows the host keys:\n${consoleText.slice(-2000)}`);
    const hostKey = await sshExec(inst.publicIp, 'cut -d" " -f1,2 /etc/ssh/ssh_host_ed25519_key.pub');
    assert.equal(hostKey.trim(), keyLine[1]);

    // The host reaches the instance range only through the instances' namespaces.
    const vm = emu.instance(inst.id)!;
    assert.match(execFileSync('ip', ['route', 'get', inst.publicIp], { encoding: 'utf8' }), new RegExp(`dev ${vm.veth}`));
    const unused = emu.privateCidr.replace(/0\.0\/16$/, '255.254');
    assert.match(await connectError(unused), /^E(HOST|NET)UNREACH$/, `an unused address of the pool (${unused}) is unreachable`);
    assert.doesNotMatch(execFileSync('ip', ['route', 'get', '169.254.169.254'], { encoding: 'utf8' }), /^local/, 'the metadata address is not local to the host');

    // Stop powers it off and keeps its disk; start boots it again from that disk.
    await sshExec(inst.publicIp, 'echo kept > /var/tmp/kept');
    await ec2('StopInstances', { 'InstanceId.1': inst.id });
    await emu.waitForOff(inst.id);
    assert.match(await connectError(inst.publicIp), /^E(HOST|NET)UNREACH$/, 'a stopped instance does not answer');
    await ec2('StartInstances', { 'InstanceId.1': inst.id });
    const restarted = Date.now();
    await waitForSsh(inst.publicIp);
    console.log(`ec2emu: StartInstances of a stopped instance → SSH login: ${((Date.now() - restarted) / 1000).toFixed(1)} s`);
    assert.equal((await sshExec(inst.publicIp, 'cat /var/tmp/kept')).trim(), 'kept');

    await ec2('TerminateInstances', { 'InstanceId.1': inst.id });
    await emu.waitForGone(inst.id);
    assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(vm.netns), 'its network namespace is gone');
    assert.ok(!fs.readFileSync('/proc/mounts', 'utf8').includes(inst.id), 'its overlay is unmounted');
    assert.match(await connectError(inst.publicIp), /^E(HOST|NET)UNREACH$/, 'its address is unreachable once terminated');
  });

  it('answers RunInstances with an injected launch error for one type, and no instance is launched', async () => {
    emu.moto.injectLaunchError({ instanceType: 't3.nano', code: 'InsufficientInstanceCapacity', times: 1 });
    await assert.rejects(
      ec2('RunInstances', { ImageId: 'ami-12c6146b', InstanceType: 't3.nano', MinCount: 1, MaxCount: 1 }),
      (e: AwsQueryError) => e.code === 'InsufficientInstanceCapacity' && e.status === 400,
    );
    const last = emu.moto.launchAttempts.at(-1)!;
    assert.deepEqual([last.instanceType, last.error, last.instanceIds], ['t3.nano', 'InsufficientInstanceCapacity', undefined]);
    const running = await ec2('DescribeInstances', { 'Filter.1.Name': 'instance-type', 'Filter.1.Value.1': 't3.nano' });
    assert.equal(items(running, 'DescribeInstancesResponse', 'reservationSet').length, 0);
  });

  it('boots 4 instances at once, each at its own address', async () => {
    const t0 = Date.now();
    const launched = await launch(4);
    const hellos = await Promise.all(launched.map((i) => waitForSsh(i.publicIp)));
    console.log(`ec2emu: 4 instances, RunInstances → SSH login with user data done on all: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(hellos.map((h) => h.trim()), launched.map((i) => `hello from user data on ${i.id}`));
    await ec2('TerminateInstances', Object.fromEntries(launched.map((i, n) => [`InstanceId.${n + 1}`, i.id])));
    await Promise.all(launched.map((i) => emu.waitForGone(i.id)));
    assert.equal(emu.instances().length, 0);
  });
});
