// The VS Code entry point: builds the UI (src/ui/, the only code that imports 'vscode') over the
// plain-Node engine, which is loaded on first use.
import * as vscode from 'vscode';
import { activateUi, MeadowrunApi } from './ui/activate';

export function activate(context: vscode.ExtensionContext): MeadowrunApi {
  return activateUi(context);
}
