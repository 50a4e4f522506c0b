// Running code remotely from inside a real VS Code, against the local cloud (its state directory
// comes from MEADOWRUN_LOCAL_DIR, set by the runner).
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { describe, it, before } from 'mocha';
import type { MeadowrunApi } from '../../../src/ui/activate';
import type { JobOutcome } from '../../../src/remote/protocol';

let api: MeadowrunApi;
const folder = () => vscode.workspace.workspaceFolders![0].uri.fsPath;
const file = (name: string) => vscode.Uri.file(path.join(folder(), name));

async function allocatedJobs(): Promise<string[]> {
  await api.model.refresh();
  return api.model.instances.flatMap((r) => Object.keys(r.jobs));
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('running code remotely', () => {
  before(async () => {
    api = (await vscode.extensions.getExtension('meadowrun.meadowrun-vscode')!.activate()) as MeadowrunApi;
  });

  it('shows a ▶ Run remotely lens above each top-level def (above its decorators), and Run map only where it takes an argument', async () => {
    const uri = file('mathfuncs.py');
    await vscode.window.showTextDocument(uri);
    let lenses: vscode.CodeLens[] = [];
    await waitFor('code lenses', async () => {
      lenses = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri, 100)) ?? [];
      return lenses.some((l) => l.command?.command === 'meadowrun.runFunction');
    });
    const ours = lenses.filter((l) => l.command?.command === 'meadowrun.runFunction');
    assert.deepStrictEqual(ours.map((l) => l.command!.arguments![1]), ['add', 'fail', 'outer', 'square']);
    assert.ok(ours.every((l) => l.command!.title === '▶ Run remotely'));
    const text = (await vscode.workspace.openTextDocument(uri)).getText().split('\n');
    assert.match(text[ours[3].range.start.line], /^@functools\.lru_cache/, 'the lens sits above the decorator');
    const maps = lenses.filter((l) => l.command?.command === 'meadowrun.runMap');
    assert.deepStrictEqual(maps.map((l) => [l.command!.title, l.command!.arguments![1]]), [['▶ Run map', 'add'], ['▶ Run map', 'square']]);
  });

  it('Run File Remotely runs the script and the Jobs tree records it', async () => {
    const outcome = await vscode.commands.executeCommand<JobOutcome>('meadowrun.runFile', file('hello.py'));
    assert.deepStrictEqual(outcome, { status: 'exited', exitCode: 0 });
    const [job] = api.jobsTree.getChildren();
    assert.strictEqual(job.label, 'hello.py');
    assert.strictEqual(job.status, 'succeeded');
    assert.ok(job.logPath, 'the job has a log');
    const log = await vscode.commands.executeCommand<vscode.TextDocument>('meadowrun.openJobLog', job);
    assert.match(log.getText(), /Hello from Meadowrun!/);
    assert.deepStrictEqual(await allocatedJobs(), []);
  });

  it('Run File Remotely with no editor open asks which file to run', async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    let settled = false;
    const running = vscode.commands.executeCommand<JobOutcome>('meadowrun.runFile').then((o) => ((settled = true), o));
    // The picker lists the workspace's Python files, sorted: hello.py comes first. Accepting is a
    // no-op until the picker shows, and nothing else tells another extension that it has.
    await waitFor('the file picker to be answered', async () => {
      if (!settled) await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
      return settled;
    });
    assert.deepStrictEqual(await running, { status: 'exited', exitCode: 0 });
    assert.strictEqual(api.jobsTree.getChildren()[0].label, 'hello.py');
  });

  it('the Instances tree shows the launched instance with its price', async () => {
    await api.model.refresh();
    const node = api.instancesTree.getChildren().find((n) => n.kind === 'instance');
    assert.ok(node && node.kind === 'instance', 'an instance is listed');
    const item = api.instancesTree.getTreeItem(node);
    assert.strictEqual(item.label, 'local.small');
    // Price and idle clock first, so a narrow sidebar still shows them; the id last.
    assert.match(String(item.description), /^\$0\.0104\/h · idle <1m · 1\/1 CPU, 2\/2 GB free · local-[0-9a-f]+$/);
    assert.match((item.tooltip as vscode.MarkdownString).value, /1\/1 CPU, 2\/2 GB free[\s\S]*Idle for <1m/);
    assert.strictEqual(item.contextValue, 'instance.idle');
  });

  it('the trees tell VS Code only of rows that changed, so an open tooltip stays open', async () => {
    const events: unknown[] = [];
    const listeners = [api.instancesTree.onDidChangeTreeData((e) => events.push(e)), api.jobsTree.onDidChangeTreeData((e) => events.push(e))];
    try {
      await api.model.refresh();
      events.length = 0;
      await api.model.refresh();
      await api.model.refresh();
      assert.deepStrictEqual(events, [], 'nothing changed, nothing redrawn');
      const outcome = await vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunction', file('mathfuncs.py'), 'add', '[1, 1]');
      assert.strictEqual(outcome.status, 'succeeded');
      assert.ok(events.length > 0, 'a new job is drawn');
    } finally {
      listeners.forEach((l) => l.dispose());
    }
  });

  it('Run Function Remotely returns the result', async () => {
    const outcome = await vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunction', file('mathfuncs.py'), 'add', '[2, 3]');
    assert.strictEqual(outcome.status, 'succeeded');
    assert.strictEqual(outcome.status === 'succeeded' && outcome.value!.repr, '5');
    assert.strictEqual(api.jobsTree.getChildren()[0].label, 'add(2, 3)');
  });

  it('arguments may be typed as in a call, with keywords', async () => {
    const outcome = await vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunction', file('mathfuncs.py'), 'add', 'add("a", b="b")');
    assert.strictEqual(outcome.status === 'succeeded' && outcome.value!.repr, "'ab'");
    assert.strictEqual(api.jobsTree.getChildren()[0].label, 'add("a", b="b")');
  });

  it('Run Function at Cursor runs the function the cursor is in', async () => {
    const editor = await vscode.window.showTextDocument(file('mathfuncs.py'));
    const line = editor.document.getText().split('\n').findIndex((l) => l.includes('return a + b'));
    editor.selection = new vscode.Selection(line, 4, line, 4);
    let settled = false;
    const running = vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunctionAtCursor').then((o) => ((settled = true), o));
    // It asks only for the arguments (remembered from the last run of add): accept them.
    await waitFor('the argument prompt to be answered', async () => {
      if (!settled) await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
      return settled;
    });
    const outcome = await running;
    assert.strictEqual(outcome?.status, 'succeeded');
    assert.match(api.jobsTree.getChildren()[0].label, /^add\(/);
  });

  it('Run File Remotely with Arguments passes shell-quoted words to the script, never through a shell', async () => {
    const outcome = await vscode.commands.executeCommand<JobOutcome>('meadowrun.runFileWithArguments', file('hello.py'), `--n 3 "my data.csv" '$(id)'`);
    assert.deepStrictEqual(outcome, { status: 'exited', exitCode: 0 });
    const [job] = api.jobsTree.getChildren();
    assert.strictEqual(job.label, `hello.py --n 3 'my data.csv' '$(id)'`);
    const log = await vscode.commands.executeCommand<vscode.TextDocument>('meadowrun.openJobLog', job);
    assert.match(log.getText(), /argv: \['--n', '3', 'my data.csv', '\$\(id\)'\]/);
  });

  it('a raising function reports its remote traceback', async () => {
    const outcome = await vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunction', file('mathfuncs.py'), 'fail', '[]');
    assert.strictEqual(outcome.status, 'failed');
    assert.ok(outcome.status === 'failed');
    assert.strictEqual(outcome.error.type, 'ValueError');
    assert.match(outcome.error.traceback, /mathfuncs\.py", line \d+, in fail/);
    assert.strictEqual(api.jobsTree.getChildren()[0].status, 'failed');
  });

  it('a map started from the CodeLens opens the progress panel and returns every result', async () => {
    const uri = file('slow.py');
    await vscode.window.showTextDocument(uri);
    let lens: vscode.CodeLens | undefined;
    await waitFor('the Run map lens', async () => {
      const lenses = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri, 100)) ?? [];
      lens = lenses.find((l) => l.command?.command === 'meadowrun.runMap' && l.command.arguments![1] === 'wait');
      return !!lens;
    });
    const result = await vscode.commands.executeCommand<{ status: string; results: { ok: boolean; value: { json: string } }[] }>(
      lens!.command!.command, ...lens!.command!.arguments!, '[0, 0.01, 0.02, 0]',
    );
    assert.strictEqual(result.status, 'succeeded');
    assert.deepStrictEqual(result.results.map((r) => r.value.json), ['0', '0.01', '0.02', '0']);
    // The extension host hears of the workbench's tabs asynchronously: a loaded machine may tell it after the map ends.
    const mapTabs = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.includes('meadowrun.mapProgress'));
    await waitFor('the map progress panel to be open', () => mapTabs().length > 0, 10_000);
    const panels = mapTabs();
    assert.strictEqual(panels.length, 1, 'one map progress panel is open');
    assert.match(panels[0].label, /^Map: wait over/);
    const [job] = api.jobsTree.getChildren();
    assert.strictEqual(job.status, 'succeeded');
    assert.strictEqual(api.jobsTree.getTreeItem(job).command?.command, 'meadowrun.openMapPanel');
    assert.deepStrictEqual(await allocatedJobs(), []);
  });

  it('Stop Job stops a running job and leaves no allocation behind', async () => {
    const running = vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunction', file('slow.py'), 'wait', '[60]');
    await waitFor('the job to run', () => api.model.jobs[0]?.label === 'wait(60)' && api.model.jobs[0].status === 'running');
    assert.deepStrictEqual((await allocatedJobs()).length, 1);
    assert.strictEqual(await vscode.commands.executeCommand('meadowrun.stopJob', api.model.jobs[0]), true);
    const outcome = await running;
    assert.deepStrictEqual(outcome, { status: 'cancelled' });
    assert.strictEqual(api.model.jobs[0].status, 'cancelled');
    assert.deepStrictEqual(await allocatedJobs(), []);
  });

  it('management: install shows its schedule and each instance\'s idle clock; uninstall stops it', async () => {
    assert.strictEqual(await vscode.commands.executeCommand('meadowrun.installManagement'), true);
    const [management, instance] = api.instancesTree.getChildren();
    assert.strictEqual(management.kind, 'management');
    const item = api.instancesTree.getTreeItem(management);
    assert.strictEqual(item.contextValue, 'management.installed');
    assert.match(String(item.description), /^idle timeout 5m 0s · .* · v\d+\.\d+\.\d+$/, 'the installed version last');
    await waitFor('the first adjuster run', async () => {
      await api.model.refresh();
      return !!api.model.management?.lastRun;
    });
    assert.match(String(api.instancesTree.getTreeItem(api.instancesTree.getChildren()[0]).description), /last run [\d.]+s ago · next in/);
    assert.match(String(api.instancesTree.getTreeItem(instance).description), /idle <1m of 5m/);
    assert.strictEqual(await vscode.commands.executeCommand('meadowrun.uninstallManagement', undefined, { confirmed: true }), true);
    await api.model.refresh();
    assert.strictEqual(api.instancesTree.getTreeItem(api.instancesTree.getChildren()[0]).contextValue, 'management.notInstalled');
  });

  it('management: optional threshold fields default, invalid settings are refused with the reason, a failing run is an error node with its log', async () => {
    const config = vscode.workspace.getConfiguration('meadowrun');
    await config.update('management.intervalSeconds', 1, vscode.ConfigurationTarget.Global);
    try {
      // No gpus, no maxEvictionRatePct: they default.
      await config.update('management.thresholds', [{ name: 'warm', cpu: 0.5, memoryGb: 0.5, count: 1 }], vscode.ConfigurationTarget.Global);
      assert.strictEqual(await vscode.commands.executeCommand('meadowrun.installManagement'), true);
      await waitFor('a successful adjuster run', async () => {
        await api.model.refresh();
        return !!api.model.management?.lastRun && !api.model.management.lastRun.error;
      });
      assert.deepStrictEqual(api.model.management!.config!.thresholds, [{ name: 'warm', cpu: 0.5, memoryGb: 0.5, count: 1, gpus: 0, maxEvictionRatePct: 0 }]);

      // Refused when applied: nothing changes.
      await config.update('management.thresholds', [{ cpu: 1, memoryGb: 1, count: 0 }], vscode.ConfigurationTarget.Global);
      assert.strictEqual(await vscode.commands.executeCommand('meadowrun.installManagement'), false);
      await api.model.refresh();
      assert.strictEqual(api.model.management!.config!.thresholds[0].name, 'warm');

      // A configuration no run can use (as an older or hand-edited file may hold): the run fails visibly.
      const file = path.join(process.env.MEADOWRUN_LOCAL_DIR!, 'management', 'config.json');
      const stored = JSON.parse(fs.readFileSync(file, 'utf8'));
      fs.writeFileSync(file, JSON.stringify({ ...stored, thresholds: [{ cpu: -1, memoryGb: 1, count: 1 }] }));
      await waitFor('a failed adjuster run', async () => {
        await api.model.refresh();
        return !!api.model.management?.lastRun?.error;
      });
      const [management] = api.instancesTree.getChildren();
      const [error] = api.instancesTree.getChildren(management);
      assert.strictEqual(error.kind, 'managementError');
      const item = api.instancesTree.getTreeItem(error);
      assert.match(String(item.label), /^Last run failed: .*CPU must be more than 0/);
      assert.strictEqual(item.command?.command, 'meadowrun.showManagementLog');
      await vscode.commands.executeCommand(item.command!.command);
      assert.match(vscode.window.activeTextEditor!.document.getText(), /run failed: .*CPU must be more than 0/);
    } finally {
      await config.update('management.thresholds', undefined, vscode.ConfigurationTarget.Global);
      await config.update('management.intervalSeconds', undefined, vscode.ConfigurationTarget.Global);
      await vscode.commands.executeCommand('meadowrun.uninstallManagement', undefined, { confirmed: true });
    }
  });

  it('default resources from the settings: CPU features pick an instance that has them', async () => {
    const config = vscode.workspace.getConfiguration('meadowrun');
    await config.update('resources.cpuFeatures', ['avx512'], vscode.ConfigurationTarget.Global);
    try {
      const outcome = await vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunction', file('mathfuncs.py'), 'add', '[1, 1]');
      assert.strictEqual(outcome.status, 'succeeded');
      await api.model.refresh();
      const instance = api.model.instances.find((r) => r.id === api.model.jobs[0].instanceId);
      assert.ok(instance?.cpuFeatures?.includes('avx512'), `ran on ${instance?.typeName}`);
    } finally {
      await config.update('resources.cpuFeatures', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('Set Default Resources starts every step on the current setting, asks for GPU memory only with GPUs, and saves at the end', async () => {
    const config = vscode.workspace.getConfiguration('meadowrun');
    const keys = ['cpu', 'memoryGb', 'gpus', 'gpuMemoryGb', 'cpuFeatures', 'maxEvictionRatePct'];
    const set = async (r: Record<string, unknown>) => {
      for (const k of keys) await config.update(`resources.${k}`, r[k], vscode.ConfigurationTarget.Global);
    };
    // Accepts whatever each step starts on, counting the steps; settles when the command does.
    const acceptAll = async () => {
      let settled = false;
      let accepted = 0;
      const running = vscode.commands.executeCommand<Record<string, unknown>>('meadowrun.setDefaultResources').then((r) => ((settled = true), r));
      await waitFor('every step to be accepted', async () => {
        if (!settled) {
          await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
          accepted++;
        }
        return settled;
      });
      return { saved: await running, accepted };
    };
    const messages: string[] = [];
    const original = vscode.window.showInformationMessage;
    (vscode.window as { showInformationMessage: unknown }).showInformationMessage = (m: string) => (messages.push(m), Promise.resolve(undefined));
    try {
      // A GPU job (local.gpu has 4 CPUs, 16 GB and one 16 GB GPU).
      const gpuJob = { cpu: 2, memoryGb: 4, gpus: 1, gpuMemoryGb: 16, cpuFeatures: ['avx2'], maxEvictionRatePct: 10 };
      await set(gpuJob);
      const first = await acceptAll();
      assert.deepStrictEqual(first.saved, gpuJob);
      assert.ok(first.accepted >= 6, `six steps, ${first.accepted} accepts`);
      assert.deepStrictEqual(messages, ['Meadowrun: jobs now ask for 2 CPU, 4 GB, 1 GPU with 16 GB, avx2, spot up to 10% eviction.']);

      // Without GPUs there is no GPU memory step, and a stale GPU memory is cleared.
      await set({ ...gpuJob, gpus: 0, cpuFeatures: [] });
      const second = await acceptAll();
      assert.deepStrictEqual(second.saved, { ...gpuJob, gpus: 0, gpuMemoryGb: 0, cpuFeatures: [] });
      assert.strictEqual(config.get('resources.gpuMemoryGb'), 0);
    } finally {
      (vscode.window as { showInformationMessage: unknown }).showInformationMessage = original;
      await set({});
    }
  });

  it('Clear Finished Jobs keeps only running jobs; the history outlives the window', async () => {
    assert.ok(api.model.jobs.length > 1);
    // A second model over the same workspace state is what a reloaded window builds.
    const saved = new Map<string, unknown>();
    const memento = { get: (k: string) => saved.get(k), update: async (k: string, v: unknown) => void saved.set(k, v), keys: () => [...saved.keys()] };
    const Model = api.model.constructor as new (services: unknown, m: unknown) => typeof api.model;
    const noCloud = {
      get: async () => Promise.reject(new Error('no cloud in this test')),
      onDidReset: () => new vscode.Disposable(() => undefined),
      log: { warn: () => undefined, error: () => undefined },
    };
    const first = new Model(noCloud, memento);
    first.finishJob(first.addJob('done()'), 'succeeded', 'returned 1');
    first.updateJob(first.addJob('running()'), { status: 'running' });
    const reloaded = new Model(noCloud, memento);
    assert.deepStrictEqual(reloaded.jobs.map((j) => [j.label, j.status]), [['running()', 'cancelled'], ['done()', 'succeeded']]);
    first.dispose();
    reloaded.dispose();

    await vscode.commands.executeCommand('meadowrun.clearFinishedJobs');
    assert.deepStrictEqual(api.jobsTree.getChildren(), []);
  });

  it('Choose Libraries remembers a container image (and its secret) for this workspace, or goes back to the settings', async () => {
    const window = vscode.window as unknown as Record<string, unknown>;
    const [pick, input] = [window.showQuickPick, window.showInputBox];
    const answers = ['python:3.12-slim', 'registry-creds'];
    let wanted = 'Container image…';
    window.showQuickPick = async (items: vscode.QuickPickItem[]) => items.find((i) => i.label.replace(/^\$\(check\) /, '') === wanted);
    window.showInputBox = async (o: vscode.InputBoxOptions) => {
      const answer = answers.shift()!;
      // The same checks as the engine's: a bad reference is refused as it is typed.
      assert.match(String(await o.validateInput!('-v/:/host')), /is not a container image reference|is not a secret name/);
      return answer;
    };
    try {
      const chosen = await vscode.commands.executeCommand('meadowrun.chooseDeployment');
      assert.deepStrictEqual(chosen, { kind: 'image', image: 'python:3.12-slim', imageSecret: 'registry-creds' });
      wanted = 'None';
      assert.deepStrictEqual(await vscode.commands.executeCommand('meadowrun.chooseDeployment'), { kind: 'none' });
      wanted = 'Use the settings';
      assert.strictEqual(await vscode.commands.executeCommand('meadowrun.chooseDeployment'), undefined);
    } finally {
      [window.showQuickPick, window.showInputBox] = [pick, input];
    }
  });

  it('Set Secret stores a typed value (a password box) in the cloud’s store; Delete Secret offers the names and deletes the one picked', async () => {
    const window = vscode.window as unknown as Record<string, unknown>;
    const [pick, input] = [window.showQuickPick, window.showInputBox];
    const boxes: vscode.InputBoxOptions[] = [];
    const answers = ['editor-creds', 'alice:pw'];
    window.showInputBox = async (o: vscode.InputBoxOptions) => {
      boxes.push(o);
      return answers.shift();
    };
    let offered: string[] = [];
    window.showQuickPick = async (items: string[]) => {
      offered = items;
      return 'editor-creds';
    };
    const file = path.join(process.env.MEADOWRUN_LOCAL_DIR!, 'secrets', 'user', 'editor-creds');
    try {
      assert.strictEqual(await vscode.commands.executeCommand('meadowrun.setSecret'), 'editor-creds');
      assert.strictEqual(boxes[1].password, true, 'the value is typed into a password box');
      assert.match(String(await boxes[0].validateInput!('../x')), /is not a secret name/);
      assert.strictEqual(fs.readFileSync(file, 'utf8'), 'alice:pw');
      assert.strictEqual(fs.statSync(file).mode & 0o777, 0o600);
      assert.strictEqual(await vscode.commands.executeCommand('meadowrun.deleteSecret'), 'editor-creds');
      assert.ok(offered.includes('editor-creds'));
      assert.ok(!fs.existsSync(file));
    } finally {
      [window.showQuickPick, window.showInputBox] = [pick, input];
    }
  });

  it('Show Cached Environments lists each instance’s environments under it (hash, source, size, last use)', async () => {
    await api.model.refresh();
    const instance = api.model.instances.find((r) => r.state === 'ready')!;
    assert.ok(instance, 'a ready instance from the tests before');
    // An environment as the agent leaves one, last used three hours ago.
    const dir = path.join(instance.workDir!, 'envs', 'abcdef0123456789');
    fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'lib', 'data.bin'), Buffer.alloc(2048));
    const marker = path.join(dir, 'meadowrun-environment.json');
    fs.writeFileSync(marker, JSON.stringify({ hash: 'abcdef0123456789', source: 'requirements.txt', builtAt: new Date().toISOString() }));
    const used = new Date(Date.now() - 3 * 3600_000);
    fs.utimesSync(marker, used, used);
    try {
      await vscode.commands.executeCommand('meadowrun.showEnvironments');
      const node = api.instancesTree.getChildren().find((n) => n.kind === 'instance' && n.record.id === instance.id)!;
      assert.strictEqual(api.instancesTree.getTreeItem(node).collapsibleState, vscode.TreeItemCollapsibleState.Collapsed);
      const envs = api.instancesTree.getChildren(node).filter((n) => n.kind === 'environment');
      assert.strictEqual(envs.length, 1);
      const item = api.instancesTree.getTreeItem(envs[0]);
      assert.strictEqual(item.label, 'abcdef01');
      assert.match(String(item.description), /^requirements\.txt · [\d.]+ KiB · used 3h 0m ago$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await vscode.commands.executeCommand('meadowrun.showEnvironments');
    }
  });

  it('an instance whose sshd died shows as unreachable', async () => {
    await api.model.refresh();
    const record = api.model.instances[0];
    assert.ok(record, 'an instance is listed');
    process.kill(Number(fs.readFileSync(path.join(path.dirname(record.workDir!), 'sshd.pid'), 'utf8')), 'SIGKILL');
    await waitFor('the tree to show it unreachable', async () => {
      await api.model.refresh();
      const node = api.instancesTree.getChildren().find((n) => n.kind === 'instance' && n.record.id === record.id)!;
      return /^unreachable · /.test(String(api.instancesTree.getTreeItem(node).description));
    });
  });

  it('Terminate Instance stops each instance and empties the tree', async () => {
    await api.model.refresh();
    const instances = api.instancesTree.getChildren().filter((n) => n.kind === 'instance');
    assert.ok(instances.length >= 1);
    for (const node of instances) assert.strictEqual(await vscode.commands.executeCommand('meadowrun.terminateInstance', node, { confirmed: true }), true);
    assert.deepStrictEqual(api.instancesTree.getChildren(), []);
  });

  it('cancelling while an instance launches for the job leaves no instance or allocation', async () => {
    // Nothing runs now, so this job launches an instance; cancel as soon as it is allocated.
    const running = vscode.commands.executeCommand<JobOutcome | undefined>('meadowrun.runFunction', file('slow.py'), 'wait', '[60]');
    await waitFor('the job to start', () => api.model.jobs[0]?.label === 'wait(60)' && ['launching', 'running'].includes(api.model.jobs[0].status));
    api.model.jobs[0].cancel!();
    await running;
    assert.strictEqual(api.model.jobs[0].status, 'cancelled');
    await api.model.refresh();
    assert.deepStrictEqual(api.model.instances, []);
  });

  it('an instance launched with no management installed is announced once a session, with Install Management Functions', async () => {
    // Run File Remotely launched this session's first instance; none runs now, so this job
    // launches another.
    await api.model.refresh();
    assert.deepStrictEqual(api.model.instances, []);
    const outcome = await vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunction', file('mathfuncs.py'), 'add', '[1, 2]');
    assert.strictEqual(outcome.status, 'succeeded');
    await api.model.refresh();
    assert.strictEqual(api.model.instances.length, 1, 'an instance was launched for the job');
    const { shown } = api.services.launchNotice;
    assert.strictEqual(shown.length, 1, `shown once: ${JSON.stringify(shown)}`);
    assert.match(shown[0], /^Meadowrun launched an instance \(local-\w+\)\. With no management functions installed, it stops itself once idle for 7 minutes/);
  });

  it('a listing that fails is an error row in the Instances view that opens the log, not the welcome view', async () => {
    const config = vscode.workspace.getConfiguration('meadowrun');
    // A state directory anyone may write to is refused: the cloud, and so the listing, fails.
    const open = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-open-'));
    fs.chmodSync(open, 0o777);
    await config.update('local.stateDirectory', open, vscode.ConfigurationTarget.Global);
    try {
      await waitFor('the error row', async () => {
        await api.model.refresh();
        return api.instancesTree.getChildren()[0]?.kind === 'listError';
      });
      const nodes = api.instancesTree.getChildren();
      assert.strictEqual(nodes.length, 1);
      const item = api.instancesTree.getTreeItem(nodes[0]);
      assert.strictEqual(item.label, 'Could not list instances');
      assert.match(String(item.description), /^Refusing the local cloud's state directory /);
      assert.strictEqual(item.command?.command, 'meadowrun.showLog');
      assert.strictEqual(item.contextValue, 'instances.error');
      assert.strictEqual(await vscode.commands.executeCommand('meadowrun.showLog'), undefined);
    } finally {
      await config.update('local.stateDirectory', undefined, vscode.ConfigurationTarget.Global);
      fs.rmSync(open, { recursive: true, force: true });
    }
    await api.model.refresh();
    assert.ok(!api.instancesTree.getChildren().some((n) => n.kind === 'listError'), 'the row goes once the listing works');
  });

  it('the model polls the cloud only while a Meadowrun view is visible', async () => {
    await vscode.commands.executeCommand('meadowrun.instances.focus');
    await waitFor('polling to start with the view shown', () => api.model.polling);
    await vscode.commands.executeCommand('workbench.view.explorer');
    await waitFor('polling to stop with the view hidden', () => !api.model.polling);
    await vscode.commands.executeCommand('meadowrun.jobs.focus');
    await waitFor('polling to resume with the Jobs view shown', () => api.model.polling);
  });
});
