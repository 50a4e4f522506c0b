// `meadowrun azure prepare|status|uninstall` as a user's CLI process, on the fake Resource Manager
// (HTTPS), Azurite and the stand-in Key Vault, with the stand-in az logged in — no VM is launched, so
// no machine emulator is needed. --ssh-from sets what the network security group's SSH rule
// admits; uninstall leaves no soft-deleted Key Vault holding the SSH key (it purges it, an ARM
// long-running operation), and says so plainly when purge protection forbids that, in which case the
// next prepare recovers the vault with its secrets.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAzurite, type Azurite } from '../support/azurite';
import { startFakeArm, type FakeArm } from '../support/fakeArm';
import { fakeAz } from '../support/fakeAz';
import { startFakeKeyVault, type FakeKeyVault } from '../support/fakeKeyVault';
import { runNode } from '../support/runNode';
import { tempDir } from '../support/tempDir';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');

describe('meadowrun azure prepare|status|uninstall on the fake Resource Manager', () => {
  let arm: FakeArm;
  let azurite: Azurite;
  let vault: FakeKeyVault;
  let env: NodeJS.ProcessEnv;
  const rg = 'meadowrun-account';

  before(async () => {
    [arm, azurite, vault] = await Promise.all([startFakeArm(), startAzurite(), startFakeKeyVault()]);
    arm.linkKeyVault(vault);
    const home = tempDir('azure-account');
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
      MEADOWRUN_AZURE_DIR: path.join(home, 'azure'),
      // Never the public address lookup (it would leave this machine); --ssh-from wins over it.
      MEADOWRUN_AZURE_SSH_FROM: '127.0.0.1/32',
    };
  });

  after(async () => {
    await Promise.all([arm?.stop(), azurite?.stop(), vault?.stop()]);
  });

  const meadowrun = (args: string[], input?: string) =>
    runNode(cli, ['--cloud', 'azure', '--location', 'eastus', '--resource-group', rg, ...args], { env, input });
  const nsgId = () => `/subscriptions/${arm.subscription}/resourceGroups/${rg}/providers/Microsoft.Network/networkSecurityGroups/meadowrun-nsg`;
  const sshSources = () => (arm.resource(nsgId())?.properties.securityRules ?? []).filter((r: any) => r.properties.destinationPortRange === '22').map((r: any) => r.properties.sourceAddressPrefix);
  const vaultResource = () => arm.resourceIds().map((id) => arm.resource(id)!).find((r) => r.type === 'Microsoft.KeyVault/vaults');

  it('--ssh-from that is not a CIDR is refused, naming the setting, before anything is created', async () => {
    const r = await meadowrun(['--ssh-from', 'office-vpn', 'azure', 'prepare']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /meadowrun\.azure\.sshFrom \(--ssh-from\) must be an IPv4 CIDR such as 203\.0\.113\.7\/32 \(got "office-vpn"\)/);
    assert.deepEqual(arm.resourceIds(), []);
  });

  it('prepare --ssh-from admits that CIDR (not this machine\'s address) in the network security group\'s SSH rule', async () => {
    const r = await meadowrun(['--ssh-from', '198.51.100.0/24', 'azure', 'prepare']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(sshSources(), ['198.51.100.0/24']);
    const rule = arm.resource(nsgId())!.properties.securityRules[0];
    assert.deepEqual([rule.properties.access, rule.properties.direction, rule.properties.protocol], ['Allow', 'Inbound', 'Tcp']);
  });

  it('uninstall deletes the resource group, then purges the soft-deleted Key Vault and the SSH key in it: nothing is left', async () => {
    // A secret in the vault, as the SSH key is after a first launch.
    const set = await meadowrun(['secret', 'set', 'index-token'], 'a token');
    assert.equal(set.code, 0, set.stderr);
    assert.equal(vault.secretNames().length, 1);
    const removed = await meadowrun(['azure', 'uninstall', '--yes']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stderr, /purging the deleted Key Vault meadowrun-[0-9a-f]+ \(it held the SSH key\)/);
    assert.match(removed.stdout, /Removed\.\n$/);
    assert.deepEqual(arm.resourceIds(), []);
    assert.deepEqual(arm.deletedVaults(), [], 'no soft-deleted vault');
    assert.deepEqual(vault.secretNames(), [], 'its secrets went with it');
    // The purge is a long-running operation: accepted (202), then its Location polled until done.
    const purge = arm.requests.findIndex((q) => q.method === 'POST' && /\/deletedVaults\/[^/]+\/purge\?/.test(q.path));
    assert.ok(purge >= 0, 'a purge was asked for');
    assert.ok(arm.requests.slice(purge + 1).some((q) => q.method === 'GET' && /\/providers\/Microsoft\.KeyVault\/locations\/eastus\/operationResults\//.test(q.path)), 'its operation was followed');
    const status = await meadowrun(['azure', 'status']);
    assert.match(status.stdout, /Nothing of Meadowrun's in Azure eastus, resource group meadowrun-account/);
  });

  it('with purge protection on, uninstall says the vault stays soft-deleted and until when, status lists it, and prepare recovers it with its secrets', async () => {
    const prepared = await meadowrun(['--ssh-from', '198.51.100.0/24', 'azure', 'prepare']);
    assert.equal(prepared.code, 0, prepared.stderr);
    const set = await meadowrun(['secret', 'set', 'kept'], 'a value');
    assert.equal(set.code, 0, set.stderr);
    // As a user (or a policy) would turn it on; Meadowrun never does.
    vaultResource()!.properties.enablePurgeProtection = true;
    const purges = () => arm.requests.filter((q) => q.method === 'POST' && /\/purge\?/.test(q.path)).length;
    const purgesBefore = purges();

    const removed = await meadowrun(['azure', 'uninstall', '--yes']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /Removed, but not all:\n  Key Vault meadowrun-[0-9a-f]+ has purge protection, so it cannot be purged: it stays soft-deleted, with the SSH key and secrets in it, until Azure purges it on \d{4}-\d\d-\d\dT/);
    assert.equal(arm.deletedVaults().length, 1);
    assert.equal(purges(), purgesBefore, 'no purge is asked for: Azure would refuse it');
    const status = await meadowrun(['azure', 'status']);
    assert.match(status.stdout, /Microsoft\.KeyVault\/deletedVaults: meadowrun-[0-9a-f]+ \(soft-deleted, purge protection: Azure purges it on /);

    const again = await meadowrun(['--ssh-from', '198.51.100.0/24', 'azure', 'prepare']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /recovering the soft-deleted Key Vault meadowrun-/);
    assert.deepEqual(arm.deletedVaults(), []);
    assert.ok(vaultResource(), 'the vault is back');
    const got = await meadowrun(['secret', 'list']);
    assert.match(got.stdout, /kept/, 'with its secrets');

    // Protection off again (in the fake; Azure never allows that): uninstall purges it, as above.
    vaultResource()!.properties.enablePurgeProtection = false;
    const last = await meadowrun(['azure', 'uninstall', '--yes']);
    assert.equal(last.code, 0, last.stderr);
    assert.deepEqual([arm.resourceIds(), arm.deletedVaults()], [[], []]);
  });

  it('a login without the right to purge: uninstall says so and names the az command that purges the vault; uninstall again, once allowed, purges it', async () => {
    const prepared = await meadowrun(['--ssh-from', '198.51.100.0/24', 'azure', 'prepare']);
    assert.equal(prepared.code, 0, prepared.stderr);
    arm.purgeForbidden = true;
    try {
      const refused = await meadowrun(['azure', 'uninstall', '--yes']);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /Could not purge the deleted Key Vault (meadowrun-[0-9a-f]+): HTTP 403 AuthorizationFailed: .*deletedVaults\/purge\/action.* \(purge it with `az keyvault purge --name \1 --location eastus`\)/);
      assert.deepEqual(arm.resourceIds(), [], 'the rest is gone');
      assert.equal(arm.deletedVaults().length, 1);
    } finally {
      arm.purgeForbidden = false;
    }
    // What is left is listed, and a second uninstall finishes the job.
    const status = await meadowrun(['azure', 'status']);
    assert.match(status.stdout, /Microsoft\.KeyVault\/deletedVaults: meadowrun-[0-9a-f]+ \(soft-deleted\)/);
    const again = await meadowrun(['azure', 'uninstall', '--yes']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(arm.deletedVaults(), []);
  });
});
