import * as fs from 'fs';
import * as vscode from 'vscode';
import { deepestFrameUnder, parseTraceback } from '../core/tracebacks';

/**
 * The line that raised a remote exception, marked in the editor as a problem: the innermost frame
 * in the user's project. One mark per function or file run, cleared by its next successful run.
 */
export class RemoteExceptions implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('meadowrun');
  private readonly byRun = new Map<string, { uri: vscode.Uri; diagnostic: vscode.Diagnostic }>();

  /**
   * `run` failed with `traceback` (paths already local). `message` defaults to the traceback's
   * exception line. Nothing is marked when no frame is in the project.
   */
  set(run: string, traceback: string, projectDir: string, message?: string): void {
    const parsed = parseTraceback(traceback);
    const frame = parsed && deepestFrameUnder(parsed, projectDir);
    if (!frame) return this.clear(run);
    const line = frame.line - 1;
    const text = readLine(frame.file, line);
    const start = text.length - text.trimStart().length;
    const diagnostic = new vscode.Diagnostic(
      new vscode.Range(line, start, line, Math.max(start + 1, text.length)),
      message ?? parsed.exception ?? 'raised an exception',
      vscode.DiagnosticSeverity.Error,
    );
    diagnostic.source = 'Meadowrun (remote)';
    this.byRun.set(run, { uri: vscode.Uri.file(frame.file), diagnostic });
    this.update();
  }

  clear(run: string): void {
    if (this.byRun.delete(run)) this.update();
  }

  private update(): void {
    const byFile = new Map<string, { uri: vscode.Uri; diagnostics: vscode.Diagnostic[] }>();
    for (const { uri, diagnostic } of this.byRun.values()) {
      const entry = byFile.get(uri.toString()) ?? { uri, diagnostics: [] };
      entry.diagnostics.push(diagnostic);
      byFile.set(uri.toString(), entry);
    }
    this.collection.clear();
    for (const { uri, diagnostics } of byFile.values()) this.collection.set(uri, diagnostics);
  }

  dispose(): void {
    this.collection.dispose();
  }
}

function readLine(file: string, line: number): string {
  try {
    return fs.readFileSync(file, 'utf8').split(/\r?\n/)[line] ?? '';
  } catch {
    return '';
  }
}
