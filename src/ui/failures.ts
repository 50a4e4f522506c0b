import * as path from 'path';
import * as vscode from 'vscode';
import { describeError, ERROR_ACTION_LABELS, ErrorAction, errorActions, ErrorCode, MeadowrunError, SourceLocation, stackOf } from '../core/errors';
import { syntaxErrorLocation } from '../core/tracebacks';

/** What a failure can be retried or inspected with, beyond the log channel. */
export interface FailureContext {
  /** What failed, e.g. "add(2, 3)"; the message names it. */
  label?: string;
  /** The project the job ran from: a syntax error's relative path is resolved against it. */
  projectDir?: string;
  /** Runs the command again, asking for its arguments. */
  editArguments?: () => unknown;
  /** Opens the failed job's own log; without one, "Show Log" shows the Meadowrun channel. */
  showJobLog?: () => unknown;
}

/**
 * The one error policy of the extension: every failure is logged (with its stack) on the
 * "Meadowrun" channel and shown as one line saying what failed, at which stage and where, with
 * the actions that help for its kind (see errorActions).
 */
export class Failures {
  constructor(private readonly log: vscode.LogOutputChannel) {}

  /** A job or command that threw. Cancellation is not a failure: it is logged, not shown. */
  report(error: unknown, c: FailureContext = {}): void {
    const e = error instanceof MeadowrunError ? error : undefined;
    const line = `${c.label ? `${c.label}: ` : ''}${describeError(error)}`;
    if (e?.code === 'cancelled') return this.log.info(line);
    this.log.error(`${line}\n${stackOf(error)}`);
    void this.show(`Meadowrun: ${line}`, e?.code ?? 'internal', e?.location, c);
  }

  /** A job that ran but failed: the user's input was wrong on the instance, or it crashed. */
  reportRejected(message: string, code: ErrorCode, c: FailureContext): void {
    this.log.error(`${c.label ? `${c.label}: ` : ''}${message}`);
    const relative = code === 'syntax-error' ? syntaxErrorLocation(message) : undefined;
    const location = relative && c.projectDir ? { file: path.resolve(c.projectDir, relative.file), line: relative.line } : undefined;
    void this.show(`Meadowrun: ${message}`, code, location, c);
  }

  private async show(message: string, code: ErrorCode, location: SourceLocation | undefined, c: FailureContext): Promise<void> {
    const actions = errorActions(code, location).filter((a) => a !== 'edit-arguments' || c.editArguments);
    const picked = await vscode.window.showErrorMessage(message, ...actions.map((a) => ERROR_ACTION_LABELS[a]));
    const action = actions.find((a) => ERROR_ACTION_LABELS[a] === picked);
    if (action) await this.act(action, location, c);
  }

  private async act(action: ErrorAction, location: SourceLocation | undefined, c: FailureContext): Promise<void> {
    switch (action) {
      case 'set-resources':
        return void (await vscode.commands.executeCommand('meadowrun.setDefaultResources'));
      case 'go-to-line': {
        const line = Math.max(0, location!.line - 1);
        await vscode.window.showTextDocument(vscode.Uri.file(location!.file), { selection: new vscode.Range(line, 0, line, 0) });
        return;
      }
      case 'edit-arguments':
        return void (await c.editArguments?.());
      case 'show-log':
        return c.showJobLog ? void (await c.showJobLog()) : this.log.show();
    }
  }
}

/**
 * Registers a command whose failures go through the error policy: like VS Code's git extension,
 * one wrapper rather than a try/catch in every command.
 */
export function command(failures: Failures, id: string, f: (...args: never[]) => unknown): vscode.Disposable {
  return vscode.commands.registerCommand(id, async (...args: never[]) => {
    try {
      return await f(...args);
    } catch (e) {
      failures.report(e);
      return undefined;
    }
  });
}
