import * as vscode from 'vscode';
import { findTopLevelFunctions, TopLevelFunction } from '../core/pythonFunctions';
import { settings } from './settings';

/** `▶ Run remotely` above every top-level def of a Python file. */
export class RunRemotelyCodeLensProvider implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly subscription = vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('meadowrun.codeLens')) this.changed.fire();
  });

  async provideCodeLenses(document: vscode.TextDocument): Promise<vscode.CodeLens[]> {
    if (!settings().codeLensEnabled) return [];
    const functions = await topLevelFunctions(document);
    return functions.flatMap((f) => {
      const range = new vscode.Range(f.line, 0, f.line, 0);
      return [
        new vscode.CodeLens(range, {
          title: '▶ Run remotely',
          tooltip: `Run ${f.name} on a Meadowrun instance`,
          command: 'meadowrun.runFunction',
          arguments: [document.uri, f.name],
        }),
        new vscode.CodeLens(range, {
          title: '▶ Run map',
          tooltip: `Run ${f.name} over many arguments on several workers`,
          command: 'meadowrun.runMap',
          arguments: [document.uri, f.name],
        }),
      ];
    });
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

/** From the Python language server's symbols when one is installed; else our own scan. */
export async function topLevelFunctions(document: vscode.TextDocument): Promise<TopLevelFunction[]> {
  try {
    const symbols = await vscode.commands.executeCommand<vscode.DocumentSymbol[] | undefined>('vscode.executeDocumentSymbolProvider', document.uri);
    const functions = (symbols ?? []).filter((s) => 'children' in s && s.kind === vscode.SymbolKind.Function);
    if (functions.length) return functions.map((s) => ({ name: s.name, line: s.selectionRange.start.line }));
  } catch {
    // No symbol provider: fall through to the scan.
  }
  return findTopLevelFunctions(document.getText());
}
