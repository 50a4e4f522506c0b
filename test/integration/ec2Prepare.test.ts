// What the EC2 provider creates in an account (on moto): the instance role and profile and the SSH
// security group, tagged, created once however often prepared, found by status and removed by
// uninstall; and the catalog's cache (fresh copies reused, a source that fails replaced by its stale
// copy, then by the bundled snapshot).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DescribeSecurityGroupsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetRolePolicyCommand, GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { PricingClient } from '@aws-sdk/client-pricing';
import { CACHE_TTL_MS, loadCatalog } from '../../src/cloud/aws/catalog';
import { allowSsh, describePrepared, ensureInstanceProfile, ensureSecurityGroup, removePrepared } from '../../src/cloud/aws/prepare';
import { clientCidr } from '../../src/cloud/clientAddress';
import { MeadowrunError } from '../../src/core/errors';
import { startFakePricing, type FakePricing } from '../support/fakePricing';
import { motoUnavailable, startMoto, type Moto } from '../support/moto';
import { tempDir } from '../support/tempDir';

const unavailable = motoUnavailable();

describe('EC2 account resources and catalog cache on moto', { skip: unavailable ? `skipped: moto could not be installed (${unavailable})` : false }, () => {
  let moto: Moto;
  let pricing: FakePricing;
  let ec2: EC2Client;
  let iam: IAMClient;
  before(async () => {
    moto = await startMoto();
    pricing = await startFakePricing({ prices: { 'c5.large': 0.085, 'm5.large': 0.096 } });
    Object.assign(process.env, moto.env, pricing.env);
    ec2 = new EC2Client({});
    iam = new IAMClient({});
  });
  after(async () => {
    await pricing?.stop();
    await moto?.stop();
  });

  it('prepares once however often called, tagged and least-privilege, lets one client address in, and uninstall removes it all', async () => {
    for (let i = 0; i < 2; i++) {
      assert.equal(await ensureInstanceProfile(iam, 'meadowrun-allocation'), 'meadowrun-instance');
    }
    const [g1, g2] = await Promise.all([ensureSecurityGroup(ec2), ensureSecurityGroup(ec2)]);
    assert.equal(g1, g2, 'two clients preparing at once share one group');
    await allowSsh(ec2, g1, '203.0.113.7/32');
    await allowSsh(ec2, g1, '203.0.113.7/32');
    const groups = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['meadowrun-ssh'] }] }))).SecurityGroups!;
    assert.equal(groups.length, 1);
    assert.deepEqual(groups[0].Tags, [{ Key: 'meadowrun', Value: 'true' }]);
    assert.deepEqual(
      groups[0].IpPermissions!.map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.IpRanges!.map((r) => r.CidrIp)]),
      [['tcp', 22, 22, ['203.0.113.7/32']]],
    );
    const role = await iam.send(new GetRoleCommand({ RoleName: 'meadowrun-instance' }));
    assert.deepEqual(role.Role?.Tags, [{ Key: 'meadowrun', Value: 'true' }]);
    const policy = JSON.parse(decodeURIComponent((await iam.send(new GetRolePolicyCommand({ RoleName: 'meadowrun-instance', PolicyName: 'meadowrun-instance' }))).PolicyDocument!));
    const actions = policy.Statement.flatMap((s: { Action: string[] }) => s.Action);
    // DeleteItem stays: an idle instance deregisters its own row (the exact list is checked against
    // the calls the instance side makes, in awsInstanceSide.test.ts).
    assert.ok(!actions.some((a: string) => /^(ec2|iam|dynamodb:(DeleteTable|Scan|CreateTable)|s3:Delete|sqs:(DeleteQueue|CreateQueue))/.test(a)), `no EC2, IAM, scans, tables, queues or bucket deletes: ${actions}`);
    assert.ok(policy.Statement.every((s: { Resource: string }) => /meadowrun-/.test(s.Resource)), 'every grant is on meadowrun- resources');

    assert.deepEqual((await describePrepared(ec2, iam)).map((r) => r.kind), ['security group', 'IAM instance profile', 'IAM role']);
    await removePrepared(ec2, iam);
    await removePrepared(ec2, iam);
    assert.deepEqual(await describePrepared(ec2, iam), []);
  });

  it('refuses an SSH source that is not a CIDR, naming the setting', async () => {
    assert.equal(await clientCidr('10.1.0.0/16'), '10.1.0.0/16');
    assert.equal(await clientCidr(undefined, async () => '198.51.100.9'), '198.51.100.9/32');
    await assert.rejects(clientCidr('my laptop'), (e: MeadowrunError) => e.code === 'bad-config' && /meadowrun\.aws\.sshFrom/.test(e.message));
  });

  it('reuses a fresh cache, replaces a failing source by its stale copy, and by the bundled snapshot when there is none', async () => {
    const cacheDir = path.join(tempDir('ec2catalog'), 'cache');
    let now = 1_000_000;
    const load = (dir = cacheDir) =>
      loadCatalog({ ec2, pricing: new PricingClient({ region: 'us-east-1', maxAttempts: 1 }), region: 'us-east-1', cacheDir: dir, architecture: 'x86_64', now: () => now });
    const first = await load();
    assert.deepEqual(first.types.map((t) => t.name).sort(), ['c5.large', 'm5.large']);
    assert.deepEqual(first.notes, []);
    assert.equal(fs.statSync(cacheDir).mode & 0o777, 0o700);
    const requests = pricing.requests;

    now += CACHE_TTL_MS.onDemand / 2;
    await load();
    assert.equal(pricing.requests, requests, 'a fresh cache is not fetched again');

    pricing.failing = true;
    now += CACHE_TTL_MS.onDemand;
    const stale = await load();
    assert.deepEqual(stale.types.map((t) => [t.name, t.onDemandPrice]).sort(), [['c5.large', 0.085], ['m5.large', 0.096]]);
    assert.match(stale.notes.join('\n'), /on-demand prices: .*using the cached copy/);

    const bundled = await load(path.join(tempDir('ec2catalog-empty'), 'cache'));
    assert.match(bundled.notes.join('\n'), /on-demand prices: .*using the bundled snapshot/);
    const m5 = bundled.types.find((t) => t.name === 'm5.large');
    assert.equal(m5?.onDemandPrice, 0.096, 'the bundled us-east-1 price');
    assert.ok(bundled.types.length > 100, 'every x86 type moto knows that has a bundled price');
    pricing.failing = false;
  });
});
