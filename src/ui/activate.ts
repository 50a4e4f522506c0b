import * as path from 'path';
import { workspaceDeployment } from './deploymentChoice';
import * as vscode from 'vscode';
import { registerAwsCommands } from './awsCommands';
import { registerAzureCommands } from './azureCommands';
import { RunRemotelyCodeLensProvider } from './codeLens';
import { registerCommands } from './commands';
import { Failures } from './failures';
import { InstancesTreeProvider } from './instancesTree';
import { JobRunner } from './jobRunner';
import { JobsTreeProvider } from './jobsTree';
import { JobLogs, LOG_SCHEME, RESULT_SCHEME, ResultDocuments } from './logDocuments';
import { registerManagementCommands } from './managementCommands';
import { registerMapCommands } from './mapCommands';
import { MeadowrunModel } from './model';
import { RemoteExceptions } from './remoteExceptions';
import { Services } from './services';
import { InstancesStatusBar } from './statusBar';

/** What the extension hands other code (and its tests): the model the views show. */
export interface MeadowrunApi {
  model: MeadowrunModel;
  services: Services;
  instancesTree: InstancesTreeProvider;
  jobsTree: JobsTreeProvider;
  logs: JobLogs;
  statusBar: InstancesStatusBar;
}

/** Builds the UI over the engine. Nothing here touches the cloud: that waits for the first use. */
export function activateUi(extension: vscode.ExtensionContext): MeadowrunApi {
  const log = vscode.window.createOutputChannel('Meadowrun', { log: true });
  const output = vscode.window.createOutputChannel('Meadowrun Jobs');
  const services = new Services(log);
  const model = new MeadowrunModel(services, extension.workspaceState);
  const instancesTree = new InstancesTreeProvider(model);
  const jobsTree = new JobsTreeProvider(model);
  const failures = new Failures(log);
  const logs = new JobLogs(services, path.join(extension.globalStorageUri.fsPath, 'logs'));
  const results = new ResultDocuments();
  const exceptions = new RemoteExceptions();
  const runner = new JobRunner(services, model, output, failures, logs, exceptions);
  runner.workspaceDeployment = () => workspaceDeployment(extension.workspaceState);
  const codeLens = new RunRemotelyCodeLensProvider();
  const statusBar = new InstancesStatusBar(model);
  const instancesView = vscode.window.createTreeView('meadowrun.instances', { treeDataProvider: instancesTree, showCollapseAll: false });
  const jobsView = vscode.window.createTreeView('meadowrun.jobs', { treeDataProvider: jobsTree });
  extension.subscriptions.push(
    log,
    output,
    services,
    model,
    instancesTree,
    jobsTree,
    codeLens,
    logs,
    exceptions,
    vscode.workspace.registerTextDocumentContentProvider(LOG_SCHEME, logs),
    vscode.workspace.registerTextDocumentContentProvider(RESULT_SCHEME, results),
    statusBar,
    instancesView,
    jobsView,
    model.pollWhileVisible([instancesView, jobsView]),
    vscode.languages.registerCodeLensProvider({ language: 'python', scheme: 'file' }, codeLens),
    ...registerCommands({ extension, services, model, runner, output, failures, logs, results }),
    ...registerManagementCommands(services, model, failures),
    ...registerAwsCommands(services, model, failures),
    ...registerAzureCommands(services, model, failures),
    ...registerMapCommands(extension, services, model, output, { logs, results, failures }),
  );
  // The first look at the table happens after activation returns, so activation stays fast.
  setTimeout(() => void model.refresh(), 0);
  return { model, services, instancesTree, jobsTree, logs, statusBar };
}
