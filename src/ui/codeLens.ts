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
      // Above the decorators, not between them and their def.
      const range = new vscode.Range(f.firstLine, 0, f.firstLine, 0);
      const lenses = [
        new vscode.CodeLens(range, {
          title: '▶ Run remotely',
          tooltip: `Run ${f.name}(${f.parameters}) on a Meadowrun instance`,
          command: 'meadowrun.runFunction',
          arguments: [document.uri, f.name],
        }),
      ];
      // A map calls the function with one argument per task: pointless for one that takes none.
      if (f.takesPositional) {
        lenses.push(
          new vscode.CodeLens(range, {
            title: '▶ Run map',
            tooltip: `Run ${f.name} over many arguments on several workers`,
            command: 'meadowrun.runMap',
            arguments: [document.uri, f.name],
          }),
        );
      }
      return lenses;
    });
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

/**
 * The file's top-level functions. Our own scan gives signatures and decorators; when a Python
 * language server is installed its symbols say which functions exist (it knows the grammar
 * whole), and the scan fills in the details for those it also found.
 */
export async function topLevelFunctions(document: vscode.TextDocument): Promise<TopLevelFunction[]> {
  const scanned = findTopLevelFunctions(document.getText());
  let symbols: vscode.DocumentSymbol[] | undefined;
  try {
    symbols = await vscode.commands.executeCommand<vscode.DocumentSymbol[] | undefined>('vscode.executeDocumentSymbolProvider', document.uri);
  } catch {
    // No symbol provider: the scan alone.
  }
  const functions = (symbols ?? []).filter((s) => 'children' in s && s.kind === vscode.SymbolKind.Function);
  if (!functions.length) return scanned;
  return functions.map((s) => {
    const line = s.selectionRange.start.line;
    return (
      scanned.find((f) => f.name === s.name && f.line === line) ?? {
        name: s.name,
        line,
        firstLine: s.range.start.line,
        async: false,
        parameters: '…',
        takesPositional: true,
      }
    );
  });
}
