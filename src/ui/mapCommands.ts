import * as vscode from 'vscode';
import { MapEvent, resultFigures, summarizeMap } from '../core/mapProgress';
import type { MapResult } from '../jobs/runMap';
import { functionSignature, pickFunction, pythonFile } from './commands';
import { describeError } from '../core/errors';
import { command, Failures } from './failures';
import { duration } from './format';
import { JobLogs, ResultDocuments } from './logDocuments';
import { projectFolder } from './jobRunner';
import { MapProgressPanel } from './mapPanel/mapProgressPanel';
import { JobView, MeadowrunModel } from './model';
import { localPython } from './pythonInterpreter';
import { Services } from './services';
import { deploymentSettings, settings } from './settings';

/** What the Jobs tree keeps of a map, so its panel can be opened again after being closed. */
interface MapJob {
  job: JobView;
  title: string;
  events: MapEvent[];
  panel?: MapProgressPanel;
  cancel(): void;
}

const maps = new Map<number, MapJob>();

/** Where a map's logs, results and failures go. */
export interface MapDocuments {
  logs: JobLogs;
  results: ResultDocuments;
  failures: Failures;
}

/** Opens (or brings back) a map's progress panel, replaying what it has seen so far. */
function showPanel(extension: vscode.ExtensionContext, docs: MapDocuments, map: MapJob): MapProgressPanel {
  if (map.panel) {
    map.panel.reveal();
    return map.panel;
  }
  const panel = MapProgressPanel.open(extension.extensionUri, map.title, {
    onCancel: () => map.cancel(),
    onOpenWorkerLog: async (workerId) => {
      const worker = [...map.events].reverse().find((e) => e.kind === 'worker' && e.worker.workerId === workerId);
      if (worker?.kind !== 'worker' || !worker.worker.logPath) return void vscode.window.showInformationMessage('Meadowrun: this worker has no log yet.');
      await docs.logs.open({ instanceId: worker.worker.instanceId, jobId: workerId, logPath: worker.worker.logPath, label: `${map.job.label} worker ${workerId}` });
    },
  });
  for (const e of map.events) panel.push(e);
  panel.onDidDispose(() => (map.panel = undefined));
  map.panel = panel;
  return panel;
}

export function registerMapCommands(
  extension: vscode.ExtensionContext,
  services: Services,
  model: MeadowrunModel,
  output: vscode.OutputChannel,
  docs: MapDocuments,
): vscode.Disposable[] {
  const runMap = async (uri?: vscode.Uri, name?: string, givenArgs?: string): Promise<MapResult | undefined> => {
    const file = await pythonFile(uri);
    if (!file) return undefined;
    name ??= await pickFunction(file, 'Map which function?');
    if (!name) return undefined;
    const signature = await functionSignature(file, name);
    const memory = `meadowrun.mapArgs:${file.toString()}:${name}`;
    const args =
      givenArgs ??
      (await vscode.window.showInputBox({
        title: `Run ${name}(${signature ?? '…'}) over many arguments`,
        prompt: 'One task per element: a Python expression evaluated on the instance, e.g. range(100), or a JSON list',
        value: extension.workspaceState.get<string>(memory, 'range(10)'),
        ignoreFocusOut: true,
      }));
    if (!args) return undefined;
    await extension.workspaceState.update(memory, args);

    const s = settings();
    const title = `Map: ${name} over ${args.length > 40 ? `${args.slice(0, 40)}…` : args}`;
    const job = model.addJob(`${name} × ${args}`);
    const controller = new AbortController();
    const map: MapJob = { job, title, events: [], cancel: () => controller.abort() };
    maps.set(job.key, map);
    model.updateJob(job, { cancel: map.cancel, map: () => showPanel(extension, docs, map) });
    showPanel(extension, docs, map);
    output.appendLine(`▶ ${title}`);
    const workerStates = new Map<string, string>();
    try {
      const { engine } = await services.get();
      const { parseMapArguments } = await import('../jobs/runMap'); // loaded with the engine, not at activation
      const result = await engine.runMap(`${file.fsPath}:${name}`, parseMapArguments(args), {
        projectDir: projectFolder(file),
        resources: s.resources,
        interpreter: s.remoteInterpreter,
        ...deploymentSettings(),
        localPython: await localPython(file),
        workers: s.mapWorkers,
        signal: controller.signal,
        onEvent: (e) => {
          if (e.kind === 'launching') services.log.info(`${title}: launching a ${e.typeName} instance`);
          if (e.kind === 'launched') services.log.info(`${title}: launched ${e.instanceId} in ${e.seconds.toFixed(1)} s`);
          if (e.kind === 'attempt') services.log.info(`${title}: ${e.message}`);
          if (e.kind === 'no-capacity') services.log.info(`${title}: ${e.reason}; trying the next cheapest type`);
          // A launch once the map runs (its second wave) does not make the map 'launching' again.
          if (e.kind === 'launching' && job.status !== 'running') model.updateJob(job, { status: 'launching', detail: `${e.typeName}` });
          if (e.kind === 'launched') void services.launchNotice.launched(e.instanceId);
        },
        onMapEvent: (e) => {
          map.events.push(e);
          map.panel?.push(e);
          if (e.kind === 'started') services.log.info(`${title}: job ${e.jobId} started, ${e.taskCount} tasks on ${e.workers} workers`);
          if (e.kind === 'worker' && workerStates.get(e.worker.workerId) !== e.worker.state) {
            workerStates.set(e.worker.workerId, e.worker.state);
            services.log.info(`${title}: worker ${e.worker.workerId} on ${e.worker.instanceId} is ${e.worker.state}`);
          }
          if (e.kind === 'failure') services.log.warn(`${title}: task ${e.task} attempt ${e.attempt} failed: ${e.error.type}: ${e.error.message}`);
          if (e.kind === 'started') model.updateJob(job, { status: 'running', id: e.jobId, detail: `${e.taskCount} tasks` });
        },
      });
      const took = duration(Date.now() - job.startedAt);
      const summary = summarizeMap(resultFigures(result));
      model.finishJob(job, result.status === 'succeeded' ? 'succeeded' : result.status === 'cancelled' ? 'cancelled' : 'failed', summary.text);
      services.log.info(`${title}: ${summary.text} in ${took}`);
      output.appendLine(`■ ${title}: ${summary.text} in ${took}`);
      if (result.status !== 'cancelled') {
        const text = `Meadowrun: ${name} over ${args}: ${summary.text} in ${took}.`;
        void (summary.outcome === 'succeeded' ? vscode.window.showInformationMessage(text, 'Open Results as JSON') : vscode.window.showWarningMessage(text, 'Open Results as JSON'))
          .then(async (action) => {
            if (!action) return;
            const values = result.results.map((r) => (r.ok ? (r.value.json !== undefined ? JSON.parse(r.value.json) : r.value.repr ?? null) : { error: `${r.error.type}: ${r.error.message}` }));
            await docs.results.open(`${name} over ${args}`, values);
          });
      }
      return result;
    } catch (e) {
      model.finishJob(job, controller.signal.aborted ? 'cancelled' : 'error', describeError(e));
      output.appendLine(`■ ${title}: ${controller.signal.aborted ? 'cancelled' : describeError(e)}`);
      if (controller.signal.aborted) services.log.info(`${title}: cancelled`);
      else docs.failures.report(e, { label: title, editArguments: () => vscode.commands.executeCommand('meadowrun.runMap', file, name) });
      return undefined;
    }
  };

  return [
    command(docs.failures, 'meadowrun.runMap', runMap),
    command(docs.failures, 'meadowrun.openMapPanel', async (job?: JobView) => {
      const maps = model.jobs.filter((j) => j.map);
      if (!job && !maps.length) return void vscode.window.showInformationMessage('Meadowrun: no map job has run in this window yet.');
      job ??= maps.length === 1 ? maps[0] : (await vscode.window.showQuickPick(maps.map((j) => ({ label: j.label, description: j.status, job: j })), { title: 'Show the progress of which map?' }))?.job;
      return job?.map?.();
    }),
  ];
}

