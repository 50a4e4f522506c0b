import * as path from 'path';
import { StringDecoder } from 'string_decoder';
import { bytes } from '../core/format';
import * as vscode from 'vscode';
import { describeError, MeadowrunError } from '../core/errors';
import { LineRewriter, localizePaths } from '../core/tracebacks';
import type { JobEvent, JobOptions, JobResult } from '../jobs/engine';
import type { JobOutcome } from '../remote/protocol';
import { FailureContext, Failures } from './failures';
import { duration, price } from './format';
import { JobLogs } from './logDocuments';
import { JobView, MeadowrunModel, statusOf } from './model';
import { localPython } from './pythonInterpreter';
import { RemoteExceptions } from './remoteExceptions';
import { Services } from './services';
import { deploymentSettings, settings } from './settings';
import type { DeploymentChoice } from '../core/deployment';

export interface JobRequest {
  /** Shown in the Jobs tree, the output and the progress notification. */
  label: string;
  /** The file the job is about: its workspace folder is the project synced to the instance. */
  file: vscode.Uri;
  /** The function it calls, if any: with the file, what a remote exception's mark belongs to. */
  function?: string;
  start(o: JobOptions): Promise<JobResult>;
  /** Runs it again asking for new arguments (offered when the arguments were wrong). */
  editArguments?: () => unknown;
}

/** How long an unfinished line of output waits for its end before it is shown anyway. */
const PARTIAL_LINE_MS = 100;
/** How much of a command's stderr is kept to find its traceback in. */
const STDERR_TAIL = 64 * 1024;

/**
 * Runs one job from the editor: progress with a cancel button for every slow step (with the price
 * of any instance it launches), output streamed to the "Meadowrun Jobs" channel (instance paths
 * made workspace paths) and to the job's log, every stage on the "Meadowrun" log, the Jobs tree kept
 * up to date, and the line a remote exception came from marked. Returns the outcome, or undefined
 * when the job could not run (already reported).
 */
export class JobRunner {
  constructor(
    private readonly services: Services,
    private readonly model: MeadowrunModel,
    private readonly output: vscode.OutputChannel,
    private readonly failures: Failures,
    private readonly logs: JobLogs,
    private readonly exceptions: RemoteExceptions,
  ) {}

  /** The workspace's remembered deployment choice (deploymentChoice.ts), which overrides the settings. */
  workspaceDeployment?: () => DeploymentChoice | undefined;

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
        // Until the instance says where the project is there is no output, and nothing to rewrite.
        let localize = (text: string) => text;
        const rewriter = new LineRewriter((text) => localize(text));
        let partial: NodeJS.Timeout | undefined;
        let stderrTail = '';
        const show = (text: string) => {
          if (!text) return;
          this.output.append(text);
          if (job.id) this.logs.append(job.id, text);
        };
        const onOutput = (stream: 'stdout' | 'stderr', data: Buffer) => {
          const text = decoders[stream].write(data);
          if (stream === 'stderr') stderrTail = (stderrTail + text).slice(-STDERR_TAIL);
          show(rewriter.push(text));
          partial ??= setTimeout(() => {
            partial = undefined;
            show(rewriter.flush());
          }, PARTIAL_LINE_MS);
        };
        const run = `${request.file.fsPath}:${request.function ?? ''}`;
        const context = {
          label: request.label,
          projectDir,
          editArguments: request.editArguments,
          showJobLog: () => (job.id && job.instanceId ? this.logs.open({ instanceId: job.instanceId, jobId: job.id, logPath: job.logPath, label: job.label }) : this.services.log.show()),
        };
        progress.report({ message: 'checking the code and choosing an instance…' });
        this.services.log.info(`${request.label}: checking ${path.relative(projectDir, request.file.fsPath)}`);
        try {
          const s = settings();
          const fromSettings = deploymentSettings();
          const deployment = this.workspaceDeployment?.() ?? fromSettings.deployment;
          let builtEnvironment = false;
          const result = await request.start({
            projectDir,
            resources: s.resources,
            interpreter: s.remoteInterpreter,
            ...fromSettings,
            deployment,
            logCapMb: s.logCapMb,
            localPython: await localPython(request.file),
            signal: controller.signal,
            onEvent: (e) => {
              if (e.kind === 'started') localize = (text) => localizePaths(text, e.projectDir, projectDir);
              if (e.kind === 'deployment') this.output.appendLine(`  libraries: ${e.source}`);
              if (e.kind === 'environment' && (e.event.kind === 'built' || e.event.kind === 'reused')) builtEnvironment = true;
              this.onEvent(job, e, progress);
            },
            onOutput,
          });
          clearTimeout(partial);
          show(rewriter.push(decoders.stdout.end() + decoders.stderr.end()) + rewriter.flush());
          // The Instances view shows each instance's environments: list them again now that one was used.
          if (builtEnvironment) this.model.refreshEnvironments().catch((e) => this.services.log.warn(`Could not list the instances' environments: ${(e as Error).message}`));
          const took = duration(Date.now() - job.startedAt);
          const outcome = result.outcome;
          this.model.updateJob(job, { id: result.jobId, instanceId: result.instanceId, logPath: result.logPath ?? job.logPath });
          this.model.finishJob(job, statusOf(outcome), summary(outcome));
          this.output.appendLine(`■ ${request.label}: ${summary(outcome)} in ${took} on ${result.instanceId}`);
          this.services.log.info(`${request.label}: ${summary(outcome)} in ${took} on ${result.instanceId} (job ${result.jobId})`);
          const traceback = outcome.status === 'failed' ? localize(outcome.error.traceback) : undefined;
          if (traceback && outcome.status === 'failed') {
            this.output.appendLine(`Remote traceback:\n${traceback.trimEnd()}`);
            this.exceptions.set(run, traceback, projectDir, `${outcome.error.type}: ${outcome.error.message}`);
          } else if (outcome.status === 'exited' && outcome.exitCode !== 0) {
            this.exceptions.set(run, localize(stderrTail), projectDir);
          } else if (outcome.status === 'succeeded' || outcome.status === 'exited') {
            this.exceptions.clear(run);
          }
          this.logs.end(result.jobId, traceback ?? (outcome.status === 'crashed' ? `\n[meadowrun] crashed: ${outcome.message}\n` : ''));
          this.reportOutcome(request.label, outcome, context, traceback);
          return { outcome, result };
        } catch (e) {
          clearTimeout(partial);
          show(rewriter.flush());
          const cancelled = controller.signal.aborted;
          const terminated = !cancelled && e instanceof MeadowrunError && e.code === 'instance-terminated';
          if (job.id) this.logs.end(job.id, terminated ? `\n[meadowrun] ${describeError(e)}\n` : '');
          if (terminated) {
            // Someone terminated the instance under it: the job was stopped, nothing failed.
            this.model.finishJob(job, 'cancelled', 'instance terminated');
            const instanceId = (e as MeadowrunError).instanceId;
            this.output.appendLine(`■ ${request.label}: stopped because its instance ${instanceId} was terminated`);
            this.services.log.warn(`${request.label}: ${describeError(e)}`);
            void vscode.window
              .showWarningMessage(`Meadowrun: ${request.label} was stopped because its instance ${instanceId} was terminated.`, 'Show Log')
              .then((a) => void (a && context.showJobLog()));
            return undefined;
          }
          this.model.finishJob(job, cancelled ? 'cancelled' : 'error', cancelled ? undefined : describeError(e));
          this.output.appendLine(`■ ${request.label}: ${cancelled ? 'cancelled' : describeError(e)}`);
          if (cancelled) this.services.log.info(`${request.label}: cancelled`);
          else this.failures.report(e, context);
          return undefined;
        }
      },
    );
  }

  /** A job that ran and failed; a script's non-zero exit is its caller's to report. */
  private reportOutcome(label: string, outcome: JobOutcome, context: FailureContext & { showJobLog(): unknown }, traceback?: string): void {
    switch (outcome.status) {
      case 'failed':
        this.services.log.error(`${label} raised ${outcome.error.type}: ${outcome.error.message}\n${traceback?.trimEnd()}`);
        void vscode.window
          .showErrorMessage(`Meadowrun: ${label} raised ${outcome.error.type}: ${outcome.error.message}`, 'Show Traceback', 'Show Log')
          .then((a) => (a === 'Show Traceback' ? this.output.show() : a && context.showJobLog()));
        return;
      case 'rejected':
        return this.failures.reportRejected(outcome.message, outcome.code, context);
      case 'crashed':
        this.services.log.error(`${label} crashed: ${outcome.message}`);
        void vscode.window.showErrorMessage(`Meadowrun: ${label} crashed: ${outcome.message}`, 'Show Log').then((a) => a && context.showJobLog());
        return;
      case 'unserializable':
        this.services.log.error(`${label} returned, but its result could not be serialised: ${outcome.message}\n${outcome.error.traceback.trimEnd()}`);
        this.output.appendLine(`Remote traceback:\n${outcome.error.traceback}`);
        void vscode.window
          .showErrorMessage(`Meadowrun: ${label} returned, but its result could not be serialised: ${outcome.message}`, 'Show Traceback')
          .then((a) => a && this.output.show());
        return;
      default:
        return;
    }
  }

  private onEvent(job: JobView, e: JobEvent, progress: vscode.Progress<{ message?: string }>): void {
    switch (e.kind) {
      case 'launching': {
        const what = `a ${e.typeName} instance (${e.spot ? 'spot' : 'on-demand'}, ${price(e.price)})`;
        this.services.log.info(`${job.label}: launching ${what}`);
        progress.report({ message: `launching ${what}…` });
        this.output.appendLine(`  launching ${what}`);
        this.model.updateJob(job, { status: 'launching', detail: `${e.typeName} ${price(e.price)}` });
        return;
      }
      case 'launched':
        this.services.log.info(`${job.label}: launched ${e.instanceId} in ${e.seconds.toFixed(1)} s`);
        this.output.appendLine(`  launched ${e.instanceId} in ${e.seconds.toFixed(1)} s`);
        void this.services.launchNotice.launched(e.instanceId);
        void this.model.refresh();
        return;
      // The cloud's capacity, as it is tried: "No capacity for m5.large (spot) in us-east-1a …, trying us-east-1b".
      case 'attempt':
        this.services.log.info(`${job.label}: ${e.message}`);
        progress.report({ message: `${e.message}…` });
        this.output.appendLine(`  ${e.message}`);
        return;
      case 'no-capacity':
        this.services.log.info(`${job.label}: ${e.reason}; trying the next cheapest type`);
        progress.report({ message: `no capacity for ${e.typeName}; trying the next cheapest type…` });
        this.output.appendLine(`  ${e.reason}; trying the next cheapest type`);
        return;
      case 'joining':
        progress.report({ message: `waiting for ${e.instanceId} (${e.typeName}), which another client is launching…` });
        this.model.updateJob(job, { status: 'launching', detail: `${e.typeName} (joining)` });
        return;
      case 'retrying':
        progress.report({ message: `${e.instanceId} is unreachable; retrying on another instance…` });
        this.output.appendLine(`  ${e.instanceId} is unreachable (${e.reason}); it takes no more jobs, retrying on another instance`);
        void this.model.refresh();
        return;
      case 'allocated':
        this.services.log.info(`${job.label}: job ${e.jobId} allocated on ${e.instanceId} (${e.typeName}${e.reused ? ', warm' : ''})`);
        progress.report({ message: `syncing code to ${e.instanceId}${e.reused ? ' (warm)' : ''}…` });
        this.model.updateJob(job, { id: e.jobId, instanceId: e.instanceId, detail: undefined });
        this.logs.begin(e.jobId);
        void this.model.refresh();
        return;
      case 'synced':
        if (e.skipped.length > 0) this.output.appendLine(`  warning: not synced, symlinks pointing outside the project: ${e.skipped.join(', ')}`);
        this.services.log.info(`${job.label}: synced ${e.sent} of ${e.files} files (${bytes(e.bytes)}) to ${job.instanceId}`);
        if (e.sent) this.output.appendLine(`  synced ${e.sent} of ${e.files} files (${bytes(e.bytes)})`);
        progress.report({ message: `running on ${job.instanceId}…` });
        return;
      case 'environment':
        // The installer's output goes to the job's log on the instance (Show Log); here, the steps.
        if (e.event.kind === 'building') {
          const what = `building environment ${e.event.hash.slice(0, 4)}… from ${e.event.source} (first time on this instance)`;
          progress.report({ message: `${what}…` });
          this.output.appendLine(`  ${what}`);
        } else if (e.event.kind === 'built') this.output.appendLine(`  environment ${e.event.hash.slice(0, 4)}… built in ${e.event.seconds.toFixed(1)} s`);
        else if (e.event.kind === 'pulling') {
          progress.report({ message: `pulling image ${e.event.image} (first time on this instance)…` });
          this.output.appendLine(`  pulling image ${e.event.image} (first time on this instance)`);
        } else if (e.event.kind === 'pulled') this.output.appendLine(`  image ${e.event.image} pulled in ${e.event.seconds.toFixed(1)} s`);
        else if (e.event.kind === 'installing-docker') {
          progress.report({ message: 'installing Docker on this instance (first time)…' });
          this.output.appendLine('  installing Docker on this instance (first time)');
        } else if (e.event.kind === 'docker-installed') this.output.appendLine(`  Docker installed in ${e.event.seconds.toFixed(1)} s`);
        else if (e.event.kind === 'log') this.services.log.debug(`${job.label}: ${e.event.line}`);
        return;
      case 'started':
        this.services.log.info(`${job.label}: started on ${job.instanceId} (pid ${e.pid}, log ${e.logPath})`);
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
