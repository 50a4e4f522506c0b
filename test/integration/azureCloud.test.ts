// `--cloud azure` end to end, as a user's CLI process: Resource Manager is the fake one (HTTPS, its
// CA trusted through NODE_EXTRA_CA_CERTS), whose VMs boot their custom data as machines of the
// emulator; storage is Azurite, Key Vault a stand-in, the login a stand-in `az`. A cold run-function
// prepares the subscription (resource group, storage account, Key Vault, the VMs' identity and its
// roles, the network), launches the cheapest size, pins the host key from the VM's serial log,
// connects, sends the agent, and the agent on the VM frees the job in the Azure Table (Azurite,
// reached from the VM at the emulator's gateway). A warm run reuses the VM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ALLOCATION_TABLE, TableAllocationTable } from '../../src/cloud/azure/tableAllocationTable';
import { startAzurite, type Azurite } from '../support/azurite';
import { forward, startScheduledEvents, type ScheduledEvents } from '../support/azureWorld';
import { machineHostUnavailable, startMachineHost, type MachineHost } from '../support/ec2emu/machineHost';
import { startFakeArm, type FakeArm } from '../support/fakeArm';
import { fakeAz } from '../support/fakeAz';
import { startFakeKeyVault, type FakeKeyVault } from '../support/fakeKeyVault';
import { startFakeRetailPrices, type FakeRetailPrices } from '../support/fakeRetailPrices';
import { makeProject, waitFor } from '../support/localCloud';
import { tempDir } from '../support/tempDir';

const unavailable = machineHostUnavailable();
const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
process.env.AWS_EC2_METADATA_DISABLED = 'true';

describe('--cloud azure on the fake Resource Manager with VMs that boot', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let host: MachineHost;
  let arm: FakeArm;
  let prices: FakeRetailPrices;
  let azurite: Azurite;
  let vault: FakeKeyVault;
  let project: string;
  let env: NodeJS.ProcessEnv;
  const forwards: { close(): void }[] = [];
  let scheduled: ScheduledEvents;

  before(async () => {
    host = await startMachineHost();
    arm = await startFakeArm({ machines: host });
    prices = await startFakeRetailPrices({ spot: { Standard_E2s_v5: 0.02 } });
    azurite = await startAzurite();
    vault = await startFakeKeyVault();
    // The VMs reach Azurite at the gateway, through forwarders.
    let instanceStorage = azurite.connectionString;
    for (const url of [azurite.blobUrl, azurite.queueUrl, azurite.tableUrl]) {
      const u = new URL(url);
      const f = await forward(host.gateway, Number(u.port));
      forwards.push(f);
      instanceStorage = instanceStorage.replace(`${u.hostname}:${u.port}`, `${host.gateway}:${f.port}`);
    }
    scheduled = await startScheduledEvents(host.gateway);
    forwards.push(scheduled);
    project = makeProject({
      'jobs.py': 'import socket\ndef cube(x):\n    return {"cube": x ** 3, "host": socket.gethostname()}\ndef blob(n):\n    return "x" * n\n',
    });
    const home = tempDir('azure-home');
    const cas = path.join(home, 'test-cas.pem');
    fs.writeFileSync(cas, `${arm.ca}\n${vault.ca}\n`);
    const az = fakeAz({ subscription: arm.subscription });
    env = {
      PATH: az.path,
      HOME: home,
      NODE_EXTRA_CA_CERTS: cas,
      AWS_EC2_METADATA_DISABLED: 'true',
      MEADOWRUN_AZURE_ARM_ENDPOINT: arm.endpoint,
      MEADOWRUN_AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      MEADOWRUN_AZURE_KEY_VAULT_ENDPOINT: vault.url,
      MEADOWRUN_AZURE_INSTANCE_STORAGE_CONNECTION_STRING: instanceStorage,
      MEADOWRUN_AZURE_INSTANCE_IMDS: scheduled.endpoint,
      MEADOWRUN_AZURE_PRICES_URL: prices.url,
      MEADOWRUN_AZURE_SSH_FROM: '127.0.0.1/32',
      MEADOWRUN_AZURE_DIR: path.join(home, 'azure'),
      // The VMs' watch looks for a Preempt every 3 s, not every 30.
      MEADOWRUN_SWEEP_INTERVAL: '3',
    };
  });

  after(async () => {
    for (const f of forwards) f.close();
    await arm?.stop();
    await host?.stop();
    await prices?.stop();
    await vault?.stop();
    await azurite?.stop();
  });

  const meadowrun = (...args: string[]) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [cli, '--cloud', 'azure', '--location', 'eastus', '--resource-group', 'meadowrun-e2e', ...args], { cwd: project, env });
    return new Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }>((resolve) => {
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout, stderr, seconds: (Date.now() - t0) / 1000 }));
    });
  };

  it('azure prepare makes the resource group, storage account, Key Vault, identity, roles and network, and again changes nothing', async () => {
    const first = await meadowrun('azure', 'prepare', '--json');
    assert.equal(first.code, 0, first.stderr);
    const prepared = JSON.parse(first.stdout);
    assert.equal(prepared.resourceGroup, 'meadowrun-e2e');
    const kinds = (prepared.resources as { kind: string }[]).map((r) => r.kind).sort();
    assert.deepEqual(kinds, [
      'Microsoft.KeyVault/vaults',
      'Microsoft.ManagedIdentity/userAssignedIdentities',
      'Microsoft.Network/networkSecurityGroups',
      'Microsoft.Network/virtualNetworks',
      'Microsoft.Storage/storageAccounts',
    ]);
    const roles = () => arm.resourceIds().filter((id) => /roleAssignments/.test(id)).sort();
    // The VMs' identity: table, queue and blob data on the account, secrets (read) on the vault, deleting VMs in the group.
    assert.equal(roles().length, 5, roles().join('\n'));
    const before = arm.resourceIds().sort();
    const again = await meadowrun('azure', 'prepare', '--json');
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(arm.resourceIds().sort(), before, 'nothing new');
  });

  it('runs a function cold (prepare → VM → serial log host key → SSH → agent → result → job freed in the Azure Table), then warm on the same VM', async () => {
    const cold = await meadowrun('run-function', 'jobs.py:cube', '--args', '[3]', '--json');
    assert.equal(cold.code, 0, `${cold.stderr}\n${host.log.slice(-10).join("\n")}\n${arm.requests.slice(-8).map((r) => `${r.method} ${r.path}`).join("\n")}`);
    const result = JSON.parse(cold.stdout);
    assert.equal(result.outcome.status, 'succeeded', cold.stdout);
    const value = JSON.parse(result.outcome.value.json);
    assert.equal(value.cube, 27);
    assert.equal(result.launched, true);
    const [machine] = host.instances();
    assert.ok(machine, 'one VM runs');
    assert.equal(result.instanceId, machine.id);
    assert.equal(value.host, machine.id, 'the function ran on the VM (its computer name)');
    assert.deepEqual(arm.vmAttempts.map((a) => [a.vmSize, a.priority]), [['Standard_D2ps_v5', 'Regular']], 'the cheapest size that fits, pay-as-you-go');
    const vm = arm.resource(`/subscriptions/${arm.subscription}/resourceGroups/meadowrun-e2e/providers/Microsoft.Compute/virtualMachines/${machine.id}`)!;
    assert.equal(vm.properties.storageProfile.imageReference.sku, 'server-arm64', 'an Arm64 size boots the Arm64 image');
    assert.match(vm.identity.type, /UserAssigned/, 'the VM runs as the identity prepare made');

    // What prepare made in the subscription.
    const types = arm.resourceIds().map((id) => id.split('/providers/')[1]?.split('/').slice(0, 2).join('/')).filter(Boolean);
    for (const t of ['Microsoft.Storage/storageAccounts', 'Microsoft.KeyVault/vaults', 'Microsoft.ManagedIdentity/userAssignedIdentities', 'Microsoft.Network/virtualNetworks', 'Microsoft.Network/networkSecurityGroups', 'Microsoft.Authorization/roleAssignments']) {
      assert.ok(types.includes(t), `${t} in ${types.join(', ')}`);
    }

    // The agent on the VM freed the job in the table, reaching Azurite from the VM.
    const table = TableAllocationTable.open({ connectionString: azurite.connectionString }, ALLOCATION_TABLE);
    const [row] = await table.listInstances();
    assert.equal(row.id, machine.id);
    assert.deepEqual(row.jobs, {});
    assert.equal(row.state, 'ready');
    assert.equal(row.ssh?.user, 'meadowrun');

    const warm = await meadowrun('run-function', 'jobs.py:cube', '--args', '[4]', '--json');
    assert.equal(warm.code, 0, warm.stderr);
    const again = JSON.parse(warm.stdout);
    assert.deepEqual([JSON.parse(again.outcome.value.json).cube, again.instanceId, again.launched], [64, machine.id, false]);
    assert.equal(arm.vmAttempts.length, 1, 'no second VM');
    console.log(`azure: cold run-function ${cold.seconds.toFixed(1)} s, warm ${warm.seconds.toFixed(1)} s (each a new CLI process)`);
  });

  it('runs a map job on the warm VM: 100 tasks on 2 workers in order through Azure Queues; a result over 64 KiB goes through a blob; no queue is left', async () => {
    const launches = arm.vmAttempts.length;
    const map = await meadowrun('run-map', 'jobs.py:cube', '--args', 'range(100)', '--workers', '2', '--cpu', '0.5', '--memory', '0.5', '--json');
    assert.equal(map.code, 0, map.stderr);
    const out = JSON.parse(map.stdout);
    assert.equal(out.status, 'succeeded', map.stdout);
    assert.deepEqual(out.results.map((r: { cube: number }) => r.cube), Array.from({ length: 100 }, (_, i) => i ** 3));
    const big = await meadowrun('run-map', 'jobs.py:blob', '--args', '[100000, 3]', '--workers', '1', '--cpu', '0.5', '--memory', '0.5', '--json');
    assert.equal(big.code, 0, big.stderr);
    assert.deepEqual(JSON.parse(big.stdout).results.map((r: string) => r.length), [100000, 3]);
    assert.equal(arm.vmAttempts.length, launches, 'both ran on the warm VM');
    const { QueueServiceClient } = await import('@azure/storage-queue');
    const queues: string[] = [];
    for await (const q of QueueServiceClient.fromConnectionString(azurite.connectionString).listQueues({ prefix: 'meadowrun-' })) queues.push(q.name);
    assert.deepEqual(queues, [], 'the maps deleted their queues');
    console.log(`azure: run-map of 100 tasks on 2 workers ${map.seconds.toFixed(1)} s; one 100 KB result through a blob ${big.seconds.toFixed(1)} s`);
  });

  it('a Spot VM — for a job accepting any eviction rate, as the rates are unknown without Resource Graph — is fenced once Scheduled Events announce its Preempt', async () => {
    const before = arm.vmAttempts.length;
    const run = await meadowrun('run-function', 'jobs.py:cube', '--args', '[5]', '--memory', '12', '--max-eviction-rate', '100', '--json');
    assert.equal(run.code, 0, run.stderr);
    const attempt = arm.vmAttempts[arm.vmAttempts.length - 1];
    assert.equal(arm.vmAttempts.length, before + 1, 'one new VM');
    assert.deepEqual([attempt.vmSize, attempt.priority], ['Standard_E2s_v5', 'Spot']);
    assert.equal(JSON.parse(run.stdout).instanceId, attempt.name);
    const vm = arm.resource(`/subscriptions/${arm.subscription}/resourceGroups/meadowrun-e2e/providers/Microsoft.Compute/virtualMachines/${attempt.name}`)!;
    assert.deepEqual([vm.properties.evictionPolicy, vm.properties.billingProfile], ['Delete', { maxPrice: -1 }]);
    const table = TableAllocationTable.open({ connectionString: azurite.connectionString }, ALLOCATION_TABLE);
    assert.equal((await table.getInstance(attempt.name))?.preventFurtherAllocation, false);
    // The shape of learn.microsoft.com/azure/virtual-machines/linux/scheduled-events (30 s notice for Spot).
    scheduled.events.push({
      EventId: '602d9444-d2cd-49c7-8624-8643e7171297', EventType: 'Preempt', ResourceType: 'VirtualMachine', Resources: [attempt.name],
      EventStatus: 'Scheduled', NotBefore: new Date(Date.now() + 30_000).toUTCString(), Description: '', EventSource: 'Platform', DurationInSeconds: -1,
    });
    await waitFor('the VM to fence itself', async () => (await table.getInstance(attempt.name))?.preventFurtherAllocation === true, 30_000);
  });

  it('azure status lists the VM and what prepare made; azure uninstall --yes removes the resource group, the VM with it', async () => {
    const status = await meadowrun('azure', 'status');
    assert.equal(status.code, 0, status.stderr);
    const [machine] = host.instances();
    assert.match(status.stdout, new RegExp(`Microsoft.Compute/virtualMachines: ${machine.id}`));
    const refused = await meadowrun('azure', 'uninstall');
    assert.notEqual(refused.code, 0, 'no terminal to confirm on');
    assert.match(refused.stderr, /--yes/);
    const removed = await meadowrun('azure', 'uninstall', '--yes');
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /Removed\./);
    assert.deepEqual(arm.resourceIds(), [], 'nothing left in the subscription');
    await host.waitForGone(machine.id);
    const after = await meadowrun('azure', 'status');
    assert.match(after.stdout, /Nothing of Meadowrun's in Azure eastus, resource group meadowrun-e2e/);
  });
});
