// `--cloud azure` end to end, as a user's CLI process: Resource Manager is the fake one (HTTPS, its
// CA trusted through NODE_EXTRA_CA_CERTS), whose VMs boot their custom data as machines of the
// emulator; storage is Azurite over https with `--oauth basic`, reached as on Azure with tokens and
// no key (the client's from the login, the VMs' from their managed identity), Key Vault a stand-in,
// the login a stand-in `az`. The VMs' metadata service is the emulator's at 169.254.169.254 (for
// the machines' own traffic only), answering as Azure's: Scheduled Events, the managed identity's
// tokens. One prepared subscription for every case:
// a launch cancelled with Ctrl-C while Azure creates the VM (its row shows it launching meanwhile)
// leaves nothing; a cold run-function prepares, launches the cheapest size, pins the host key the
// VM published in its table row, connects, sends the agent, and the agent on the VM frees the job
// in the Azure Table (Azurite, reached from the VM at the emulator's gateway); a warm run reuses the
// VM; maps run through Azure Queues, also with a worker killed; a Spot VM's eviction (Preempt)
// interrupts its job, said as such; sizes and zones without capacity are tried past, and said.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ALLOCATION_TABLE, TableAllocationTable } from '../../src/cloud/azure/tableAllocationTable';
import { dockerAptRepo, forwardTcp, serveAptRepos } from '../support/aptRepo';
import type { Azurite } from '../support/azurite';
import { machineHostUnavailable, startAzureWorld, type AzureWorld } from '../support/azureWorld';
import { buildPythonImage, dockerUnavailable, pushImage, startDocker, startRegistry } from '../support/docker';
import type { MachineHost } from '../support/ec2emu/machineHost';
import type { FakeArm } from '../support/fakeArm';
import { makeProject, waitFor } from '../support/localCloud';
import { startNode } from '../support/runNode';
import { jobProcesses } from '../support/machineProcesses';

const unavailable = machineHostUnavailable();
const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
process.env.AWS_EC2_METADATA_DISABLED = 'true';
const GROUP = 'meadowrun-e2e';

/** A POST to the fake Resource Manager, as a user with a token would (its CA trusted for this request). */
function armPost(arm: FakeArm, resourcePath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${arm.endpoint}${resourcePath}?api-version=2024-07-01`, { method: 'POST', ca: arm.ca, headers: { authorization: 'Bearer test', 'content-length': 0 } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('--cloud azure on the fake Resource Manager with VMs that boot', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let world: AzureWorld;
  let host: MachineHost;
  let arm: FakeArm;
  let azurite: Azurite;
  let project: string;
  let env: NodeJS.ProcessEnv;
  let table: TableAllocationTable; // the client's view
  const vmId = (name: string) => `/subscriptions/${arm.subscription}/resourceGroups/${GROUP}/providers/Microsoft.Compute/virtualMachines/${name}`;
  /** The resources of VM `name`: itself, its NIC and public address (its disk is part of it). */
  const resourcesOf = (name: string) => arm.resourceIds().filter((id) => id.split('/').pop()!.startsWith(name));

  before(async () => {
    // The VMs' watch looks for a Preempt every 3 s, not every 30.
    world = await startAzureWorld({ spot: { Standard_E2s_v5: 0.02 }, sweepIntervalS: 3, storageTokens: true });
    ({ host, arm, azurite, env } = world);
    project = makeProject({
      'jobs.py': [
        'import socket, time',
        'def cube(x):\n    return {"cube": x ** 3, "host": socket.gethostname()}',
        'def blob(n):\n    return "x" * n',
        'def slow_cube(x):\n    time.sleep(0.01)\n    return x ** 3',
        'def slow(s):\n    time.sleep(s)\n    return s',
        // A cached environment last used `days` ago, as the agent leaves one (the job runs in <work>/projects/<name>).
        'def plant(name, days):\n    import json, os\n    env = os.path.join("..", "..", "envs", name)\n    os.makedirs(env)',
        '    marker = os.path.join(env, "meadowrun-environment.json")\n    with open(marker, "w") as f:\n        json.dump({"hash": name, "source": "uv.lock"}, f)',
        '    then = time.time() - days * 86400\n    os.utime(marker, (then, then))',
        '',
      ].join('\n'),
      'whoami.py': 'import socket\nprint("running on", socket.gethostname())\n',
    });
    table = TableAllocationTable.open({ connectionString: azurite.connectionString }, ALLOCATION_TABLE);
  });

  after(async () => {
    await world?.stop();
  });

  /** The CLI as a user runs it, with its process and output so far while it runs. */
  const azureArgs = ['--cloud', 'azure', '--location', 'eastus', '--resource-group', GROUP];
  const start = (...args: string[]) => startNode(cli, [...azureArgs, ...args], { cwd: project, env });
  const meadowrun = (...args: string[]) => start(...args).done;
  /** What is left of Meadowrun's work: VMs with their NICs and addresses, rows, map queues. */
  const leftovers = async () => {
    const { QueueServiceClient } = await import('@azure/storage-queue');
    const queues: string[] = [];
    for await (const q of QueueServiceClient.fromConnectionString(azurite.connectionString).listQueues({ prefix: 'meadowrun-' })) queues.push(q.name);
    return { vms: arm.resourceIds().filter((id) => /\/(virtualMachines|networkInterfaces|publicIPAddresses)\//.test(id)), rows: (await table.listInstances()).map((r) => r.id), queues };
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

  it("Ctrl-C while Azure creates the VM (its row already says launching) leaves nothing: no VM, NIC, address, row or queue", async () => {
    const release = arm.holdVmCreations();
    const attempts = arm.vmAttempts.length;
    try {
      const run = start('run-function', 'jobs.py:cube', '--args', '[1]');
      let name = '';
      await waitFor('the VM to be created, its row launching', async () => {
        name = arm.vmAttempts[attempts]?.name ?? '';
        const row = name ? await table.getInstance(name) : undefined;
        return arm.resource(vmId(name))?.properties.provisioningState === 'Creating' && row?.state === 'launching';
      }, 120_000).catch((e) => assert.fail(`${e.message}\n${run.out.stderr}`));
      assert.equal(run.child.exitCode, null, run.out.stderr);
      run.child.kill('SIGINT');
      // Without waiting for the creation Azure was asked for: the CLI stops following it.
      const cancelled = await Promise.race([run.done, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the CLI did not exit within 90 s of Ctrl-C:\n${run.out.stderr}`)), 90_000).unref())]);
      assert.equal(cancelled.code, 130, cancelled.stderr);
      assert.deepEqual(await leftovers(), { vms: [], rows: [], queues: [] });
      assert.equal(host.instance(name), undefined, 'no machine was booted for it');
    } finally {
      release();
    }
  });

  it('runs a function cold (prepare → VM → host key from its table row → SSH → agent → result → job freed in the Azure Table), then warm on the same VM', async () => {
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
    assert.deepEqual(arm.vmAttempts.slice(-1).map((a) => [a.vmSize, a.priority]), [['Standard_D2ps_v5', 'Regular']], 'the cheapest size that fits, pay-as-you-go');
    const vm = arm.resource(`/subscriptions/${arm.subscription}/resourceGroups/meadowrun-e2e/providers/Microsoft.Compute/virtualMachines/${machine.id}`)!;
    assert.equal(vm.properties.storageProfile.imageReference.sku, 'server-arm64', 'an Arm64 size boots the Arm64 image');
    assert.match(vm.identity.type, /UserAssigned/, 'the VM runs as the identity prepare made');

    // What prepare made in the subscription.
    const types = arm.resourceIds().map((id) => id.split('/providers/')[1]?.split('/').slice(0, 2).join('/')).filter(Boolean);
    for (const t of ['Microsoft.Storage/storageAccounts', 'Microsoft.KeyVault/vaults', 'Microsoft.ManagedIdentity/userAssignedIdentities', 'Microsoft.Network/virtualNetworks', 'Microsoft.Network/networkSecurityGroups', 'Microsoft.Authorization/roleAssignments']) {
      assert.ok(types.includes(t), `${t} in ${types.join(', ')}`);
    }

    // The agent on the VM freed the job in the table, reaching Azurite from the VM.
    const [row] = await table.listInstances();
    assert.equal(row.id, machine.id);
    assert.deepEqual(row.jobs, {});
    assert.equal(row.state, 'ready');
    assert.equal(row.ssh?.user, 'meadowrun');
    assert.equal(row.zone, 'eastus', 'where it runs: the location, no zone pinned');
    // The VM published its host key in its row as it booted; that is the key the client pinned.
    const published = await table.publishedHostKey(machine.id);
    assert.ok(published, 'the VM wrote its host key to its row');
    assert.equal(row.ssh?.hostKey, published);
    // With its managed identity's token: its config names the storage endpoints and no key.
    const agentConfig = JSON.parse(host.exec(machine.id, ['cat', '/etc/meadowrun/agent.json']).stdout);
    assert.equal(agentConfig.storage.connectionString, undefined, 'no key on the VM');
    assert.match(agentConfig.storage.endpoints.table, new RegExp(`^https://${host.gateway.replace(/\./g, '\\.')}:\\d+/devstoreaccount1$`));
    assert.equal(env.MEADOWRUN_AZURE_STORAGE_CONNECTION_STRING, undefined, 'no key on the client either');

    const launches = arm.vmAttempts.length;
    const warm = await meadowrun('run-function', 'jobs.py:cube', '--args', '[4]', '--json');
    assert.equal(warm.code, 0, warm.stderr);
    const again = JSON.parse(warm.stdout);
    assert.deepEqual([JSON.parse(again.outcome.value.json).cube, again.instanceId, again.launched], [64, machine.id, false]);
    assert.equal(arm.vmAttempts.length, launches, 'no second VM');
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

  it('meadowrun envs list|prune reach the VM over SSH', async () => {
    const planted = await meadowrun('run-function', 'jobs.py:plant', '--args', '["0ld0ld0ld0ld0ld0", 30]');
    assert.equal(planted.code, 0, planted.stderr);
    const envs = async (...args: string[]) => {
      const r = await meadowrun('envs', ...args, '--json');
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { instanceId: string; hash: string; source: string; removed?: boolean }[];
    };
    const [machine] = host.instances();
    assert.deepEqual((await envs('list')).map((e) => [e.instanceId, e.hash, e.source]), [[machine.id, '0ld0ld0ld0ld0ld0', 'uv.lock']]);
    assert.deepEqual((await envs('prune', '--older-than', '7')).map((e) => [e.hash, !!e.removed]), [['0ld0ld0ld0ld0ld0', true]]);
    assert.deepEqual(await envs('list'), []);
  });

  it('a job in a container image on the warm VM: Docker installed from the VM’s package mirror on first need, the image pulled from a password-protected registry at the gateway with credentials the VM reads from Key Vault, run in it', { skip: dockerUnavailable() }, async () => {
    const [machine] = host.instances();
    const docker = await startDocker();
    const registry = await startRegistry('alice', 'correct horse');
    const repos = await serveAptRepos(host.gateway, { debian: dockerAptRepo() });
    const forwarder = await forwardTcp(host.gateway, registry.address);
    try {
      await buildPythonImage(docker, 'mr-azure-py:1', { '/etc/meadowrun-test-image': 'azure\n' });
      await pushImage(docker, 'mr-azure-py:1', `${registry.address}/py:1`, registry.address, 'alice', 'correct horse');
      // The credentials go to Key Vault from the client; the VM's agent reads them with its identity.
      const set = await startNode(cli, [...azureArgs, 'secret', 'set', 'registry'], { cwd: project, env, input: 'alice:correct horse' }).done;
      assert.equal(set.code, 0, set.stderr);
      // The VM's package mirror, and its Docker told that the registry at the gateway has no TLS.
      const mirror = host.exec(machine.id, ['sh', '-c', 'cat > /etc/apt/sources.list && mkdir -p /etc/docker && echo "$1" > /etc/docker/daemon.json', 'sh', JSON.stringify({ 'insecure-registries': [forwarder.address] })], repos.source('debian'));
      assert.equal(mirror.code, 0, mirror.stderr);
      fs.writeFileSync(path.join(project, 'inimage.py'), 'import os\ndef marker():\n    return open("/etc/meadowrun-test-image").read().strip() if os.path.exists("/etc/meadowrun-test-image") else None\n');
      const r = await meadowrun('run-function', 'inimage.py:marker', '--image', `${forwarder.address}/py:1`, '--image-secret', 'registry');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "'azure'\n", 'it ran in the image');
      assert.match(r.stderr, new RegExp(`Running on ${machine.id}`));
      assert.match(r.stderr, /Installing Docker on this instance \(first time\)(.|\n)*Docker installed in [\d.]+ s(.|\n)*Pulling image/);
      // The VM read the password with its own identity: a token the metadata service issued for Key Vault.
      const claims = [...world.vault.tokens].filter((t) => t.split('.').length === 3).map((t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString()));
      assert.ok(claims.some((c) => /vault\.azure\.net/.test(c.aud) && c.xms_mirid), `a VM identity's Key Vault token among ${JSON.stringify(claims)}`);
      console.log(`azure: a first job in an image on the warm VM (Docker installed, image pulled) ${r.seconds.toFixed(1)} s`);
    } finally {
      await forwarder.close();
      await repos.close();
      await registry.close();
      await docker.close();
    }
  });

  it('a map with a worker killed with SIGKILL mid-run: every result once, in order; nothing left running, allocated or queued', async () => {
    const TASKS = 2000;
    const [machine] = host.instances();
    const map = start('run-map', 'jobs.py:slow_cube', '--args', `range(${TASKS})`, '--workers', '2', '--cpu', '0.5', '--memory', '0.5', '--json');
    const { QueueServiceClient } = await import('@azure/storage-queue');
    const service = QueueServiceClient.fromConnectionString(azurite.connectionString);
    let workers: number[] = [];
    let requestQueue: string | undefined;
    let most = 0;
    // Both workers run, and a request message is done (the queue holds fewer than it did; it counts claimed ones too).
    await waitFor('both workers to run and a request message to be done', async () => {
      assert.equal(map.child.exitCode, null, `the map ended before a worker was killed:\n${map.out.stderr}`);
      workers = jobProcesses(host.instance(machine.id)!);
      if (!requestQueue) for await (const q of service.listQueues({ prefix: 'meadowrun-' })) if (q.name.endsWith('-request')) requestQueue = q.name;
      const left = requestQueue ? ((await service.getQueueClient(requestQueue).getProperties().catch(() => undefined))?.approximateMessagesCount ?? 0) : 0;
      most = Math.max(most, left);
      return workers.length === 2 && most > 1 && left < most;
    }, 120_000);
    process.kill(workers[0], 'SIGKILL');
    const done = await map.done;
    assert.equal(done.code, 0, done.stderr);
    const out = JSON.parse(done.stdout);
    assert.equal(out.status, 'succeeded');
    assert.deepEqual(out.failures, []);
    assert.equal(out.results.length, TASKS);
    out.results.forEach((r: number, i: number) => assert.equal(r, i ** 3, `task ${i}`));
    assert.deepEqual(jobProcesses(host.instance(machine.id)!), [], 'no worker left running');
    for (const r of await table.listInstances()) assert.deepEqual(r.jobs, {}, `nothing allocated on ${r.id}`);
    assert.deepEqual((await leftovers()).queues, [], 'the map deleted its queues');
    console.log(`azure: run-map of ${TASKS} tasks with a worker killed ${done.seconds.toFixed(1)} s`);
  });

  it("a Spot VM's eviction: the Preempt in Scheduled Events fences it, its running job is reported interrupted, and nothing of it is left", async () => {
    const before = arm.vmAttempts.length;
    // A job accepting any eviction rate (the rates are unknown without Resource Graph) that fits no running VM.
    const run = start('run-function', 'jobs.py:slow', '--args', '[600]', '--memory', '12', '--max-eviction-rate', '100');
    let name = '';
    await waitFor('the job to run on a new Spot VM', () => {
      assert.equal(run.child.exitCode, null, run.out.stderr);
      name = arm.vmAttempts[before]?.name ?? '';
      const machine = name ? host.instance(name) : undefined;
      return !!machine && jobProcesses(machine).length === 1;
    }, 180_000);
    const attempt = arm.vmAttempts[before];
    assert.deepEqual([attempt.vmSize, attempt.priority], ['Standard_E2s_v5', 'Spot']);
    const vm = arm.resource(vmId(name))!;
    assert.deepEqual([vm.properties.evictionPolicy, vm.properties.billingProfile], ['Delete', { maxPrice: -1 }]);
    assert.equal((await table.getInstance(name))?.preventFurtherAllocation, false);
    arm.evictionNoticeMs = 12_000;
    assert.equal(await armPost(arm, `${vmId(name)}/simulateEviction`), 204);
    await waitFor('the VM to fence itself', async () => (await table.getInstance(name))?.preventFurtherAllocation === true, 12_000);
    const ended = await run.done;
    assert.notEqual(ended.code, 0);
    assert.match(ended.stderr, new RegExp(`Job \\S+ was interrupted: its Spot instance ${name} was evicted`), ended.stderr);
    await host.waitForGone(name);
    assert.deepEqual(resourcesOf(name), [], 'the VM, its NIC and its address are gone');
    assert.equal(await table.getInstance(name), undefined, 'its row is gone');
  });

  it('no capacity: a size Azure does not offer here, then a zone-less creation without capacity; the next size and zone are tried and said; run-command runs there, the host key from the row alone', async () => {
    const before = arm.vmAttempts.length;
    arm.injectVmError({ code: 'SkuNotAvailable', vmSize: 'Standard_E2s_v5', priority: 'Regular', times: 1 });
    arm.injectVmError({ code: 'AllocationFailed', vmSize: 'Standard_D4s_v5', async: true, times: 1 });
    // No serial log: the key can only come from the row.
    arm.serialLog = false;
    try {
      const run = await meadowrun('run-command', 'whoami.py', '--memory', '12');
      assert.equal(run.code, 0, run.stderr);
      const attempts = arm.vmAttempts.slice(before);
      assert.deepEqual(attempts.map((a) => [a.vmSize, a.zone ?? '-', a.error ?? 'ok']), [
        ['Standard_E2s_v5', '-', 'SkuNotAvailable'],
        ['Standard_D4s_v5', '-', 'AllocationFailed'],
        ['Standard_D4s_v5', '1', 'ok'],
      ]);
      const name = attempts[2].name;
      assert.equal(attempts[1].name, name, 'one name for the tries of one size: its row is registered once');
      assert.match(run.stdout, new RegExp(`running on ${name}`));
      assert.match(run.stderr, /No capacity for Standard_E2s_v5 \(pay-as-you-go\) in eastus: SkuNotAvailable; trying the next cheapest type/);
      assert.match(run.stderr, /No capacity for Standard_D4s_v5 pay-as-you-go \(AllocationFailed\), trying the next zone/);
      const row = await table.getInstance(name);
      assert.equal(row?.ssh?.hostKey, await table.publishedHostKey(name));
      assert.equal(row?.zone, 'eastus-1', 'the row says the zone the VM got');
      assert.equal(resourcesOf(attempts[0].name).length, 0, 'the size refused made nothing');
      assert.equal(await table.getInstance(attempts[0].name), undefined, "and its launching row is gone");
    } finally {
      arm.serialLog = true;
    }
  });

  it('azure status lists the VM and what prepare made; azure uninstall --yes removes the resource group, the VM with it', async () => {
    const status = await meadowrun('azure', 'status');
    assert.equal(status.code, 0, status.stderr);
    const machines = host.instances();
    for (const machine of machines) assert.match(status.stdout, new RegExp(`Microsoft.Compute/virtualMachines: ${machine.id}`));
    const refused = await meadowrun('azure', 'uninstall');
    assert.notEqual(refused.code, 0, 'no terminal to confirm on');
    assert.match(refused.stderr, /--yes/);
    const removed = await meadowrun('azure', 'uninstall', '--yes');
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /Removed\./);
    assert.deepEqual(arm.resourceIds(), [], 'nothing left in the subscription');
    for (const machine of machines) await host.waitForGone(machine.id);
    const after = await meadowrun('azure', 'status');
    assert.match(after.stdout, /Nothing of Meadowrun's in Azure eastus, resource group meadowrun-e2e/);
  });
});
