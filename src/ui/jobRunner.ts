import * as path from 'path';
import { StringDecoder } from 'string_decoder';
import { bytes } from '../core/format';
import * as vscode from 'vscode';
import type { JobEvent, JobOptions, JobResult } from '../jobs/engine';
import type { JobOutcome } from '../remote/protocol';
import { duration, price } from './format';
import { JobView, MeadowrunModel, statusOf } from './model';
import { localPython } from './pythonInterpreter';
import { Services } from './services';
import { settings } from './settings';

export interface JobRequest {
  /** Shown in the Jobs tree, the output and the progress notification. */
  label: string;
  /** The file the job is about: its workspace folder is the project synced to the instance. */
  file: vscode.Uri;
  start(o: JobOptions): Promise<JobResult>;
}

/**
 * Runs one job from the editor: progress with a cancel button for every slow step (with the price
 * of any instance it launches), output streamed to the "Meadowrun Jobs" channel, and the Jobs tree
 * kept up to date. Returns the outcome, or undefined when the job could not run (already reported).
 */
export class JobRunner {
  constructor(
    private readonly services: Services,
    private readonly model: MeadowrunModel,
    private readonly output: vscode.OutputChannel,
  ) {}

  async run(request: JobRequest): Promise<{ outcome: JobOutcome; result: JobResult } | undefined> {
    const job = this.model.addJob(request.label);
    const projectDir = projectFolder(request.file);
    this.output.appendLine(`▶ ${request.label}  (${new Date().toLocaleTimeString()})`);
    this.output.show(true);

    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Meadowrun: ${request.label}`, cancellable: true },
      async (progress, token) => {
        const controller = new AbortController();
        const cancel = () => controller.abort();
        token.onCancellationRequested(cancel);
        this.model.updateJob(job, { cancel });
        const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
        progress.report({ message: 'checking the code and choosing an instance…' });
        try {
          const s = settings();
          const result = await request.start({
            projectDir,
            resources: s.resources,
            interpreter: s.remoteInterpreter,
            logCapMb: s.logCapMb,
            localPython: await localPython(request.file),
            signal: controller.signal,
            onEvent: (e) => this.onEvent(job, e, progress),
            onOutput: (stream, data) => this.output.append(decoders[stream].write(data)),
          });
          this.output.append(decoders.stdout.end() + decoders.stderr.end());
          const took = duration(Date.now() - job.startedAt);
          this.model.updateJob(job, { id: result.jobId, instanceId: result.instanceId, logPath: result.logPath ?? job.logPath });
          this.model.finishJob(job, statusOf(result.outcome), summary(result.outcome));
          this.output.appendLine(`■ ${request.label}: ${summary(result.outcome)} in ${took} on ${result.instanceId}`);
          return { outcome: result.outcome, result };
        } catch (e) {
          const message = (e as Error).message;
          const cancelled = controller.signal.aborted;
          this.model.finishJob(job, cancelled ? 'cancelled' : 'error', cancelled ? undefined : message);
          this.output.appendLine(`■ ${request.label}: ${cancelled ? 'cancelled' : message}`);
          if (!cancelled) {
            if ((e as Error).name !== 'MeadowrunError') this.services.log.error(`Unexpected error in ${request.label}: ${(e as Error).stack}`);
            void vscode.window.showErrorMessage(`Meadowrun: ${message}`);
          }
          return undefined;
        }
      },
    );
  }

  private onEvent(job: JobView, e: JobEvent, progress: vscode.Progress<{ message?: string }>): void {
    switch (e.kind) {
      case 'launching': {
        const what = `a ${e.typeName} instance (${e.spot ? 'spot' : 'on-demand'}, ${price(e.price)})`;
        progress.report({ message: `launching ${what}…` });
        this.output.appendLine(`  launching ${what}`);
        this.model.updateJob(job, { status: 'launching', detail: `${e.typeName} ${price(e.price)}` });
        return;
      }
      case 'launched':
        this.output.appendLine(`  launched ${e.instanceId} in ${e.seconds.toFixed(1)} s`);
        void this.services.launchNotice.launched(e.instanceId);
        void this.model.refresh();
        return;
      case 'retrying':
        progress.report({ message: `${e.instanceId} is unreachable; retrying on another instance…` });
        this.output.appendLine(`  ${e.instanceId} is unreachable (${e.reason}); it takes no more jobs, retrying on another instance`);
        void this.model.refresh();
        return;
      case 'allocated':
        progress.report({ message: `syncing code to ${e.instanceId}${e.reused ? ' (warm)' : ''}…` });
        this.model.updateJob(job, { instanceId: e.instanceId, detail: undefined });
        void this.model.refresh();
        return;
      case 'synced':
        if (e.skipped.length > 0) this.output.appendLine(`  warning: not synced, symlinks pointing outside the project: ${e.skipped.join(', ')}`);
        if (e.sent) this.output.appendLine(`  synced ${e.sent} of ${e.files} files (${bytes(e.bytes)})`);
        progress.report({ message: `running on ${job.instanceId}…` });
        return;
      case 'started':
        this.model.updateJob(job, { status: 'running', logPath: e.logPath });
        return;
    }
  }
}

/** The project synced to the instance: the file's workspace folder, else its own folder. */
export function projectFolder(file: vscode.Uri): string {
  return vscode.workspace.getWorkspaceFolder(file)?.uri.fsPath ?? path.dirname(file.fsPath);
}

function summary(outcome: JobOutcome): string {
  switch (outcome.status) {
    case 'succeeded':
      return 'returned';
    case 'exited':
      return `exit code ${outcome.exitCode}`;
    case 'failed':
      return `raised ${outcome.error.type}: ${outcome.error.message}`;
    case 'unserializable':
      return `returned, but ${outcome.message}`;
    case 'rejected':
      return outcome.message;
    case 'crashed':
      return `crashed: ${outcome.message}`;
    case 'cancelled':
      return 'cancelled';
  }
}
