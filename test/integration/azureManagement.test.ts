// The management Function on Azure, on the fake Resource Manager (whose VMs boot their custom data
// as machines of the emulator) and Azurite (over https, reached with tokens only: the login's, the
// app identity's, the VMs'): `meadowrun manage install --cloud azure` (a user's CLI
// process) makes the Flex Consumption plan, the Function app, its roles and deploys the package
// through the app's OneDeploy endpoint; installing again changes nothing; a newer build redeploys;
// uninstall removes it all. No Functions host runs here, so the harness does what one would: it
// fetches back the very package the fake's SCM host received, unzips it with Python's zipfile, and
// runs its timer function on Node 22 with the app's settings as its environment, a timer argument
// and an InvocationContext-shaped context, its identity served by a stand-in of App Service's
// identity endpoint on 127.0.0.1 (IDENTITY_ENDPOINT / IDENTITY_HEADER).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { QueueServiceClient } from '@azure/storage-queue';
import { BlobPayloadStore } from '../../src/cloud/azure/blobPayloadStore';
import { functionAppName } from '../../src/cloud/azure/data';
import { functionPackage, PACKAGE_CONTAINER, STORAGE_ROLES, VM_ACTIONS } from '../../src/cloud/azure/management/installer';
import { ALLOCATION_TABLE, TableAllocationTable } from '../../src/cloud/azure/tableAllocationTable';
import type { Azurite } from '../support/azurite';
import { machineHostUnavailable, startAzureWorld, type AzureWorld } from '../support/azureWorld';
import type { MachineHost } from '../support/ec2emu/machineHost';
import { startFakeAppServiceIdentity, type FakeAppServiceIdentity } from '../support/fakeAppServiceIdentity';
import type { FakeArm } from '../support/fakeArm';
import { makeProject, waitFor } from '../support/localCloud';
import { invokeOnNode22, node22Unavailable } from '../support/node22Harness';
import { runNode } from '../support/runNode';
import { tempDir } from '../support/tempDir';

const root = path.join(__dirname, '..', '..');
const dist = path.join(root, 'dist');
const bundle = path.join(dist, 'azure-adjuster.js');
const RG = 'meadowrun-mgmt';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

const unavailable = machineHostUnavailable() ?? node22Unavailable() ?? (fs.existsSync(bundle) ? undefined : 'dist/azure-adjuster.js is not built');

describe('the Azure management Function on the fake Resource Manager and Azurite', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let world: AzureWorld;
  let host: MachineHost;
  let arm: FakeArm;
  let azurite: Azurite;
  let identity: FakeAppServiceIdentity;
  let project: string;
  let env: NodeJS.ProcessEnv;
  let table: TableAllocationTable;
  const app = () => functionAppName(arm.subscription, RG);
  const siteId = () => `/subscriptions/${arm.subscription}/resourceGroups/${RG}/providers/Microsoft.Web/sites/${app()}`;
  const say: string[] = [];
  let tmp: string; // the Function instance's temp dir, kept between invocations as on a warm instance

  before(async () => {
    // Storage as on Azure: the CLI with the login's token, the Function with its identity's, the VMs with theirs.
    world = await startAzureWorld({ storageTokens: true });
    ({ host, arm, azurite } = world);
    identity = await startFakeAppServiceIdentity({ principalId: () => arm.resource(siteId())?.identity?.principalId });
    project = makeProject({ 'jobs.py': 'def cube(x):\n    return x ** 3\n' });
    // The app's SCM host is the fake Resource Manager too (requests name the host in their Host header).
    env = { ...world.env, MEADOWRUN_AZURE_SCM_ENDPOINT: arm.endpoint };
    table = TableAllocationTable.open({ connectionString: azurite.connectionString }, ALLOCATION_TABLE);
    tmp = tempDir('function-tmp');
  });

  after(async () => {
    await identity?.stop();
    await world?.stop();
  });
  beforeEach(() => void say.splice(0));

  const meadowrun = (args: string[], o: { cli?: string } = {}) =>
    runNode(o.cli ?? path.join(dist, 'cli.js'), ['--cloud', 'azure', '--location', 'eastus', '--resource-group', RG, ...args], { cwd: project, env });
  const ok = async (...args: string[]) => {
    const r = await meadowrun(args);
    assert.equal(r.code, 0, `meadowrun ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };

  /** One invocation as the Functions host would make it: the deployed package, unzipped, its timer function run on Node 22. */
  async function invoke(): Promise<{ result: Record<string, any>; log: string }> {
    const deployed = arm.deployedPackage(app());
    assert.ok(deployed, 'a package was deployed');
    const dir = tempDir('function-app');
    const zipFile = `${dir}.zip`;
    fs.writeFileSync(zipFile, deployed.zip);
    execFileSync('/usr/bin/python3', ['-m', 'zipfile', '-e', zipFile, dir]);
    const settings = arm.appSettings(app())!;
    const run = await invokeOnNode22('functionInvoke.cjs', [dir, 'adjust'], {
      cwd: dir,
      // The app's settings and what the platform adds: the identity endpoint, no login of anyone's.
      env: { PATH: '/usr/bin:/bin', HOME: tmp, TMPDIR: tmp, ...settings, ...identity.env, WEBSITE_SITE_NAME: app(), FUNCTIONS_WORKER_RUNTIME: 'node', NODE_EXTRA_CA_CERTS: env.NODE_EXTRA_CA_CERTS, AWS_EC2_METADATA_DISABLED: 'true' },
    });
    assert.equal(run.result.error, undefined, run.log);
    return run;
  }

  const vmId = (name: string) => `/subscriptions/${arm.subscription}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${name}`;

  async function clearFleet(): Promise<void> {
    for (const r of await table.listInstances()) {
      for (const jobId of Object.keys(r.jobs)) await table.deallocateJob(r.id, jobId);
      await table.deregisterInstance(r.id);
    }
    for (const m of host.instances()) {
      await armDelete(vmId(m.id));
      await host.waitForGone(m.id);
    }
    await waitFor('no VM left', () => !arm.resourceIds().some((id) => /virtualMachines/.test(id)), 30_000);
  }

  /** DELETE of a resource, as a person would delete it in the portal. */
  function armDelete(id: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = https.request(`${arm.endpoint}${id}?api-version=2024-07-01`, { method: 'DELETE', ca: arm.ca, headers: { authorization: 'Bearer test' } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode! < 300 ? resolve() : reject(new Error(`DELETE ${id}: HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('manage install before prepare says to run `meadowrun azure prepare`, and creates nothing', async () => {
    const r = await meadowrun(['manage', 'install']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /run `meadowrun azure prepare` first/);
    assert.ok(!arm.resourceIds().some((id) => /Microsoft\.Web/.test(id)), 'no plan, no app');
  });

  it('install makes the Flex Consumption plan, the Function app with its identity and roles, and deploys the built package through OneDeploy', async () => {
    await ok('azure', 'prepare');
    const out = await ok('manage', 'install', '--idle-timeout', '300');
    const lines = out.trim().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(' ').slice(0, 3).join(' ')),
      ['Stored the configuration', 'Created the blob', 'Created the Flex', 'Created the Function', 'Created the custom', "Gave the Function's", 'Uploaded the package', 'Deployed the package', 'Installed the management'],
      out,
    );
    const plan = arm.resource(`/subscriptions/${arm.subscription}/resourceGroups/${RG}/providers/Microsoft.Web/serverfarms/meadowrun-adjuster-plan`)!;
    assert.deepEqual([plan.kind, plan.sku, plan.properties.reserved, plan.tags.meadowrun], ['functionapp', { name: 'FC1', tier: 'FlexConsumption' }, true, 'true']);
    const site = arm.resource(siteId())!;
    assert.equal(site.kind, 'functionapp,linux');
    assert.equal(site.tags.meadowrun, 'true');
    assert.equal(site.identity.type, 'SystemAssigned');
    assert.equal(site.properties.serverFarmId, plan.id);
    const config = site.properties.functionAppConfig;
    assert.deepEqual(config.runtime, { name: 'node', version: '22' });
    assert.deepEqual(config.deployment.storage.authentication, { type: 'SystemAssignedIdentity' });
    assert.match(config.deployment.storage.value, new RegExp(`^https://meadowrun[0-9a-f]{15}\\.blob\\.core\\.windows\\.net/${PACKAGE_CONTAINER}$`));
    const settings = arm.appSettings(app())!;
    assert.equal(settings.MEADOWRUN_SCHEDULE, '0 */1 * * * *', 'every minute');
    assert.match(settings.AzureWebJobsStorage__accountName, /^meadowrun[0-9a-f]{15}$/);
    assert.ok(!Object.keys(settings).some((k) => /^(FUNCTIONS_WORKER_RUNTIME|FUNCTIONS_EXTENSION_VERSION|WEBSITE_RUN_FROM_PACKAGE)$/.test(k)), 'Flex Consumption refuses these');
    // The very package the build makes.
    assert.deepEqual(arm.deployedPackage(app())!.zip, functionPackage(bundle));
    // Its roles: exactly the storage account's three data roles and the custom VM role on the group.
    const principal = site.identity.principalId;
    const grants = arm
      .resourceIds()
      .map((id) => arm.resource(id)!)
      .filter((r) => r.type === 'Microsoft.Authorization/roleAssignments' && r.properties.principalId === principal)
      .map((r) => [r.properties.scope.split('/').slice(-2).join('/'), r.properties.roleDefinitionId.split('/').pop()]);
    const role = arm.resourceIds().map((id) => arm.resource(id)!).find((r) => r.type === 'Microsoft.Authorization/roleDefinitions')!;
    assert.deepEqual(role.properties.permissions[0].actions, VM_ACTIONS);
    assert.deepEqual(role.properties.assignableScopes, [`/subscriptions/${arm.subscription}/resourceGroups/${RG}`]);
    assert.deepEqual(grants.sort(), [...STORAGE_ROLES.map((r) => [`storageAccounts/${settings.AzureWebJobsStorage__accountName}`, r]), [`resourceGroups/${RG}`, role.name]].sort());
    const status = await ok('manage', 'status');
    assert.match(status, new RegExp(`^Installed \\(version .*, Function app ${app()} in eastus \\(Flex Consumption\\), 0 \\*/1 \\* \\* \\* \\*\\): runs every 60 s; idle timeout 300 s; 0 thresholds$`, 'm'));
    assert.match(status, /portal\.azure\.com\/#resource\/subscriptions\/.*\/Microsoft\.Web\/sites\/.*\/logStream/);
  });

  it('a second install changes nothing; a newer build redeploys the package', async () => {
    const resources = arm.resourceIds().sort();
    const count = arm.deployedPackage(app())!.count;
    const again = await ok('manage', 'install', '--idle-timeout', '300');
    assert.deepEqual(again.trim().split('\n'), ['Stored the configuration in the table meadowrunInstances (thresholds, idle timeout: read at every run)', 'Updated the management functions (runs every 60 s; idle timeout 300 s; 0 thresholds).']);
    assert.deepEqual(arm.resourceIds().sort(), resources);
    assert.equal(arm.deployedPackage(app())!.count, count, 'not deployed again');

    // A newer build: the CLI and the Function's bundle beside it, as an update installs them.
    const newer = tempDir('newer-dist');
    // Copies, not links: Node runs a linked file from where it really is, which would find dist/'s bundle.
    for (const f of fs.readdirSync(dist).filter((f) => /^cli(\.\d+)?\.js$/.test(f))) fs.copyFileSync(path.join(dist, f), path.join(newer, f));
    fs.writeFileSync(path.join(newer, 'azure-adjuster.js'), `${fs.readFileSync(bundle, 'utf8')}\n// a newer build\n`);
    const r = await meadowrun(['manage', 'install', '--idle-timeout', '300'], { cli: path.join(newer, 'cli.js') });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Deployed the new package \(version .* → .*\)$/m);
    assert.deepEqual(arm.deployedPackage(app())!.zip, functionPackage(path.join(newer, 'azure-adjuster.js')));
    // And back to the build's own, for the invocations below.
    assert.match(await ok('manage', 'install', '--idle-timeout', '300'), /^Deployed the new package/m);
    assert.deepEqual(arm.deployedPackage(app())!.zip, functionPackage(bundle));
  });

  it('an idle VM is deleted once idle past the timeout, not before; the run record shows in status', async () => {
    const cold = await ok('run-function', 'jobs.py:cube', '--args', '[3]', '--json');
    const vm = JSON.parse(cold).instanceId as string;
    assert.ok(arm.resource(vmId(vm)), 'a VM runs');
    const IDLE_S = 40;
    await ok('manage', 'install', '--idle-timeout', String(IDLE_S));
    const idleSince = (await table.getInstance(vm))!.lastJobChangeAt;
    const first = await invoke();
    assert.deepEqual(first.result.terminated, [], first.log);
    assert.match(first.result.kept[vm], /^idle \d+s$/);
    assert.ok((await table.getInstance(vm))!.managed, 'marked as managed: its own watchdog defers');
    assert.ok(identity.requests.includes('https://management.azure.com'), 'Resource Manager reached with the app identity’s token');
    assert.ok(identity.requests.includes('https://storage.azure.com'), 'the table read with the app identity’s token (its settings name the storage endpoints, no key)');
    assert.equal(arm.appSettings(app())!.MEADOWRUN_AZURE_STORAGE_CONNECTION_STRING, undefined);
    // The timer would run again a minute later; here as soon as the timeout has passed.
    await waitFor('the idle timeout to pass', () => Date.now() > idleSince + IDLE_S * 1000, (IDLE_S + 5) * 1000);
    const second = await invoke();
    const deletedAfterS = (Date.now() - idleSince) / 1000;
    assert.deepEqual(second.result.terminated, [vm], second.log);
    assert.equal(await table.getInstance(vm), undefined, 'its row is gone');
    await waitFor('the VM to be deleted', () => !arm.resource(vmId(vm)), 30_000);
    await host.waitForGone(vm);
    console.log(`azure management: an idle VM deleted ${deletedAfterS.toFixed(1)} s after its last job (idle timeout ${IDLE_S} s)`);
    const status = await ok('manage', 'status');
    assert.match(status, /^Last run \d+ s ago: terminated 1, deregistered 0, launched 0$/m, status);
  });

  it('an unmet threshold launches a VM, once, even from two overlapping runs; a later run marks it ready once it published its host key', async () => {
    await clearFleet();
    await ok('manage', 'install', '--idle-timeout', '300', '--thresholds', '[{"cpu": 2, "memoryGb": 8, "count": 1}]');
    const attempts = arm.vmAttempts.length;
    const runs = await Promise.all([invoke(), invoke()]);
    const launched = runs.flatMap((r) => r.result.launched as string[]);
    assert.equal(launched.length, 1, runs.map((r) => r.log).join('\n'));
    assert.equal(arm.vmAttempts.length - attempts, 1, 'one VM created in all');
    assert.ok(runs.some((r) => r.result.skipped), 'the other run found the lock taken');
    const [id] = launched;
    const vm = arm.resource(vmId(id))!;
    assert.match(vm.identity.type, /UserAssigned/, "launched with the VMs' identity");
    assert.equal(vm.tags.meadowrun, 'true');
    await waitFor('a later run to mark it ready', async () => {
      await invoke();
      return (await table.getInstance(id))?.state === 'ready';
    }, 120_000);
    assert.match(await ok('manage', 'status'), /^Last run \d+ s ago: terminated 0, deregistered 0, launched 0$/m);
  });

  it("stale map queues are deleted with their payloads (a client's dry run only names them); fresh ones are kept", async () => {
    await clearFleet();
    await ok('manage', 'install', '--idle-timeout', '300', '--thresholds', '[]', '--queue-max-age', '3600');
    const queues = QueueServiceClient.fromConnectionString(azurite.connectionString);
    const old = String(Date.now() - 3 * 3600_000);
    await queues.createQueue('meadowrun-stale-request', { metadata: { meadowrun: 'true', meadowrunlastused: old } });
    await queues.createQueue('meadowrun-stale-result', { metadata: { meadowrun: 'true' } });
    await queues.createQueue('meadowrun-fresh-request', { metadata: { meadowrun: 'true', meadowrunlastused: String(Date.now()) } });
    await queues.createQueue('meadowrun-fresh-result', { metadata: { meadowrun: 'true' } });
    const payloads = BlobPayloadStore.open({ connectionString: azurite.connectionString });
    const payload = await payloads.put('stale/big', Buffer.from('x'));
    // A client's dry run (`manage run-once --dry-run`, the same run under the client's login) only says so.
    assert.match(await ok('manage', 'run-once', '--dry-run'), /^Would delete the stale queues of stale$/m);
    const { result, log } = await invoke();
    assert.deepEqual(result.deletedQueues, ['stale'], log);
    await assert.rejects(payloads.get(payload), /does not exist|not found/i);
    const left: string[] = [];
    for await (const q of queues.listQueues({ prefix: 'meadowrun-' })) left.push(q.name);
    assert.deepEqual(left.sort(), ['meadowrun-fresh-request', 'meadowrun-fresh-result']);
  });

  it('uninstall removes exactly what install made, saying each; again it finds nothing', async () => {
    await clearFleet();
    const before = arm.resourceIds();
    const principal = arm.resource(siteId())!.identity.principalId;
    const out = await ok('manage', 'uninstall');
    assert.deepEqual(
      out.trim().split('\n').map((l) => l.replace(/ \(.*\)$/, '').replace(/"[^"]*"/, 'ROLE')),
      [`Deleted the Function app ${app()}`, 'Deleted the Flex Consumption plan meadowrun-adjuster-plan', "Removed the Function identity's 4 role assignments", 'Deleted the custom role ROLE', `Deleted the blob container ${PACKAGE_CONTAINER}`, "Removed the management's items from the table meadowrunInstances", 'Uninstalled the management functions.'],
    );
    const removed = before.filter((id) => !arm.resourceIds().includes(id));
    assert.equal(removed.length, 2 + 4 + 1, removed.join('\n')); // plan, app, 4 assignments, the role
    assert.ok(!arm.resourceIds().some((id) => /Microsoft\.Web|roleDefinitions/.test(id) || arm.resource(id)?.properties?.principalId === principal));
    assert.match(await ok('manage', 'status'), /^Not installed\.$/m);
    const again = await ok('manage', 'uninstall');
    assert.deepEqual(again.trim().split('\n'), ['The management functions were not installed.']);
  });

  it('a login that may not create the custom role: install says which step Azure refused and what rights it needs; uninstall removes what it had made', async () => {
    arm.refuseWrites = /\/roleDefinitions\//i;
    const r = await meadowrun(['manage', 'install']).finally(() => (arm.refuseWrites = undefined));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Azure refused creating the Function's custom role and role assignments \(AuthorizationFailed\)\. Your login needs Contributor and User Access Administrator \(or Owner\) on the resource group meadowrun-mgmt/);
    assert.doesNotMatch(r.stderr, /unexpected error|    at /, 'one readable message');
    const out = await ok('manage', 'uninstall');
    assert.match(out, /^Deleted the Function app /m);
    assert.match(out, /^Deleted the Flex Consumption plan /m);
    assert.ok(!arm.resourceIds().some((id) => /Microsoft\.Web|roleDefinitions/.test(id)), 'nothing of it left');
  });
});
