// The Azure VM provider against the fake Resource Manager (test/support/fakeArm, HTTPS with a CA made
// for the test) and the Retail Prices stand-in: the network and the client's SSH rule, the VM it
// creates (image, Spot settings, deleteOptions, cloud-init with its own name as instance id), the
// fallback on capacity errors, the quota message, cancellation, listing and deletion. With the
// machine emulator (root, namespaces), the VM really boots its custom data: waitReady returns the
// host key from the serial log, SSH with that key pinned reaches the VM, and the VM's metadata
// service answers as Azure's.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { ResourceManagementClient } from '@azure/arm-resources';
import type { TokenCredential } from '@azure/identity';
import { ensureResourceGroup, NSG, sshRuleName } from '../../src/cloud/azure/network';
import { AzureVmProvider, AzureVmProviderOptions } from '../../src/cloud/azure/vmProvider';
import { MeadowrunError } from '../../src/core/errors';
import type { InstanceOption, InstanceType } from '../../src/core/instanceTypes';
import { startFakeArm, type FakeArm } from '../support/fakeArm';
import { machineHostUnavailable, startMachineHost, type MachineHost } from '../support/ec2emu/machineHost';
import { startFakeRetailPrices, type FakeRetailPrices } from '../support/fakeRetailPrices';
import { sshExec } from '../support/sshExec';
import { tempDir } from '../support/tempDir';

process.env.AWS_EC2_METADATA_DISABLED = 'true';
const RG = 'meadowrun-test';
const token: TokenCredential = { getToken: async () => ({ token: 'fake-arm-token', expiresOnTimestamp: Date.now() + 3600_000 }) };

function clients(arm: FakeArm) {
  const options = { endpoint: arm.endpoint, tlsOptions: { ca: arm.ca }, retryOptions: { maxRetries: 0 } };
  return {
    compute: new ComputeManagementClient(token, arm.subscription, options),
    network: new NetworkManagementClient(token, arm.subscription, options),
    resources: new ResourceManagementClient(token, arm.subscription, options),
  };
}

function provider(arm: FakeArm, prices: FakeRetailPrices, extra: Partial<AzureVmProviderOptions> = {}): AzureVmProvider {
  const c = clients(arm);
  return new AzureVmProvider({
    compute: c.compute,
    network: c.network,
    resourceGroup: RG,
    location: 'eastus',
    cacheDir: path.join(tempDir('azvm-cache'), 'cache'),
    pricesUrl: prices.url,
    sshFrom: '192.0.2.7/32',
    agentConfig: (name) => ({
      provider: 'azure',
      workDir: '/home/meadowrun/work',
      table: { tableName: 'meadowrunInstances' },
      queues: { queuePrefix: 'meadowrun-' },
      payloads: {},
      interruption: { imdsEndpoint: 'http://169.254.169.254' },
      sweep: { intervalS: 30, graceS: 120 },
      idle: { timeoutS: 300, marginS: 60 },
      resourceId: `/subscriptions/${arm.subscription}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${name}`,
    }),
    prepareAlso: () => ensureResourceGroup(c.resources, RG, 'eastus'),
    fetchText: (url) => httpsText(url, arm.ca),
    pollMs: 200,
    lroIntervalMs: 20,
    ...extra,
  });
}

function httpsText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}`))));
    }).on('error', reject);
  });
}

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test';

function option(types: InstanceType[], name: string, spot = false): InstanceOption {
  const type = types.find((t) => t.name === name)!;
  assert.ok(type, `${name} in the catalog`);
  return { type, spot, price: spot ? type.spotPrice! : type.onDemandPrice };
}

describe('Azure VM provider on the fake Resource Manager', () => {
  let arm: FakeArm;
  let prices: FakeRetailPrices;
  before(async () => {
    arm = await startFakeArm();
    prices = await startFakeRetailPrices({ spot: { Standard_D2s_v5: 0.0191, Standard_D2as_v5: 0.018 } });
  });
  after(async () => {
    await arm.stop();
    await prices.stop();
  });

  it('prepares the network once, with SSH from the client /32 only, and the catalog from resourceSkus and the Retail Prices API', async () => {
    const p = provider(arm, prices);
    await p.prepare();
    await p.allowClient();
    const base = `/subscriptions/${arm.subscription}/resourceGroups/${RG}/providers/Microsoft.Network`;
    const nsg = arm.resource(`${base}/networkSecurityGroups/${NSG}`)!;
    const rules = nsg.properties.securityRules as { name: string; properties: Record<string, unknown> }[];
    assert.deepEqual(rules.map((r) => [r.name, r.properties.sourceAddressPrefix, r.properties.destinationPortRange, r.properties.priority]), [
      [sshRuleName('192.0.2.7/32'), '192.0.2.7/32', '22', 100],
    ]);
    assert.ok(arm.resource(`${base}/virtualNetworks/meadowrun-vnet`)?.properties.subnets[0].id.endsWith('/subnets/default'));
    // Another client's address gets a rule of its own, at the next priority.
    await provider(arm, prices, { sshFrom: '198.51.100.200/32' }).prepare();
    const after = arm.resource(`${base}/networkSecurityGroups/${NSG}`)!.properties.securityRules as { properties: { priority: number } }[];
    assert.deepEqual(after.map((r) => r.properties.priority).sort(), [100, 101]);

    const types = await p.listInstanceTypes();
    const d2 = types.find((t) => t.name === 'Standard_D2s_v5');
    assert.deepEqual(d2, { name: 'Standard_D2s_v5', cpu: 2, memoryGb: 8, gpus: 0, onDemandPrice: 0.096, spotPrice: 0.0191 });
    assert.ok(!types.some((t) => t.name === 'Standard_D4ps_v5'), 'sizes resourceSkus does not list here are not offered');
  });

  it('creates the VM as Azure wants it: Ubuntu 24.04, Spot with Delete and maxPrice -1, NIC/address/disk deleted with it, its name as instance id', async () => {
    const p = provider(arm, prices);
    const types = await p.listInstanceTypes();
    const { id, zone } = await p.launch(option(types, 'Standard_D2s_v5', true), KEY);
    assert.equal(zone, 'eastus', 'where it runs, for the explorer: the location, no zone pinned');
    const vm = arm.resource(`/subscriptions/${arm.subscription}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${id}`)!;
    const props = vm.properties;
    assert.equal(props.provisioningState, 'Succeeded');
    assert.deepEqual([props.priority, props.evictionPolicy, props.billingProfile], ['Spot', 'Delete', { maxPrice: -1 }]);
    assert.deepEqual(props.storageProfile.imageReference, { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' });
    assert.equal(props.storageProfile.osDisk.deleteOption, 'Delete');
    const nic = props.networkProfile.networkInterfaceConfigurations[0];
    assert.equal(nic.properties.deleteOption, 'Delete');
    assert.equal(nic.properties.ipConfigurations[0].properties.publicIPAddressConfiguration.properties.deleteOption, 'Delete');
    assert.deepEqual(props.diagnosticsProfile, { bootDiagnostics: { enabled: true } });
    assert.equal(vm.tags.meadowrun, 'true');
    // The custom data the fake received (it keeps none in the VM, as Azure): ask for it again from the definition.
    const data = Buffer.from(p.vmDefinition(id, option(types, 'Standard_D2s_v5'), KEY, { subnetId: 's', nsgId: 'n' }, undefined, undefined).osProfile!.customData!, 'base64').toString();
    assert.match(data, /^#cloud-config\n/);
    assert.match(data, new RegExp(`id='${id}'`));
    // The agent config carries the environments' age: the default week here, the management config's when installed (the booted VM below).
    const written = (JSON.parse(data.slice('#cloud-config\n'.length)) as { write_files: { path: string; content: string }[] }).write_files;
    assert.deepEqual(JSON.parse(written.find((f) => f.path === '/etc/meadowrun/agent.json.in')!.content).environments, { maxAgeS: 7 * 86400 });

    const running = await p.listRunning();
    assert.deepEqual(running.filter((r) => r.id === id).map((r) => [r.typeName, r.state, r.market]), [['Standard_D2s_v5', 'running', 'spot']]);
    const before = arm.resourceIds().filter((r) => r.includes(id));
    assert.equal(before.length, 3, `the VM, its NIC and its address: ${before.join(', ')}`);
    await p.terminate(id);
    assert.deepEqual(arm.resourceIds().filter((r) => r.includes(id)), [], 'the NIC and public address went with the VM');
    await p.terminate(id); // already gone: no error
  });

  it('falls back on capacity: a failed creation is deleted and the next zone tried; SkuNotAvailable and no zone left end in no-capacity; a quota is named', async () => {
    const p = provider(arm, prices);
    const types = await p.listInstanceTypes();
    const d2 = option(types, 'Standard_D2as_v5');
    arm.injectVmError({ code: 'AllocationFailed', vmSize: 'Standard_D2as_v5', async: true, times: 1 });
    arm.injectVmError({ code: 'ZonalAllocationFailed', vmSize: 'Standard_D2as_v5', zone: '1', async: true, times: 1 });
    const attemptsBefore = arm.vmAttempts.length;
    const { id, zone } = await p.launch(d2, KEY);
    assert.equal(zone, 'eastus-2', 'the zone it got, for the explorer');
    const attempts = arm.vmAttempts.slice(attemptsBefore);
    assert.deepEqual(attempts.map((a) => [a.zone ?? '-', a.error ?? 'ok']), [['-', 'AllocationFailed'], ['1', 'ZonalAllocationFailed'], ['2', 'ok']]);
    assert.equal(attempts[2].name, id);
    assert.deepEqual(arm.resourceIds().filter((r) => /virtualMachines\//.test(r)).map((r) => r.split('/').pop()), [id], 'the failed VMs were deleted');
    await p.terminate(id);

    arm.injectVmError({ code: 'SkuNotAvailable', vmSize: 'Standard_E2s_v5', times: 1 });
    await assert.rejects(p.launch(option(types, 'Standard_E2s_v5'), KEY), (e: MeadowrunError) => e.code === 'no-capacity' && /SkuNotAvailable/.test(e.message));

    arm.injectVmError({ code: 'AllocationFailed', vmSize: 'Standard_D4s_v5', async: true, times: 4 });
    await assert.rejects(p.launch(option(types, 'Standard_D4s_v5'), KEY), (e: MeadowrunError) => e.code === 'no-capacity' && /zone 3: AllocationFailed/.test(e.message));

    arm.injectVmError({ code: 'OperationNotAllowed', vmSize: 'Standard_D4s_v5', times: 1 });
    await assert.rejects(p.launch(option(types, 'Standard_D4s_v5'), KEY), (e: MeadowrunError) => e.code === 'quota' && /"standardDSv5Family vCPUs" in eastus/.test(e.message));
    arm.injectVmError({ code: 'OperationNotAllowed', vmSize: 'Standard_D2s_v5', priority: 'Spot', times: 1 });
    await assert.rejects(p.launch(option(types, 'Standard_D2s_v5', true), KEY), (e: MeadowrunError) => e.code === 'quota' && /"Total Regional Spot vCPUs"/.test(e.message) && /run pay-as-you-go/.test(e.message));
    assert.deepEqual(arm.resourceIds().filter((r) => /virtualMachines\//.test(r)), [], 'nothing left after the failures');
  });

  it('a launch cancelled while Azure creates the VM deletes it', async () => {
    const p = provider(arm, prices);
    const types = await p.listInstanceTypes();
    const abort = new AbortController();
    const attemptsBefore = arm.vmAttempts.length;
    const launching = p.launch(option(types, 'Standard_D2s_v5'), KEY, { signal: abort.signal });
    while (arm.vmAttempts.length === attemptsBefore) await new Promise((r) => setImmediate(r));
    abort.abort();
    await assert.rejects(launching, (e: MeadowrunError) => e.code === 'cancelled');
    assert.deepEqual(arm.resourceIds().filter((r) => /virtualMachines\//.test(r)), []);
  });
});

const noMachines = machineHostUnavailable();

describe('Azure VM provider with VMs that boot', { skip: noMachines ? `skipped: ${noMachines}` : false }, () => {
  let host: MachineHost;
  let arm: FakeArm;
  let prices: FakeRetailPrices;
  before(async () => {
    host = await startMachineHost();
    arm = await startFakeArm({ machines: host });
    prices = await startFakeRetailPrices();
  });
  after(async () => {
    await arm?.stop();
    await prices?.stop();
    await host?.stop();
  });

  it('boots the custom data: the host key from the serial log is pinned, SSH reaches the VM, the agent config names it; deleting it ends the machine', async () => {
    const dir = tempDir('azvm-key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'azvm-test', '-f', path.join(dir, 'key')]);
    const publicKey = fs.readFileSync(path.join(dir, 'key.pub'), 'utf8').trim();
    const p = provider(arm, prices, { sshFrom: `${host.gateway}/32`, environmentMaxAgeS: async () => 2 * 86400 });
    const types = await p.listInstanceTypes();
    const { id } = await p.launch(option(types, 'Standard_D2s_v5'), publicKey);
    assert.ok(host.instance(id)?.on, 'the VM is a running machine once its creation succeeded');
    const endpoint = await p.waitReady(id, { signal: AbortSignal.timeout(180_000) });
    assert.equal(endpoint.ssh.host, host.instance(id)!.publicIp);
    assert.equal(endpoint.ssh.user, 'meadowrun');
    const login = { host: endpoint.ssh.host, username: 'meadowrun', privateKey: fs.readFileSync(path.join(dir, 'key')), hostKey: endpoint.ssh.hostKey };
    const config = JSON.parse(await sshExec(login, 'cat /etc/meadowrun/agent.json'));
    assert.equal(config.instanceId, id);
    assert.equal(config.provider, 'azure');
    assert.deepEqual(config.environments, { maxAgeS: 2 * 86400 });
    // The pinned key is the machine's own: a wrong one is refused.
    await assert.rejects(sshExec({ ...login, hostKey: Buffer.alloc(51).toString('base64') }, 'true'));
    // Its metadata service answers as Azure's, to the VM only: its identity's tokens, its id, Scheduled Events; never without `Metadata: true`.
    const imds = (p: string, header = '-H Metadata:true') => sshExec(login, `curl -s -w ' %{http_code}' ${header} 'http://169.254.169.254${p}'`);
    const tokenAnswer = await imds('/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com');
    assert.match(tokenAnswer, / 200$/, tokenAnswer);
    const claims = JSON.parse(Buffer.from(JSON.parse(tokenAnswer.slice(0, -4)).access_token.split('.')[1], 'base64url').toString());
    const vmArmId = `/subscriptions/${arm.subscription}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${id}`;
    assert.deepEqual([claims.aud, claims.xms_mirid, claims.oid], ['https://storage.azure.com', vmArmId, arm.resource(vmArmId)!.identity.principalId], 'a token of its system-assigned identity');
    assert.equal(await imds('/metadata/instance/compute/resourceId?api-version=2021-02-01&format=text'), `${vmArmId} 200`);
    assert.match(await imds('/metadata/scheduledevents?api-version=2020-07-01'), /^\{"DocumentIncarnation": 0, "Events": \[\]\} 200$/);
    assert.match(await imds('/metadata/scheduledevents?api-version=2020-07-01', ''), / 400$/, 'refused without the Metadata header');
    await p.terminate(id);
    await host.waitForGone(id);
  });
});
