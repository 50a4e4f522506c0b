// The editor on Azure, inside a real VS Code, signing in through the stand-in az that runTests.ts
// puts first on PATH (test/support/fakeAz.ts): Select Cloud → Azure saves subscription, resource
// group and location and checks the login the way the cloud will; logged out, the choice is still
// saved and says `az login`; the status bar shows `azure · <location>`. Prepare and Uninstall Azure
// Resources run on the fake Resource Manager, Azurite and the stand-in Key Vault runTests.ts starts.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { after, before, describe, it } from 'mocha';
import type { MeadowrunApi } from '../../../src/ui/activate';
import type { AzureChoice } from '../../../src/ui/azureCommands';
import type { NetworkManagementClient } from '@azure/arm-network';
import type { AzureCloud } from '../../../src/cloud/azure';

let api: MeadowrunApi;

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (status bar: ${api.statusBar.text}; last error: ${api.model.lastError})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const setting = (key: string) => vscode.workspace.getConfiguration('meadowrun').get<string>(key);
const loggedIn = () => path.join(process.env.MEADOWRUN_TEST_FAKE_AZ!, 'logged-in');
/** The stand-in az's default subscription (the fake Resource Manager's). */
const azDefault = () => fs.readFileSync(path.join(process.env.MEADOWRUN_TEST_FAKE_AZ!, 'subscription'), 'utf8').trim();

describe('the editor on Azure (a stand-in az)', function () {
  this.timeout(60_000);

  const savedPath = process.env.PATH;
  before(async () => {
    // The tests run in the extension host, whose PATH VS Code takes from the login shell: the
    // stand-in az goes first here, for the extension's az calls in this same process.
    process.env.PATH = `${process.env.MEADOWRUN_TEST_FAKE_AZ}${path.delimiter}${savedPath}`;
    api = (await vscode.extensions.getExtension('meadowrun.meadowrun-vscode')!.activate()) as MeadowrunApi;
  });

  after(async () => {
    process.env.PATH = savedPath;
    if (!api) return;
    fs.writeFileSync(loggedIn(), '');
    await vscode.commands.executeCommand('meadowrun.selectCloud', 'local');
    await vscode.workspace.getConfiguration('http').update('systemCertificates', undefined, vscode.ConfigurationTarget.Global);
    for (const key of ['azure.subscription', 'azure.resourceGroup', 'azure.location', 'azure.sshFrom']) {
      await vscode.workspace.getConfiguration('meadowrun').update(key, undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it("Select Cloud → Azure with the az default subscription saves the choice, signs in, and the status bar shows azure · location", async () => {
    const choice = await vscode.commands.executeCommand<AzureChoice>('meadowrun.selectCloud', 'azure', { subscription: '', resourceGroup: 'meadowrun-tests', location: 'westeurope' });
    assert.deepStrictEqual(choice, { cloud: 'azure', subscription: '', resourceGroup: 'meadowrun-tests', location: 'westeurope', subscriptionId: azDefault() });
    assert.deepStrictEqual(
      [setting('cloud'), setting('azure.subscription'), setting('azure.resourceGroup'), setting('azure.location')],
      ['azure', '', 'meadowrun-tests', 'westeurope'],
    );
    await waitFor('the status bar to show azure · westeurope', () => /^\$\(cloud\) azure · westeurope( · |$)/.test(api.statusBar.text));
    assert.match(api.statusBar.tooltip, /jobs run on Azure westeurope, resource group meadowrun-tests/);
    const commands = await vscode.commands.getCommands(true);
    for (const id of ['meadowrun.prepareAzure', 'meadowrun.uninstallAzure']) assert.ok(commands.includes(id), id);
  });

  it('logged out, Azure can still be chosen: it is saved, and says to run `az login`', async () => {
    fs.rmSync(loggedIn());
    const choice = await vscode.commands.executeCommand<AzureChoice>('meadowrun.selectCloud', 'azure', {
      subscription: '00000000-0000-0000-0000-000000000002',
      resourceGroup: 'meadowrun',
      location: 'eastus',
    });
    assert.strictEqual(choice?.subscriptionId, undefined);
    assert.match(choice?.problem ?? '', /No Azure login: run `az login`/);
    assert.deepStrictEqual([setting('cloud'), setting('azure.subscription'), setting('azure.location')], ['azure', '00000000-0000-0000-0000-000000000002', 'eastus']);
    await waitFor('the status bar to show azure · eastus', () => /^\$\(cloud\) azure · eastus( · |$)/.test(api.statusBar.text));
    fs.writeFileSync(loggedIn(), '');
  });

  it('Prepare Azure Resources creates what launches need, its SSH rule admitting meadowrun.azure.sshFrom; an Azure VM row shows its market and place; Uninstall Azure Resources removes it all', async () => {
    // VS Code's own certificate handling replaces Node's CA list (and with it NODE_EXTRA_CA_CERTS) on https requests.
    await vscode.workspace.getConfiguration('http').update('systemCertificates', false, vscode.ConfigurationTarget.Global);
    // SSH comes from a VPN's range, not this machine's address (the setting wins over MEADOWRUN_AZURE_SSH_FROM).
    await vscode.workspace.getConfiguration('meadowrun').update('azure.sshFrom', '198.51.100.0/24', vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('meadowrun.selectCloud', 'azure', { subscription: '', resourceGroup: 'meadowrun-vscode', location: 'eastus' });
    const prepared = await vscode.commands.executeCommand<{ kind: string; name: string }[]>('meadowrun.prepareAzure');
    if (!prepared) {
      // The command reported its failure in a notification; say it here.
      const { cloud } = await api.services.get();
      await (cloud as unknown as { prepareAccount(): Promise<unknown> }).prepareAccount();
    }
    const kinds = (prepared ?? []).map((r) => r.kind).sort();
    for (const kind of ['Microsoft.KeyVault/vaults', 'Microsoft.ManagedIdentity/userAssignedIdentities', 'Microsoft.Network/networkSecurityGroups', 'Microsoft.Network/virtualNetworks', 'Microsoft.Storage/storageAccounts']) {
      assert.ok(kinds.includes(kind), `${kind} in ${kinds}`);
    }

    // The network security group admits SSH from that range, and from nothing else.
    const { cloud } = await api.services.get();
    const network = (cloud as unknown as { provider: { o: { network: NetworkManagementClient } } }).provider.o.network;
    const nsg = await network.networkSecurityGroups.get('meadowrun-vscode', 'meadowrun-nsg');
    assert.deepStrictEqual(
      (nsg.securityRules ?? []).filter((r) => r.destinationPortRange === '22').map((r) => [r.sourceAddressPrefix, r.access, r.direction]),
      [['198.51.100.0/24', 'Allow', 'Inbound']],
    );

    // A row as a launch writes it (the Azure Table on Azurite), before its VM boots.
    const now = Date.now();
    await cloud.table.registerInstance({
      id: 'meadowrun-vm-launching',
      state: 'launching',
      typeName: 'Standard_D2s_v5',
      spot: false,
      zone: 'eastus-2',
      price: 0.096,
      total: { cpu: 2, memoryGb: 8, gpus: 0 },
      jobs: { j1: { jobId: 'j1', cpu: 1, memoryGb: 2, gpus: 0, allocatedAt: now } },
      preventFurtherAllocation: false,
      registeredAt: now,
      lastJobChangeAt: now,
    });
    // A refresh Prepare started may have read the table before the row: refresh until it is seen.
    const find = () => api.instancesTree.getChildren().find((n) => n.kind === 'instance' && n.record.id === 'meadowrun-vm-launching');
    await waitFor('the launching VM to be listed', async () => (await api.model.refresh(), !!find()));
    assert.strictEqual(api.model.lastError, undefined);
    const node = find();
    assert.ok(node && node.kind === 'instance');
    assert.match(String(api.instancesTree.getTreeItem(node).description), /^launching · \$0\.0960\/h · 1 job · .* · on-demand · eastus-2 · meadowrun-vm-launching$/);
    await cloud.table.deallocateJob('meadowrun-vm-launching', 'j1');
    await cloud.table.deregisterInstance('meadowrun-vm-launching');

    // With purge protection on (a policy may turn it on), the Key Vault outlives the uninstall, and a
    // warning says so, not only a passing progress line; the next prepare recovers it.
    const resources = (cloud as unknown as AzureCloud).arm.resources.resources;
    const vaultName = (prepared ?? []).find((r) => r.kind === 'Microsoft.KeyVault/vaults')!.name;
    const vaultId = `subscriptions/${(cloud as unknown as AzureCloud).subscription}/resourceGroups/meadowrun-vscode/providers/Microsoft.KeyVault/vaults/${vaultName}`;
    const protect = async (on: boolean) => {
      const vault = await resources.getById(vaultId, '2023-07-01');
      await resources.beginCreateOrUpdateByIdAndWait(vaultId, '2023-07-01', { location: vault.location, tags: vault.tags, properties: { ...vault.properties, enablePurgeProtection: on } });
    };
    await protect(true);
    const warnings: string[] = [];
    const log = api.services.log;
    const warn = log.warn;
    log.warn = (message: string, ...args: unknown[]) => {
      warnings.push(message);
      warn.call(log, message, ...args);
    };
    try {
      const first = await vscode.commands.executeCommand<{ kind: string }[]>('meadowrun.uninstallAzure', { confirmed: true });
      assert.ok((first ?? []).length >= kinds.length, `removed ${JSON.stringify(first)}`);
    } finally {
      log.warn = warn;
    }
    assert.match(warnings.join('\n'), /Uninstall Azure Resources: not removed: Key Vault meadowrun-\w+ has purge protection, so it cannot be purged: .* until Azure purges it on \d{4}-/);
    const recovered = await vscode.commands.executeCommand<{ kind: string }[]>('meadowrun.prepareAzure');
    assert.ok((recovered ?? []).some((r) => r.kind === 'Microsoft.KeyVault/vaults'), `the vault is back: ${JSON.stringify(recovered)}`);
    // (Azure never lets purge protection be turned off; the fake does, so the rest of the test can purge it.)
    await protect(false);

    const removed = await vscode.commands.executeCommand<{ kind: string }[]>('meadowrun.uninstallAzure', { confirmed: true });
    assert.ok((removed ?? []).length >= kinds.length, `removed ${JSON.stringify(removed)}`);
    const again = await vscode.commands.executeCommand<{ kind: string }[]>('meadowrun.uninstallAzure', { confirmed: true });
    assert.deepStrictEqual(again, [], 'nothing is left');
  });
});
