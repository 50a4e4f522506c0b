// Diagnosing jobs from the editor: failures say what failed and offer what helps, remote
// exceptions are marked on the user's line with workspace paths, and job logs are read-only
// documents that follow a running job and outlive its instance.
import * as assert from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { after, before, describe, it } from 'mocha';
import type { MeadowrunApi } from '../../../src/ui/activate';
import type { InstancesNode } from '../../../src/ui/instancesTree';
import type { JobOutcome } from '../../../src/remote/protocol';

const extensionId = 'meadowrun.meadowrun-vscode';
let api: MeadowrunApi;
const folder = () => vscode.workspace.workspaceFolders![0].uri.fsPath;
const file = (name: string) => vscode.Uri.file(path.join(folder(), name));

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the output channel called `name`, as the Output view shows it, has `text`. */
async function waitForOutput(name: string, text: string): Promise<void> {
  const channel = () => vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'output' && /[-.]$/.test(decodeURIComponent(d.uri.toString()).slice(0, -name.length)) && decodeURIComponent(d.uri.toString()).endsWith(name));
  await waitFor(`"${text}" in the ${name} channel`, () => !!channel()?.getText().includes(text), 10_000).catch((e) => {
    throw new Error(`${e.message}; it has:\n${channel()?.getText()}\n${vscode.workspace.textDocuments.map((d) => d.uri.toString()).join('\n')}`);
  });
}

/** Error messages shown while `work` runs, answered with `answer` (none by default). */
async function errorMessages(work: () => Thenable<unknown>, answer?: string): Promise<{ message: string; items: string[] }[]> {
  const shown: { message: string; items: string[] }[] = [];
  const original = vscode.window.showErrorMessage;
  (vscode.window as { showErrorMessage: unknown }).showErrorMessage = (message: string, ...items: string[]) => {
    shown.push({ message, items });
    return Promise.resolve(answer && items.includes(answer) ? answer : undefined);
  };
  try {
    await work();
    await waitFor('the message', () => shown.length > 0, 5_000).catch(() => undefined);
  } finally {
    (vscode.window as { showErrorMessage: unknown }).showErrorMessage = original;
  }
  return shown;
}

describe('diagnosing jobs', () => {
  before(async () => {
    api = (await vscode.extensions.getExtension(extensionId)!.activate()) as MeadowrunApi;
  });

  after(async () => {
    await vscode.workspace.getConfiguration('meadowrun').update('resources.cpu', undefined, vscode.ConfigurationTarget.Global);
  });

  it('a remote exception is marked on its line, its traceback names workspace files, and its log holds it', async () => {
    const uri = file('mathfuncs.py');
    const outcome = await vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunction', uri, 'fail', '[]');
    assert.strictEqual(outcome.status, 'failed');
    const [diagnostic] = vscode.languages.getDiagnostics(uri);
    assert.ok(diagnostic, 'a diagnostic on mathfuncs.py');
    const lines = fs.readFileSync(uri.fsPath, 'utf8').split('\n');
    assert.match(lines[diagnostic.range.start.line], /raise ValueError\("fail\(\) always raises"\)/);
    assert.strictEqual(diagnostic.message, 'ValueError: fail() always raises');
    assert.strictEqual(diagnostic.severity, vscode.DiagnosticSeverity.Error);

    await waitForOutput('Meadowrun Jobs', `File "${uri.fsPath}", line ${diagnostic.range.start.line + 1}, in fail`);
    const job = api.model.jobs[0];
    const log = await vscode.commands.executeCommand<vscode.TextDocument>('meadowrun.openJobLog', job);
    assert.strictEqual(log.uri.scheme, 'meadowrun-log');
    assert.strictEqual(log.isDirty, false, 'a read-only document, not an Untitled one to save');
    assert.match(log.getText(), /ValueError: fail\(\) always raises/, 'the log of a function that raised is not empty');
    assert.ok(log.getText().includes(`File "${uri.fsPath}", line ${diagnostic.range.start.line + 1}, in fail`), `workspace paths in:\n${log.getText()}`);
  });

  it('the mark goes when the function next succeeds', async () => {
    const uri = file('flaky.py');
    fs.writeFileSync(uri.fsPath, 'def f():\n    x = 1\n    raise RuntimeError("not yet")\n');
    assert.strictEqual((await vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunction', uri, 'f', '[]')).status, 'failed');
    assert.deepStrictEqual(vscode.languages.getDiagnostics(uri).map((d) => [d.range.start.line, d.message]), [[2, 'RuntimeError: not yet']]);
    fs.writeFileSync(uri.fsPath, 'def f():\n    x = 1\n    return x\n');
    assert.strictEqual((await vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunction', uri, 'f', '[]')).status, 'succeeded');
    assert.deepStrictEqual(vscode.languages.getDiagnostics(uri), []);
  });

  it('a script that raises: its traceback in the output names the workspace file, and its line is marked', async () => {
    const uri = file('crash.py');
    fs.writeFileSync(uri.fsPath, 'print("before")\nraise KeyError("gone")\n');
    const outcome = await vscode.commands.executeCommand<JobOutcome>('meadowrun.runFile', uri);
    assert.deepStrictEqual(outcome, { status: 'exited', exitCode: 1 });
    await waitForOutput('Meadowrun Jobs', `File "${uri.fsPath}", line 2, in <module>`);
    assert.deepStrictEqual(vscode.languages.getDiagnostics(uri).map((d) => [d.range.start.line, d.message]), [[1, "KeyError: 'gone'"]]);
    const log = await vscode.commands.executeCommand<vscode.TextDocument>('meadowrun.openJobLog', api.model.jobs[0]);
    assert.ok(log.getText().includes(`File "${uri.fsPath}", line 2, in <module>`), log.getText());
  });

  it('a log updates live while its job runs, and is kept after its instance is gone', async () => {
    const running = vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunction', file('ticker.py'), 'tick', '[15]');
    await waitFor('the job to run', () => api.model.jobs[0]?.label === 'tick(15)' && api.model.jobs[0].status === 'running');
    const job = api.model.jobs[0];
    const log = await vscode.commands.executeCommand<vscode.TextDocument>('meadowrun.openJobLog', job);
    await waitFor('the first tick', () => log.getText().includes('tick 0'));
    assert.ok(!log.getText().includes('tick 14'), 'opened before the job printed everything');
    await waitFor('later ticks in the same document', () => log.getText().includes('tick 14'));
    assert.strictEqual(log.isDirty, false);
    assert.strictEqual((await running).status, 'succeeded');

    // The instance goes; the log stays.
    await vscode.commands.executeCommand('meadowrun.terminateInstance', { kind: 'instance', record: api.model.instances.find((r) => r.id === job.instanceId)! }, { confirmed: true });
    const kept = await api.logs.provideTextDocumentContent(log.uri);
    assert.match(kept, /tick 0\n[^]*tick 14\n/);
  });

  it('a job under an instance shows its label, state and time, and can be stopped and its log opened there', async () => {
    const running = vscode.commands.executeCommand<JobOutcome>('meadowrun.runFunction', file('ticker.py'), 'tick', '[300]');
    await waitFor('the job to run', () => api.model.jobs[0]?.label === 'tick(300)' && api.model.jobs[0].status === 'running');
    await api.model.refresh();
    const node = jobNodes().find((n) => n.jobId === api.model.jobs[0].id)!;
    assert.ok(node, 'the job is listed under its instance');
    const item = api.instancesTree.getTreeItem(node);
    assert.strictEqual(item.label, 'tick(300)');
    assert.match(String(item.description), /^running · \d+s$/);
    assert.strictEqual(item.contextValue, 'job.running');
    assert.strictEqual(item.command?.command, 'meadowrun.openJobLog');
    const log = await vscode.commands.executeCommand<vscode.TextDocument>(item.command!.command, ...item.command!.arguments!);
    await waitFor('its output', () => log.getText().includes('tick 0'));
    assert.strictEqual(await vscode.commands.executeCommand('meadowrun.stopJob', node), true);
    assert.deepStrictEqual(await running, { status: 'cancelled' });
  });

  it('a job whose instance is terminated under it was stopped: a warning says why, not "Lost the agent"', async () => {
    const warnings: string[] = [];
    const original = vscode.window.showWarningMessage;
    (vscode.window as { showWarningMessage: unknown }).showWarningMessage = (message: string) => (warnings.push(message), Promise.resolve(undefined));
    try {
      const errors = await errorMessages(async () => {
        const running = vscode.commands.executeCommand<JobOutcome | undefined>('meadowrun.runFunction', file('ticker.py'), 'tick', '[300]');
        await waitFor('the job to run', () => api.model.jobs[0]?.label === 'tick(300)' && api.model.jobs[0].status === 'running');
        await api.model.refresh();
        const record = api.model.instances.find((r) => r.id === api.model.jobs[0].instanceId)!;
        await vscode.commands.executeCommand('meadowrun.terminateInstance', { kind: 'instance', record }, { confirmed: true });
        assert.strictEqual(await running, undefined);
      });
      assert.deepStrictEqual(errors, []);
      const job = api.model.jobs[0];
      assert.deepStrictEqual([job.status, job.detail], ['cancelled', 'instance terminated']);
      assert.deepStrictEqual(warnings, [`Meadowrun: tick(300) was stopped because its instance ${job.instanceId} was terminated.`]);
    } finally {
      (vscode.window as { showWarningMessage: unknown }).showWarningMessage = original;
    }
  });

  it('a job started elsewhere (the CLI) is shown once by its id, followed live, and stopped from the tree', async () => {
    const cli = path.join(vscode.extensions.getExtension(extensionId)!.extensionPath, 'dist', 'cli.js');
    const child = spawn(process.execPath, [cli, 'run-function', 'ticker.py:tick', '--args', '[300]'], { cwd: folder(), env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const known = new Set(api.model.jobs.map((j) => j.id));
    let node: (InstancesNode & { kind: 'job' }) | undefined;
    // (While its instance launches, the row says the job waits for it.)
    await waitFor('the CLI job running in the Instances tree', async () => {
      await api.model.refresh();
      node = jobNodes().find((n) => !known.has(n.jobId));
      return !!node && api.model.instances.find((r) => r.id === node!.instanceId)?.state === 'ready';
    });
    const item = api.instancesTree.getTreeItem(node!);
    assert.strictEqual(item.label, node!.jobId);
    assert.match(String(item.description), /^running · \d+s$/, 'the id is not repeated');
    const log = await vscode.commands.executeCommand<vscode.TextDocument>('meadowrun.openJobLog', node);
    await waitFor('its first output', () => log.getText().includes('tick 0')).catch((e) => {
      throw new Error(`${e.message}; the log has: ${log.getText()}`);
    });
    const seen = log.getText().length;
    await waitFor('more output, fetched from the instance', () => log.getText().length > seen);
    assert.strictEqual(await vscode.commands.executeCommand('meadowrun.stopJob', node), true);
    assert.strictEqual(await exited, 130, stdout);
  });

  it('a failure names its stage and offers what helps: resources, arguments, the line of a syntax error', async () => {
    await vscode.workspace.getConfiguration('meadowrun').update('resources.cpu', 512, vscode.ConfigurationTarget.Global);
    const noFit = await errorMessages(() => vscode.commands.executeCommand('meadowrun.runFunction', file('mathfuncs.py'), 'add', '[1, 2]'));
    await vscode.workspace.getConfiguration('meadowrun').update('resources.cpu', undefined, vscode.ConfigurationTarget.Global);
    assert.strictEqual(noFit.length, 1);
    assert.match(noFit[0].message, /^Meadowrun: add\(1, 2\): allocate failed: No instance type offers 512 CPU/);
    assert.deepStrictEqual(noFit[0].items, ['Set Default Resources…', 'Show Log']);

    const badArgs = await errorMessages(() => vscode.commands.executeCommand('meadowrun.runFunction', file('mathfuncs.py'), 'add', '[1,'));
    assert.match(badArgs[0].message, /check failed: Arguments: "\[" is never closed/);
    assert.deepStrictEqual(badArgs[0].items, ['Edit Arguments', 'Show Log']);

    const broken = file('broken.py');
    fs.writeFileSync(broken.fsPath, 'x = 1\n\ndef f(:\n    pass\n');
    const syntax = await errorMessages(() => vscode.commands.executeCommand('meadowrun.runFile', broken), 'Go to Line');
    assert.match(syntax[0].message, /check failed: Syntax error in broken\.py, line 3/);
    assert.deepStrictEqual(syntax[0].items, ['Go to Line', 'Show Log']);
    await waitFor('the editor at the line', () => vscode.window.activeTextEditor?.document.uri.fsPath === broken.fsPath);
    assert.strictEqual(vscode.window.activeTextEditor!.selection.active.line, 2);
  });

  it('the Meadowrun log records every stage of a job, and a failure with its stack; Show Log shows it', async () => {
    await vscode.commands.executeCommand('meadowrun.runFunction', file('mathfuncs.py'), 'add', '[20, 22]');
    const job = api.model.jobs[0];
    await vscode.workspace.getConfiguration('meadowrun').update('resources.cpu', 512, vscode.ConfigurationTarget.Global);
    await errorMessages(() => vscode.commands.executeCommand('meadowrun.runFunction', file('mathfuncs.py'), 'add', '[1, 1]'), 'Show Log');
    await vscode.workspace.getConfiguration('meadowrun').update('resources.cpu', undefined, vscode.ConfigurationTarget.Global);
    for (const line of [
      '[info] add(20, 22): checking mathfuncs.py',
      `[info] add(20, 22): job ${job.id} allocated on ${job.instanceId}`,
      `[info] add(20, 22): synced`,
      `[info] add(20, 22): started on ${job.instanceId}`,
      `[info] add(20, 22): returned in`,
      '[error] add(1, 1): allocate failed: No instance type offers 512 CPU',
      'at allocateJobs (',
      '[error] fail() raised ValueError: fail() always raises\nTraceback (most recent call last):',
    ]) {
      await waitForOutput('Meadowrun', line);
    }
  });
});

function jobNodes(): (InstancesNode & { kind: 'job' })[] {
  return api.instancesTree
    .getChildren()
    .flatMap((n) => api.instancesTree.getChildren(n))
    .filter((n): n is InstancesNode & { kind: 'job' } => n.kind === 'job');
}
