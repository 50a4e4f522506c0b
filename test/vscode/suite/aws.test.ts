// The editor on AWS, inside a real VS Code, against moto (started by runTests.ts, reached through
// the profile files of test/support/awsProfiles.ts): Select Cloud with a profile and region, one
// without credentials, the status bar, Prepare AWS Account, the explorer's launching EC2 row, and
// Uninstall AWS Resources. The pickers themselves are driven in test/e2e/workbench.e2e.ts.
import * as assert from 'assert';
import * as vscode from 'vscode';
import { after, before, describe, it } from 'mocha';
import type { MeadowrunApi } from '../../../src/ui/activate';
import type { CloudChoice } from '../../../src/ui/awsCommands';

let api: MeadowrunApi;

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const setting = (key: string) => vscode.workspace.getConfiguration('meadowrun').get<string>(key);

describe('the editor on AWS (moto)', function () {
  this.timeout(120_000);

  before(async function () {
    if (process.env.MEADOWRUN_TEST_NO_MOTO) {
      console.log(`aws suite skipped: moto cannot run here (${process.env.MEADOWRUN_TEST_NO_MOTO})`);
      this.skip();
    }
    api = (await vscode.extensions.getExtension('meadowrun.meadowrun-vscode')!.activate()) as MeadowrunApi;
  });

  after(async () => {
    if (!api) return;
    await vscode.commands.executeCommand('meadowrun.selectCloud', 'local');
    for (const key of ['aws.profile', 'aws.region', 'aws.ami']) await vscode.workspace.getConfiguration('meadowrun').update(key, undefined, vscode.ConfigurationTarget.Global);
  });

  it('Select Cloud → AWS with a profile and region saves both, signs in to the account, and the status bar shows cloud and region', async () => {
    // An instance on the local cloud, counted in the status bar: it must not be counted as AWS's.
    await vscode.commands.executeCommand('meadowrun.selectCloud', 'local');
    const { cloud: local } = await api.services.get();
    const now = Date.now();
    const total = { cpu: 1, memoryGb: 1, gpus: 0 };
    await local.table.registerInstance({ id: 'local-elsewhere', state: 'ready', typeName: 'local.small', spot: false, price: 0.01, total, jobs: {}, preventFurtherAllocation: false, registeredAt: now, lastJobChangeAt: now });
    try {
      await api.model.refresh();
      assert.match(api.statusBar.text, /^\$\(cloud\) local · \d+ · /);
      const choice = await vscode.commands.executeCommand<CloudChoice>('meadowrun.selectCloud', 'aws', { profile: 'emu', region: 'us-east-1' });
      assert.deepStrictEqual(choice, { cloud: 'aws', profile: 'emu', region: 'us-east-1', account: '123456789012' });
      assert.ok(!api.model.instances.some((r) => r.id === 'local-elsewhere'), 'the local instance is gone from the model at once, not at the next poll');
      assert.doesNotMatch(api.statusBar.text, / · \d+ · /, "the status bar counts no other cloud's instances");
    } finally {
      await local.table.deregisterInstance('local-elsewhere');
    }
    assert.deepStrictEqual([setting('cloud'), setting('aws.profile'), setting('aws.region')], ['aws', 'emu', 'us-east-1']);
    await waitFor('the status bar to show aws · us-east-1', () => api.statusBar.text === '$(cloud) aws · us-east-1');
    assert.match(api.statusBar.tooltip, /jobs run on AWS us-east-1 with the profile emu/);
    // A cloud no provider answers to is refused (with the known ones), and nothing changes.
    assert.strictEqual(await vscode.commands.executeCommand('meadowrun.selectCloud', 'nosuch'), undefined);
    assert.strictEqual(setting('cloud'), 'aws');
  });

  it('a profile without credentials can still be chosen; it says so, with the fix, and the region follows the profile', async () => {
    const choice = await vscode.commands.executeCommand<CloudChoice>('meadowrun.selectCloud', 'aws', { profile: 'nokeys', region: '' });
    assert.strictEqual(setting('aws.profile'), 'nokeys');
    assert.strictEqual(choice?.region, 'eu-west-1', "the profile's region, from AWS_CONFIG_FILE");
    assert.strictEqual(choice?.account, undefined);
    assert.match(choice?.problem ?? '', /No AWS credentials found for the AWS profile "nokeys": set them up with `aws configure sso`/);
    await waitFor('the status bar to show the profile’s region', () => api.statusBar.text === '$(cloud) aws · eu-west-1');
  });

  it('meadowrun.aws.ami reaches the cloud the jobs use: a malformed one is refused, naming the setting', async () => {
    await vscode.commands.executeCommand('meadowrun.selectCloud', 'aws', { profile: 'emu', region: 'us-east-1' });
    await vscode.workspace.getConfiguration('meadowrun').update('aws.ami', 'ubuntu-latest', vscode.ConfigurationTarget.Global);
    await waitFor('the cloud to be built from the new setting', async () => {
      const refused = await api.services.get().then(() => undefined, (e: Error) => e.message);
      return /^meadowrun\.aws\.ami \(--ami\) must be an AMI id .*\(got "ubuntu-latest"\)$/.test(refused ?? '');
    });
    await vscode.workspace.getConfiguration('meadowrun').update('aws.ami', 'ami-0abcdef1234567890', vscode.ConfigurationTarget.Global);
    await waitFor('a well-formed AMI to be taken', async () => api.services.get().then(() => true, () => false));
    await vscode.workspace.getConfiguration('meadowrun').update('aws.ami', undefined, vscode.ConfigurationTarget.Global);
  });

  it('Prepare AWS Account creates what launches need; a launching EC2 row shows its zone and market; Uninstall AWS Resources removes it all', async () => {
    await vscode.commands.executeCommand('meadowrun.selectCloud', 'aws', { profile: 'emu', region: 'us-east-1' });
    const prepared = await vscode.commands.executeCommand<{ kind: string; name: string }[]>('meadowrun.prepareAws');
    const kinds = (prepared ?? []).map((r) => r.kind);
    for (const kind of ['DynamoDB table', 'Secrets Manager secret', 'S3 bucket', 'security group', 'IAM role', 'IAM instance profile']) assert.ok(kinds.includes(kind), `${kind} in ${kinds}`);

    // A row as a launch writes it, before its instance boots (and before EC2 lists it).
    const { cloud } = await api.services.get();
    const now = Date.now();
    await cloud.table.registerInstance({
      id: 'i-0launching',
      state: 'launching',
      typeName: 'm5.large',
      spot: false,
      zone: 'us-east-1b',
      price: 0.096,
      total: { cpu: 2, memoryGb: 8, gpus: 0 },
      jobs: { j1: { jobId: 'j1', cpu: 1, memoryGb: 2, gpus: 0, allocatedAt: now } },
      preventFurtherAllocation: false,
      registeredAt: now,
      lastJobChangeAt: now,
    });
    await api.model.refresh();
    assert.strictEqual(api.model.lastError, undefined);
    const node = api.instancesTree.getChildren().find((n) => n.kind === 'instance' && n.record.id === 'i-0launching');
    assert.ok(node, 'the launching instance is listed');
    const item = api.instancesTree.getTreeItem(node);
    assert.match(String(item.description), /^launching · \$0\.0960\/h · 1 job · .* · on-demand · us-east-1b · i-0launching$/);
    assert.strictEqual((item.iconPath as vscode.ThemeIcon).id, 'loading~spin');
    const [jobNode] = api.instancesTree.getChildren(node);
    assert.match(String(api.instancesTree.getTreeItem(jobNode).description), /^waiting for the instance · /, 'its job has not started');
    await cloud.table.deallocateJob('i-0launching', 'j1');
    await cloud.table.deregisterInstance('i-0launching');

    const removed = await vscode.commands.executeCommand<{ kind: string }[]>('meadowrun.uninstallAws', { confirmed: true });
    assert.deepStrictEqual((removed ?? []).map((r) => r.kind).sort(), [...kinds].sort());
    const again = await vscode.commands.executeCommand<{ kind: string }[]>('meadowrun.uninstallAws', { confirmed: true });
    assert.deepStrictEqual(again, [], 'nothing is left');
  });
});
