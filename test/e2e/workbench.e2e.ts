// UI test: the packaged extension in a real VS Code workbench (code-server in headless Chromium).
// A user right-clicks hello.py → Run File Remotely; the job's output appears in the "Meadowrun Jobs"
// output channel and the instance it ran on appears, with its price, in the Instances view; a
// Python file shows a ▶ Run remotely lens above each top-level def.
// Screenshots go to test-output/screenshots/. Harness: run.ts.
import * as assert from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { awsProfilesEnv } from '../support/awsProfiles';
import { ec2EmulatorUnavailable, startEc2Emulator } from '../support/ec2emu';
import { machineHostUnavailable, startAzureWorld } from '../support/azureWorld';
import { startFakePricing } from '../support/fakePricing';
import { packageExtension, screenshotDir, startWorkbench } from './run';

const greeting = 'Hello from Meadowrun!'; // what test/vscode/workspace/hello.py prints

function activityBarItem(page: Page, name: string) {
  return page.locator(`.part.activitybar a.action-label[aria-label^="${name}"]`);
}

// Monaco renders spaces as no-break spaces.
async function outputText(page: Page): Promise<string> {
  const text = await page.locator('.part.panel .monaco-editor .view-lines').first().innerText().catch(() => '');
  return text.replace(/\u00a0/g, ' ');
}

// The Output view shows one channel at a time; pick ours through the command that lists them.
async function showOutputChannel(page: Page, name: string): Promise<void> {
  await page.keyboard.press('F1');
  await page.keyboard.type('Output: Show Output Channels');
  await page.locator('.quick-input-list .monaco-list-row').first().click();
  await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().click();
}

// A click that follows the menu's opening too closely is sometimes ignored (the menu stays open,
// the item highlighted): then Enter runs the highlighted item.
async function chooseMenuItem(page: Page, label: string): Promise<void> {
  // Exactly this label: "Run File Remotely" must not also match "Run File Remotely with Arguments…".
  const item = page.locator(`.context-view .action-item:has(.action-label:text-is(${JSON.stringify(label)}))`);
  await item.hover({ timeout: 10_000 });
  await item.click();
  const menu = page.locator('.context-view .monaco-menu');
  const closed = await menu.waitFor({ state: 'hidden', timeout: 2000 }).then(() => true, () => false);
  if (!closed) {
    console.log(`e2e: the click on "${label}" was ignored; pressing Enter`);
    await page.keyboard.press('Enter');
  }
  await menu.waitFor({ state: 'hidden', timeout: 5000 });
}

// Drags the sash on the sidebar's right edge.
async function widenSidebar(page: Page, byPx: number): Promise<void> {
  const box = await page.locator('.part.sidebar').boundingBox();
  if (!box) return;
  const x = box.x + box.width;
  const y = box.y + box.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x + byPx, y, { steps: 5 });
  await page.mouse.up();
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('Run File Remotely from the Explorer shows output and the instance', { timeout: 10 * 60_000 }, async () => {
  const sizeMb = packageExtension();
  console.log(`e2e: dist/meadowrun.vsix is ${sizeMb.toFixed(2)} MB`);
  fs.mkdirSync(screenshotDir, { recursive: true });
  const shot = (name: string) => path.join(screenshotDir, `${name}.png`);
  fs.rmSync(shot('failure'), { force: true }); // a stale one would mislead

  const { page, close } = await startWorkbench();
  try {
    // The container's icon comes from the manifest: its presence proves the .vsix was installed.
    await activityBarItem(page, 'Meadowrun').click({ timeout: 60_000 });
    await page.locator('.part.sidebar .pane-header', { hasText: 'Instances' }).waitFor({ timeout: 30_000 });

    // Nothing runs yet: the welcome view says what to do, and its Run File button works with no
    // editor open by asking which file.
    const welcome = page.locator('.part.sidebar .welcome-view-content');
    await welcome.getByText('No instances are running').waitFor({ timeout: 30_000 });
    await page.locator('.part.sidebar').screenshot({ path: shot('welcome') });
    await welcome.getByRole('button', { name: 'Run File Remotely' }).click();
    const picker = page.locator('.quick-input-widget');
    await picker.getByText('Run which Python file remotely?').waitFor({ timeout: 30_000 });
    const offered = await picker.locator('.monaco-list-row .label-name').allInnerTexts();
    assert.deepStrictEqual(offered.slice().sort(), ['hello.py', 'mathfuncs.py', 'slow.py', 'ticker.py'], `the picker offers the workspace's Python files: ${offered}`);
    await page.keyboard.press('Escape');

    await runFileFromExplorer(page, 'hello.py');

    // The first job starts an instance (an sshd) and deploys the agent to it: allow for that.
    await waitForOutput(page, greeting, 120_000);
    await page.locator('.part.panel').screenshot({ path: shot('output') });

    await activityBarItem(page, 'Meadowrun').click();
    const instancesPane = page.locator('.part.sidebar .pane', { has: page.locator('.pane-header', { hasText: 'Instances' }) });
    const instanceRow = instancesPane.locator('.monaco-list-row', { hasText: 'local-' }).first();
    await instanceRow.waitFor({ timeout: 30_000 });
    const rowText = await instanceRow.innerText();
    assert.match(rowText, /\$\d+\.\d{4}\/h/, `instance row without a price: ${rowText}`);
    await widenSidebar(page, 250); // so the screenshot shows the row's price, not an ellipsis
    await page.locator('.part.sidebar').screenshot({ path: shot('sidebar') });

    // A Python file shows ▶ Run remotely above each top-level def (four in mathfuncs.py).
    await page.keyboard.press('Control+P');
    await page.keyboard.type('mathfuncs.py');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'mathfuncs.py' }).first().click({ timeout: 30_000 });
    const lenses = page.locator('.part.editor .codelens-decoration', { hasText: 'Run remotely' });
    await waitFor('four ▶ Run remotely lenses', async () => (await lenses.count()) === 4, 30_000);
    await page.screenshot({ path: shot('workbench') });
  } catch (err) {
    // What the workbench looked like when it went wrong.
    await page.screenshot({ path: shot('failure') }).catch(() => undefined);
    throw err;
  } finally {
    await close();
  }
});

// Runs a command from the Command Palette by its title.
/** Runs a workspace file through the Explorer's context menu, as a user would. */
async function runFileFromExplorer(page: Page, file: string): Promise<void> {
  await activityBarItem(page, 'Explorer').click();
  await page.locator(`.explorer-folders-view .monaco-list-row[aria-label="${file}"]`).click({ button: 'right', timeout: 30_000 });
  await chooseMenuItem(page, 'Run File Remotely');
}

/** Waits for `text` in the Output panel; the extension reveals its channel itself, but if another one is showing, switches once. */
async function waitForOutput(page: Page, text: string, timeoutMs: number): Promise<void> {
  let shownOurselves = false;
  await waitFor(`"${text}" in the Output panel`, async () => {
    if ((await outputText(page)).includes(text)) return true;
    if (!shownOurselves && (await page.locator('.part.panel').isVisible())) {
      shownOurselves = true;
      await showOutputChannel(page, 'Meadowrun Jobs').catch(() => undefined);
    }
    return false;
  }, timeoutMs);
}

async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  await page.keyboard.type(title);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().click({ timeout: 30_000 });
}

// The text of the active editor (what Monaco has drawn: the lines in view).
async function editorText(page: Page): Promise<string> {
  const text = await page.locator('.part.editor .editor-instance .monaco-editor .view-lines').first().innerText().catch(() => '');
  return text.replace(/\u00a0/g, ' ');
}

test('a >1 MiB project on a fresh instance, a log that updates live, a threshold without optional fields, resources checked as typed', { timeout: 10 * 60_000 }, async () => {
  packageExtension();
  fs.mkdirSync(screenshotDir, { recursive: true });
  const shot = (name: string) => path.join(screenshotDir, `${name}.png`);
  fs.rmSync(shot('failure-2'), { force: true });
  // A threshold with only the required fields (no gpus, maxEvictionRatePct, …), as a user writes it.
  const { page, workspace, close } = await startWorkbench({
    settings: { 'meadowrun.management.thresholds': [{ cpu: 1, memoryGb: 2, count: 1 }], 'meadowrun.management.intervalSeconds': 2 },
  });
  try {
    // Random bytes do not compress: the first sync to the new instance is over 1 MiB.
    fs.writeFileSync(path.join(workspace, 'blob.bin'), crypto.randomBytes(1_200_000));

    // ▶ Run remotely above tick(n), which prints a line every 0.2 s.
    await page.keyboard.press('Control+P');
    await page.keyboard.type('ticker.py');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'ticker.py' }).first().click({ timeout: 30_000 });
    await page.locator('.part.editor .codelens-decoration a', { hasText: 'Run remotely' }).first().click({ timeout: 60_000 });
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ timeout: 30_000 });
    await input.fill('30');
    await page.keyboard.press('Enter');

    // Its log, opened from the Jobs view while it runs, grows in the same editor.
    await activityBarItem(page, 'Meadowrun').click();
    const jobsPane = page.locator('.part.sidebar .pane', { has: page.locator('.pane-header', { hasText: 'Jobs' }) });
    const jobRow = jobsPane.locator('.monaco-list-row', { hasText: 'tick(30)' }).first();
    const logTab = page.locator('.part.editor .tab', { hasText: 'tick(30).log' });
    // The row opens the log once the job has started on the instance (launch and sync come first).
    await waitFor('the job log to open from the Jobs view', async () => {
      if (!(await jobRow.isVisible())) return false;
      await jobRow.click();
      return logTab.isVisible();
    }, 120_000);
    await waitFor('the first tick in the log', async () => (await editorText(page)).includes('tick 0'), 30_000);
    const first = await editorText(page);
    // (tick 25 is the last line in view above the Output panel.)
    assert.ok(!first.includes('tick 25'), `the log was opened before the job ended: ${first}`);
    await waitFor('later ticks in the same editor', async () => (await editorText(page)).includes('tick 25'), 60_000);
    assert.equal(await logTab.count(), 1);
    await page.screenshot({ path: shot('live-log') });
    const jobsText = await jobsPane.innerText();
    assert.match(jobsText, /tick\(30\)/);

    // Set Default Resources starts on the current value; a custom value is checked as typed.
    await runCommand(page, 'Meadowrun: Set Default Resources');
    const picker = page.locator('.quick-input-widget');
    const focused = picker.locator('.monaco-list-row.focused');
    await focused.waitFor({ timeout: 30_000 });
    assert.match(await focused.innerText(), /^1 CPU(?!s)[\s\S]*current/, 'the current setting is the active row');
    await picker.locator('.monaco-list-row', { hasText: 'Custom…' }).click();
    // The extension answers the pick with an input box of its own: typing before it shows went into
    // the list's filter, and the box then came up with the current value.
    const message = picker.locator('.quick-input-message');
    await waitFor('the custom CPU input box', async () => /Logical CPUs/.test(await message.innerText().catch(() => '')), 30_000);
    await input.fill('16');
    await waitFor('the reason 16 CPUs cannot run', async () => /the largest, local\.xlarge, has 8 CPUs/.test(await message.innerText().catch(() => '')), 10_000);
    await page.screenshot({ path: shot('set-resources') });
    await page.keyboard.press('Escape');

    // The threshold needs nothing optional: management runs without error and keeps an instance for it.
    await runCommand(page, 'Meadowrun: Install Management Functions');
    const instancesPane = page.locator('.part.sidebar .pane', { has: page.locator('.pane-header', { hasText: 'Instances' }) });
    const managementRow = instancesPane.locator('.monaco-list-row', { hasText: 'Management' }).first();
    await waitFor('a management run', async () => /1 threshold · last run/.test(await managementRow.innerText().catch(() => '')), 60_000);
    await waitFor('an instance kept by the threshold', async () => /kept by threshold/.test(await instancesPane.innerText()), 60_000);
    assert.doesNotMatch(await instancesPane.innerText(), /failed|must be/i, 'no error node under Management');
  } catch (err) {
    await page.screenshot({ path: shot('failure-2') }).catch(() => undefined);
    throw err;
  } finally {
    await close();
  }
});

// AWS from the editor, on the emulated AWS (moto + instances that really boot, as in
// test/integration/awsCloud.test.ts): the user picks Select Cloud → aws → a profile of their AWS
// config file → its region, runs a file, sees its output and the EC2 instance (zone, market, price),
// then removes everything with Uninstall AWS Resources. The extension host signs in through the
// profile files only (no AWS keys in its environment) and never asks the metadata service.
const awsUnavailable = ec2EmulatorUnavailable();
test('Select Cloud → AWS (profile, region), then Run File Remotely on an emulated EC2 instance, then Uninstall AWS Resources', {
  timeout: 15 * 60_000,
  skip: awsUnavailable ? `skipped: ${awsUnavailable}` : false,
}, async () => {
  packageExtension();
  fs.mkdirSync(screenshotDir, { recursive: true });
  const shot = (name: string) => path.join(screenshotDir, `${name}.png`);
  fs.rmSync(shot('failure-aws'), { force: true });
  const emu = await startEc2Emulator();
  const pricing = await startFakePricing({ prices: { 'c5.large': 0.085, 'm5.large': 0.096, 'r5.large': 0.126, 'c5.xlarge': 0.17 } });
  const awsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-e2e-aws-'));
  let workbench: Awaited<ReturnType<typeof startWorkbench>> | undefined;
  try {
    workbench = await startWorkbench({
      env: {
        ...awsProfilesEnv(path.join(awsDir, 'aws'), emu.moto),
        ...pricing.env,
        MEADOWRUN_AWS_AMI: 'ami-12c6146b',
        MEADOWRUN_AWS_SSH_FROM: '127.0.0.1/32',
        MEADOWRUN_AWS_INSTANCE_ENDPOINT: emu.instanceEndpoint,
        MEADOWRUN_AWS_DIR: path.join(awsDir, 'meadowrun'),
      },
    });
    const { page } = workbench;
    const picker = page.locator('.quick-input-widget');
    const row = (text: string) => picker.locator('.monaco-list-row', { hasText: text }).first();

    // The container's icon shows once the .vsix is installed and the workbench has loaded it.
    await activityBarItem(page, 'Meadowrun').click({ timeout: 60_000 });
    await runCommand(page, 'Meadowrun: Select Cloud');
    await picker.getByText('Where should Meadowrun run jobs?').waitFor({ timeout: 30_000 });
    await row('EC2 instances in your AWS account').click();
    await picker.getByText('Which AWS profile?').waitFor({ timeout: 30_000 });
    const profiles = await picker.locator('.monaco-list-row .label-name').allInnerTexts();
    assert.deepStrictEqual(profiles.map((p) => p.trim()), ['emu', 'nokeys', 'Default credentials'], `the profiles of AWS_CONFIG_FILE: ${profiles}`);
    assert.match(await row('emu').innerText(), /access keys · us-east-1/);
    await row('emu').click();
    await picker.getByText('Which AWS region').waitFor({ timeout: 30_000 });
    const focused = picker.locator('.monaco-list-row.focused');
    assert.match(await focused.innerText(), /^us-east-1[\s\S]*the region of the profile emu/, "the profile's region is offered first");
    await page.screenshot({ path: shot('aws-region') });
    await page.keyboard.press('Enter');

    const toasts = page.locator('.notifications-toasts');
    await toasts.getByText(/jobs now run on AWS us-east-1 \(profile emu\), account 123456789012/).waitFor({ timeout: 60_000 });
    const status = page.locator('.statusbar-item', { hasText: 'aws · us-east-1' });
    await status.first().waitFor({ timeout: 30_000 });

    // The cheapest type has no capacity where EC2 would place it: the next zone is tried, and the job's output says so.
    emu.moto.injectLaunchError({ instanceType: 'c5.large', code: 'InsufficientInstanceCapacity', times: 1 });
    await runFileFromExplorer(page, 'hello.py');

    // (The launching row's price, market and zone are checked in-host, test/vscode/suite/aws.test.ts: the
    // instance now publishes its host key in its table row, so the boot can no longer be held here.)
    await activityBarItem(page, 'Meadowrun').click();
    const instancesPane = page.locator('.part.sidebar .pane', { has: page.locator('.pane-header', { hasText: 'Instances' }) });
    // A cold launch on the emulator: RunInstances, boot, the host key in the console, SSH, the agent.
    await waitForOutput(page, greeting, 8 * 60_000);
    const [instance] = emu.instances();
    assert.ok(instance, 'the job ran on an emulated EC2 instance');
    const output = await outputText(page);
    assert.match(output, /launching a c5\.large instance \(on-demand, \$0\.0850\/h\)/);
    // (The Output view wraps long lines: any whitespace between words.)
    assert.match(output, /No capacity for c5\.large \(on-demand\)\s+\(InsufficientInstanceCapacity\),\s+trying\s+us-east-1a/);
    await page.locator('.part.panel').screenshot({ path: shot('aws-output') });

    const instanceRow = instancesPane.locator('.monaco-list-row', { hasText: instance.id }).first();
    await instanceRow.waitFor({ timeout: 30_000 });
    await waitFor('the row to show the instance ready', async () => !(await instanceRow.innerText()).includes('launching'), 30_000);
    assert.match(await instanceRow.innerText(), /c5\.large[\s\S]*\$0\.0850\/h[\s\S]*on-demand · us-east-1a/, 'the row shows price, market and zone');
    await page.locator('.part.sidebar').screenshot({ path: shot('aws-sidebar') });

    // Uninstall AWS Resources: a modal lists what goes; Remove terminates the instance and removes the rest.
    await runCommand(page, 'Meadowrun: Uninstall AWS Resources');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ timeout: 60_000 });
    const listed = await dialog.innerText();
    const what = [`EC2 instance: ${instance.id} (c5.large, on-demand, us-east-1a, running)`, 'DynamoDB table: meadowrun-allocation', 'Secrets Manager secret: meadowrun-ssh-key', 'security group: meadowrun-ssh'];
    for (const w of what) assert.ok(listed.includes(w), `${w} in:\n${listed}`);
    await page.screenshot({ path: shot('aws-uninstall') });
    await dialog.getByRole('button', { name: 'Remove' }).click();
    await toasts.getByText(/removed \d+ resource\(s\) from AWS us-east-1/).waitFor({ timeout: 5 * 60_000 });
    await emu.waitForGone(instance.id);
  } catch (err) {
    await workbench?.page.screenshot({ path: shot('failure-aws') }).catch(() => undefined);
    console.error(`e2e aws: emulator log:\n${emu.log.slice(-20).join('\n')}`);
    throw err;
  } finally {
    await workbench?.close();
    await pricing.stop();
    await emu.stop();
    fs.rmSync(awsDir, { recursive: true, force: true });
  }
});

// Azure from the editor, on the emulated Azure (test/support/azureWorld.ts: the fake Resource
// Manager whose VMs really boot as emulator machines, Azurite, the stand-in Key Vault, the stand-in
// az logged in): the user picks Select Cloud → azure → the subscription `az account list` gives →
// a resource group → the location, runs a file, sees its output from the VM and the VM's row, then
// removes everything with Uninstall Azure Resources — nothing is left, not even a soft-deleted Key
// Vault holding the SSH key.
const azureUnavailable = machineHostUnavailable();
test('Select Cloud → Azure (subscription, resource group, location), then Run File Remotely on an emulated Azure VM, then Uninstall Azure Resources', {
  timeout: 15 * 60_000,
  skip: azureUnavailable ? `skipped: ${azureUnavailable}` : false,
}, async () => {
  packageExtension();
  fs.mkdirSync(screenshotDir, { recursive: true });
  const shot = (name: string) => path.join(screenshotDir, `${name}.png`);
  fs.rmSync(shot('failure-azure'), { force: true });
  const world = await startAzureWorld();
  const { arm, host } = world;
  let workbench: Awaited<ReturnType<typeof startWorkbench>> | undefined;
  try {
    workbench = await startWorkbench({
      // VS Code's own certificate handling would replace Node's CA list, and with it the fakes' CA.
      settings: { 'http.systemCertificates': false },
      // VSCODE_CLI: as when started from a terminal, the extension host keeps this PATH (with the
      // stand-in az first) instead of the one a login shell would give it.
      env: { ...world.env, VSCODE_CLI: '1' },
    });
    const { page } = workbench;
    const picker = page.locator('.quick-input-widget');
    const row = (text: string) => picker.locator('.monaco-list-row', { hasText: text }).first();

    await activityBarItem(page, 'Meadowrun').click({ timeout: 60_000 });
    await runCommand(page, 'Meadowrun: Select Cloud');
    await picker.getByText('Where should Meadowrun run jobs?').waitFor({ timeout: 30_000 });
    await row('VMs in your Azure subscription').click();
    await picker.getByText('Which Azure subscription?').waitFor({ timeout: 30_000 });
    // The subscriptions of the login, its default first.
    await row('Meadowrun tests').waitFor({ timeout: 30_000 });
    const subscriptions = (await picker.locator('.monaco-list-row .label-name').allInnerTexts()).map((s) => s.trim());
    assert.deepStrictEqual(subscriptions.slice(0, 2), ['Meadowrun tests', 'Another subscription'], `the subscriptions of az account list: ${subscriptions}`);
    assert.match(await row('Meadowrun tests').innerText(), new RegExp(`${arm.subscription} · az default`));
    await row('Meadowrun tests').click();
    const input = picker.locator('.quick-input-box input');
    await picker.getByText('Which resource group').waitFor({ timeout: 30_000 });
    assert.equal(await input.inputValue(), 'meadowrun', 'the default resource group is offered');
    await input.fill('meadowrun-e2e');
    await page.keyboard.press('Enter');
    await picker.getByText('Which Azure location').waitFor({ timeout: 30_000 });
    assert.match(await picker.locator('.monaco-list-row.focused').innerText(), /^eastus[\s\S]*prices bundled/, 'a location with bundled prices first');
    await page.screenshot({ path: shot('azure-location') });
    await page.keyboard.press('Enter');

    const toasts = page.locator('.notifications-toasts');
    await toasts.getByText(new RegExp(`jobs now run on Azure eastus, resource group meadowrun-e2e, subscription ${arm.subscription}`)).waitFor({ timeout: 60_000 });
    await page.locator('.statusbar-item', { hasText: 'azure · eastus' }).first().waitFor({ timeout: 30_000 });

    // Azure accepts the first VM but finds no room for it: the job says so and tries the next zone.
    arm.injectVmError({ code: 'AllocationFailed', async: true, times: 1 });
    await runFileFromExplorer(page, 'hello.py');

    // A cold start: prepare (resource group, storage, Key Vault, identity, roles, network), the VM's
    // creation and boot (cloud-init), its host key from its row, SSH, the agent.
    await waitForOutput(page, greeting, 8 * 60_000);
    const machines = host.instances().filter((m) => m.on);
    assert.equal(machines.length, 1, `one VM runs: ${host.instances().map((m) => `${m.id} ${m.on}`)}`);
    const vm = machines[0];
    const output = await outputText(page);
    assert.match(output, new RegExp(`launched ${vm.id} in`), 'the output names the VM it ran on');
    // (The Output view wraps long lines: any whitespace between words.)
    assert.match(output, /No\s+capacity\s+for\s+Standard_\w+\s+pay-as-you-go\s+\(AllocationFailed\),\s+trying\s+the\s+next\s+zone/);
    assert.equal(arm.vmAttempts.filter((a) => !a.error).length, 1);
    await page.locator('.part.panel').screenshot({ path: shot('azure-output') });

    await activityBarItem(page, 'Meadowrun').click();
    const instancesPane = page.locator('.part.sidebar .pane', { has: page.locator('.pane-header', { hasText: 'Instances' }) });
    const vmRow = instancesPane.locator('.monaco-list-row', { hasText: vm.id }).first();
    await vmRow.waitFor({ timeout: 30_000 });
    await waitFor('the row to show the VM ready', async () => !(await vmRow.innerText()).includes('launching'), 30_000);
    assert.match(await vmRow.innerText(), /Standard_\w+[\s\S]*\$\d+\.\d{4}\/h[\s\S]*on-demand · eastus/, 'the row shows size, price, market and location');
    await page.locator('.part.sidebar').screenshot({ path: shot('azure-sidebar') });

    // Uninstall Azure Resources: a modal lists what goes; Remove deletes the resource group, the VM with it.
    await runCommand(page, 'Meadowrun: Uninstall Azure Resources');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ timeout: 60_000 });
    const listed = await dialog.innerText();
    for (const w of [`Microsoft.Compute/virtualMachines: ${vm.id}`, 'Microsoft.KeyVault/vaults: ', 'Microsoft.Storage/storageAccounts: ', 'Microsoft.Network/networkSecurityGroups: meadowrun-nsg']) {
      assert.ok(listed.includes(w), `${w} in:\n${listed}`);
    }
    await page.screenshot({ path: shot('azure-uninstall') });
    await dialog.getByRole('button', { name: 'Remove' }).click();
    await toasts.getByText(/removed \d+ resource\(s\) from Azure eastus, resource group meadowrun-e2e/).waitFor({ timeout: 5 * 60_000 });
    await host.waitForGone(vm.id);
    assert.deepStrictEqual(arm.resourceIds(), [], 'nothing left in the subscription');
    assert.deepStrictEqual(arm.deletedVaults(), [], 'no soft-deleted Key Vault left holding the SSH key');
  } catch (err) {
    await workbench?.page.screenshot({ path: shot('failure-azure') }).catch(() => undefined);
    console.error(`e2e azure: machines:\n${host.log.slice(-20).join('\n')}\nResource Manager:\n${arm.requests.slice(-15).map((r) => `${r.method} ${r.path}`).join('\n')}`);
    throw err;
  } finally {
    await workbench?.close();
    await world.stop();
  }
});
