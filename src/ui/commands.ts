import * as path from 'path';
import * as vscode from 'vscode';
import type { Resources } from '../core/resources';
import type { JobOutcome } from '../remote/protocol';
import type { TopLevelFunction } from '../core/pythonFunctions';
import { topLevelFunctions } from './codeLens';
import { CALL_ARGUMENTS_HELP, CallArguments, parseCallArguments } from '../core/callArguments';
import { arityProblem, parseParameters } from '../core/pythonSignature';
import { shellWords } from '../core/shellWords';
import { price } from './format';
import { InstancesNode } from './instancesTree';
import { describeError, MeadowrunError } from '../core/errors';
import { jobLogPath } from '../jobs/remotePaths';
import { command, Failures } from './failures';
import { JobRunner, projectFolder } from './jobRunner';
import { JobLogs, LogRef, ResultDocuments } from './logDocuments';
import { isActive, JobView, MeadowrunModel } from './model';
import { Services } from './services';
import { settings, updateSetting } from './settings';
import { chooseResources, describeChoice } from './resourcesWizard';
import { chooseDeployment, describeDeployment, workspaceDeployment } from './deploymentChoice';
import { deleteSecret, setSecret } from './secretCommands';
import { inputProblem } from './inputProblem';

export interface CommandContext {
  extension: vscode.ExtensionContext;
  services: Services;
  model: MeadowrunModel;
  runner: JobRunner;
  output: vscode.OutputChannel;
  failures: Failures;
  logs: JobLogs;
  results: ResultDocuments;
}

/** Registers every command; each returns what it did so tests (and other extensions) can check. */
export function registerCommands(c: CommandContext): vscode.Disposable[] {
  const register = (id: string, f: (...args: never[]) => unknown) => command(c.failures, id, f);
  return [
    register('meadowrun.runFile', (uri?: vscode.Uri) => runFile(c, uri)),
    // From the Explorer the second argument is the list of selected files, not arguments.
    register('meadowrun.runFileWithArguments', (uri?: vscode.Uri, args?: unknown) =>
      runFileWithArguments(c, uri, typeof args === 'string' ? args : undefined),
    ),
    register('meadowrun.runFunction', (uri?: vscode.Uri, name?: string, args?: string) => runFunction(c, uri, name, args)),
    register('meadowrun.runFunctionAtCursor', () => runFunctionAtCursor(c)),
    register('meadowrun.stopJob', (target?: JobView | InstancesNode) => stopJob(c, target)),
    register('meadowrun.openJobLog', (target?: JobView | InstancesNode) => openJobLog(c, target)),
    register('meadowrun.terminateInstance', (node?: InstancesNode, o?: { confirmed?: boolean }) => terminate(c, node, o)),
    register('meadowrun.refresh', () => c.model.refresh()),
    register('meadowrun.showLog', () => c.services.log.show()),
    register('meadowrun.clearFinishedJobs', () => c.model.clearFinished()),
    register('meadowrun.setDefaultResources', () => setDefaultResources(c)),
    register('meadowrun.chooseDeployment', async () => {
      const file = vscode.window.activeTextEditor?.document.uri;
      const folder = file ? projectFolder(file) : vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      const choice = await chooseDeployment(c.extension.workspaceState, folder);
      const now = workspaceDeployment(c.extension.workspaceState);
      c.output.appendLine(`Libraries for this workspace: ${now ? describeDeployment(now) : 'from the settings (meadowrun.deployment.*)'}`);
      return choice;
    }),
    register('meadowrun.setSecret', (name?: string, value?: string) => setSecret(c.services, name, value)),
    register('meadowrun.deleteSecret', (name?: string) => deleteSecret(c.services, name)),
    register('meadowrun.showEnvironments', () => c.model.refreshEnvironments()),
  ];
}

/**
 * The Python file a command is about: the argument, else the active editor's, else one the user
 * picks from the workspace (the welcome view's button runs with no editor open). Saved first.
 */
export async function pythonFile(uri?: vscode.Uri): Promise<vscode.Uri | undefined> {
  const active = vscode.window.activeTextEditor?.document.uri;
  const file = uri ?? (active?.fsPath.endsWith('.py') ? active : await pickPythonFile());
  if (!file) return undefined;
  if (file.scheme !== 'file' || !file.fsPath.endsWith('.py')) {
    void vscode.window.showErrorMessage(`Meadowrun: ${path.basename(file.fsPath)} is not a Python file on this machine; open or select a .py file to run it remotely.`);
    return undefined;
  }
  // What runs is what the user sees: save unsaved edits first.
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === file.toString());
  if (open?.isDirty) await open.save();
  return file;
}

async function pickPythonFile(): Promise<vscode.Uri | undefined> {
  const files = await vscode.workspace.findFiles('**/*.py', '{**/.*/**,**/node_modules/**,**/__pycache__/**,**/venv/**}', 2000);
  if (!files.length) {
    void vscode.window.showErrorMessage('Meadowrun: there is no Python file in this workspace to run remotely. Open a folder with one.');
    return undefined;
  }
  const items = files
    .map((uri) => ({ label: path.basename(uri.fsPath), description: vscode.workspace.asRelativePath(path.dirname(uri.fsPath)), uri }))
    .sort((a, b) => a.description.localeCompare(b.description) || a.label.localeCompare(b.label));
  return (await vscode.window.showQuickPick(items, { title: 'Run which Python file remotely?', matchOnDescription: true }))?.uri;
}

async function runFileWithArguments(c: CommandContext, uri?: vscode.Uri, givenArgs?: string): Promise<JobOutcome | undefined> {
  const file = await pythonFile(uri);
  if (!file) return undefined;
  // Remembered per file, like a function's arguments.
  const memory = `meadowrun.scriptArgs:${file.toString()}`;
  const line =
    givenArgs ??
    (await vscode.window.showInputBox({
      title: `Run ${path.basename(file.fsPath)} remotely with arguments`,
      prompt: 'Arguments for the script, quoted as in a shell: --n 3 "my data.csv"',
      value: c.extension.workspaceState.get<string>(memory, ''),
      ignoreFocusOut: true,
      validateInput: (text) => inputProblem(() => shellWords(text)),
    }));
  if (line === undefined) return undefined;
  await c.extension.workspaceState.update(memory, line);
  return runFile(c, file, shellWords(line));
}

async function runFile(c: CommandContext, uri?: vscode.Uri, args: string[] = []): Promise<JobOutcome | undefined> {
  const file = await pythonFile(uri);
  if (!file) return undefined;
  const { engine } = await c.services.get();
  const label = [path.relative(projectFolder(file), file.fsPath), ...args.map(displayWord)].join(' ');
  const ran = await c.runner.run({ label, file, start: (o) => engine.runCommand(file.fsPath, args, o) });
  if (!ran) return undefined;
  const { outcome } = ran;
  if (outcome.status === 'exited' && outcome.exitCode !== 0) {
    void vscode.window.showWarningMessage(`Meadowrun: ${label} exited with code ${outcome.exitCode}.`, 'Show Output').then((a) => a && c.output.show());
  }
  return outcome;
}

async function runFunction(c: CommandContext, uri?: vscode.Uri, name?: string, givenArgs?: string): Promise<JobOutcome | undefined> {
  const file = await pythonFile(uri);
  if (!file) return undefined;
  name ??= await pickFunction(file, 'Run which function remotely?');
  if (!name) return undefined;
  const signature = await functionSignature(file, name);
  // Arguments are remembered per function, so a re-run is one Enter away.
  const memory = `meadowrun.args:${file.toString()}:${name}`;
  const fnName = name;
  const text =
    givenArgs ??
    (await vscode.window.showInputBox({
      title: `Run ${name}(${signature ?? '…'}) remotely`,
      prompt: `Arguments as in a call, Python literals or JSON: ${CALL_ARGUMENTS_HELP}`,
      value: c.extension.workspaceState.get<string>(memory, ''),
      ignoreFocusOut: true,
      // Checked as the user types: the shape of the arguments, and whether they fit the parameters.
      validateInput: (value) =>
        inputProblem(() => {
          const call = parseCallArguments(value);
          const problem = signature === undefined ? undefined : arityProblem(fnName, parseParameters(signature), call.positional, call.keywords);
          if (problem) throw new Error(problem);
        }),
    }));
  if (text === undefined) return undefined;
  await c.extension.workspaceState.update(memory, text);
  let call: CallArguments;
  try {
    call = parseCallArguments(text);
  } catch (e) {
    const error = new MeadowrunError((e as Error).message, 'bad-arguments', { stage: 'check' });
    c.failures.report(error, { label: `${name}(…)`, editArguments: () => vscode.commands.executeCommand('meadowrun.runFunction', file, fnName) });
    return undefined;
  }
  const label = `${name}(${callLabel(text)})`;
  const { engine } = await c.services.get();
  const ran = await c.runner.run({
    label,
    file,
    function: fnName,
    start: (o) => engine.runFunction(`${file.fsPath}:${fnName}`, call.args, { ...o, kwargs: call.kwargs }),
    editArguments: () => vscode.commands.executeCommand('meadowrun.runFunction', file, fnName),
  });
  if (!ran) return undefined;
  const { outcome } = ran;
  if (outcome.status === 'succeeded') {
    const repr = outcome.value?.repr ?? '';
    c.output.appendLine(`→ ${repr}`);
    const actions = ['Copy', ...(outcome.value?.json !== undefined ? ['Open as JSON'] : [])];
    void vscode.window.showInformationMessage(`${label} → ${repr.length > 200 ? `${repr.slice(0, 200)}…` : repr}`, ...actions).then(async (action) => {
      if (action === 'Copy') await vscode.env.clipboard.writeText(repr);
      if (action === 'Open as JSON') await c.results.open(label, JSON.parse(outcome.value!.json!));
    });
  }
  return outcome;
}

/** How a call's arguments read in a label: "2, 3, n=4" whichever form they were typed in. */
function callLabel(text: string): string {
  const t = text.trim();
  const call = /^[A-Za-z_][\w.]*\s*\(([\s\S]*)\)$/.exec(t);
  if (call) return call[1];
  return /^\[[\s\S]*\]$/.test(t) ? t.slice(1, -1) : t;
}

/** A script argument as a shell would need it typed. */
function displayWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The parameter list of a top-level function as written, when the file's scan finds it. */
export async function functionSignature(file: vscode.Uri, name: string): Promise<string | undefined> {
  const document = await vscode.workspace.openTextDocument(file);
  return (await topLevelFunctions(document)).find((f) => f.name === name)?.parameters;
}

/** Asks which of the file's top-level functions to run. */
export async function pickFunction(file: vscode.Uri, title: string): Promise<string | undefined> {
  const document = await vscode.workspace.openTextDocument(file);
  const functions = await topLevelFunctions(document);
  if (!functions.length) {
    void vscode.window.showErrorMessage(`Meadowrun: ${path.basename(file.fsPath)} has no top-level function to run.`);
    return undefined;
  }
  // The function the cursor is in comes first, so Enter runs it.
  const here = functionAtCursor(file, functions);
  const items = functions.map((f) => ({ label: f.name, description: `(${f.parameters})${f === here ? ' · at the cursor' : ''}`, f }));
  items.sort((a, b) => Number(b.f === here) - Number(a.f === here));
  return (await vscode.window.showQuickPick(items, { title, matchOnDescription: true }))?.label;
}

/** The top-level function whose body holds the active editor's cursor, in `file`. */
function functionAtCursor(file: vscode.Uri, functions: TopLevelFunction[]): TopLevelFunction | undefined {
  const editor = vscode.window.activeTextEditor;
  if (editor?.document.uri.toString() !== file.toString()) return undefined;
  const line = editor.selection.active.line;
  const text = editor.document;
  // A function runs from its first decorator to the next line of code at column 0.
  const sorted = [...functions].sort((a, b) => a.firstLine - b.firstLine);
  const containing = sorted.filter((f) => f.firstLine <= line).pop();
  if (!containing) return undefined;
  for (let n = containing.line + 1; n <= line; n++) {
    const t = text.lineAt(n).text;
    if (/^\S/.test(t) && !/^#/.test(t)) return undefined;
  }
  return containing;
}

/** Runs the function the cursor is in (a keybinding); elsewhere, asks which. */
async function runFunctionAtCursor(c: CommandContext): Promise<JobOutcome | undefined> {
  const file = await pythonFile();
  if (!file) return undefined;
  const document = await vscode.workspace.openTextDocument(file);
  const here = functionAtCursor(file, await topLevelFunctions(document));
  return runFunction(c, file, here?.name);
}

async function stopJob(c: CommandContext, target?: JobView | InstancesNode): Promise<boolean> {
  const job = !target ? await pickRunningJob(c) : 'key' in target ? target : target.kind === 'job' ? c.model.jobById(target.jobId) : undefined;
  if (!target && !job) return false;
  if (job?.cancel) {
    job.cancel();
    return true;
  }
  if (target && !('key' in target) && target.kind === 'job') {
    // Started elsewhere (another window, the CLI): the agent on its instance stops it.
    const { engine } = await c.services.get();
    const stopped = await engine.stopJob(target.instanceId, target.jobId);
    void c.model.refresh();
    if (!stopped) void vscode.window.showWarningMessage(`Meadowrun: job ${target.jobId} on ${target.instanceId} has not stopped yet.`);
    return stopped;
  }
  void vscode.window.showInformationMessage('Meadowrun: that job has already ended.');
  return false;
}

/** From the palette: the one running job, or the one the user picks. */
async function pickRunningJob(c: CommandContext): Promise<JobView | undefined> {
  const running = c.model.jobs.filter(isActive);
  if (running.length <= 1) {
    if (!running.length) void vscode.window.showInformationMessage('Meadowrun: no job started from this window is running.');
    return running[0];
  }
  const picked = await vscode.window.showQuickPick(
    running.map((job) => ({ label: job.label, description: [job.status, job.instanceId].filter(Boolean).join(' · '), job })),
    { title: 'Stop which job?' },
  );
  return picked?.job;
}

/** The job's log as a read-only document that follows it while it runs. */
async function openJobLog(c: CommandContext, target?: JobView | InstancesNode): Promise<vscode.TextDocument | undefined> {
  let ref = logOf(c.model, target);
  if (ref && !ref.logPath && target && !('key' in target)) ref = await whenInstanceReady(c, target, ref);
  if (!ref) {
    void vscode.window.showInformationMessage('Meadowrun: this job has no log yet.');
    return undefined;
  }
  return c.logs.open(ref);
}

/**
 * A job that joined an instance still launching has no log until the instance is up (where the
 * log lives is known only then): wait for it, with progress and Cancel, rather than open a log
 * that says "not known" for good.
 */
async function whenInstanceReady(c: CommandContext, target: InstancesNode, ref: LogRef): Promise<LogRef> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Meadowrun: waiting for ${ref.instanceId} to start, to open the job's log…`, cancellable: true },
    async (_, token) => {
      for (const deadline = Date.now() + 180_000; Date.now() < deadline && !token.isCancellationRequested; ) {
        await c.model.refresh();
        const now = logOf(c.model, target);
        const record = c.model.instances.find((r) => r.id === ref.instanceId);
        if (!now || now.logPath || !record || record.state !== 'launching') return now ?? ref;
        await new Promise((r) => setTimeout(r, 1000));
      }
      return ref;
    },
  );
}

function logOf(model: MeadowrunModel, target?: JobView | InstancesNode): LogRef | undefined {
  if (!target) return undefined;
  if ('key' in target) return target.id && target.instanceId ? { instanceId: target.instanceId, jobId: target.id, logPath: target.logPath, label: target.label } : undefined;
  if (target.kind !== 'job') return undefined;
  const ours = model.jobById(target.jobId);
  const record = model.instances.find((r) => r.id === target.instanceId);
  const logPath = ours?.logPath ?? (record?.workDir && jobLogPath(record.workDir, target.jobId));
  return { instanceId: target.instanceId, jobId: target.jobId, logPath, label: ours?.label };
}

async function terminate(c: CommandContext, node?: InstancesNode, o: { confirmed?: boolean } = {}): Promise<boolean> {
  let id = node?.kind === 'instance' ? node.record.id : undefined;
  if (!id) {
    await c.model.refresh();
    const picked = await vscode.window.showQuickPick(
      c.model.instances.map((r) => ({ label: r.id, description: `${r.typeName} · ${price(r.price)}` })),
      { title: 'Terminate which instance?' },
    );
    id = picked?.label;
  }
  if (!id) return false;
  const record = c.model.instances.find((r) => r.id === id);
  const jobs = Object.keys(record?.jobs ?? {}).length;
  if (!o.confirmed) {
    const answer = await vscode.window.showWarningMessage(
      `Terminate ${id}?`,
      { modal: true, detail: jobs ? `${jobs} running job(s) will be stopped.` : 'It is idle.' },
      'Terminate',
    );
    if (answer !== 'Terminate') return false;
  }
  const { cloud } = await c.services.get();
  const { terminateInstance } = await import('../jobs/instances');
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Meadowrun: terminating ${id}…` }, () =>
    terminateInstance(cloud, id!, { force: true }),
  );
  await c.model.refresh();
  return true;
}

/**
 * Asks for each default resource in turn, checked against the cloud's catalog (see
 * resourcesWizard), and saves them together only at the end. Returns what was saved.
 */
async function setDefaultResources(c: CommandContext): Promise<Resources | undefined> {
  const types = await c.services
    .get()
    .then((b) => b.cloud.provider.listInstanceTypes())
    .catch((e: unknown) => {
      // Still useful without the catalog: values are then only range-checked.
      c.services.log.warn(`Set Default Resources: cannot read the instance types, so choices are not checked against them: ${describeError(e)}`);
      return undefined;
    });
  const chosen = await chooseResources(settings().resources, types);
  if (!chosen) return undefined;
  await updateSetting('resources.cpu', chosen.cpu);
  await updateSetting('resources.memoryGb', chosen.memoryGb);
  await updateSetting('resources.gpus', chosen.gpus);
  await updateSetting('resources.gpuMemoryGb', chosen.gpuMemoryGb);
  await updateSetting('resources.cpuFeatures', chosen.cpuFeatures);
  await updateSetting('resources.maxEvictionRatePct', chosen.maxEvictionRatePct);
  void vscode.window.showInformationMessage(`Meadowrun: jobs now ask for ${describeChoice(chosen)}.`);
  return chosen;
}
