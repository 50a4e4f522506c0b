import * as vscode from 'vscode';

/**
 * The Python the user selected in the Python extension, used to check input locally before a
 * launch; undefined (meaning plain python3) when that extension is not installed.
 */
export async function localPython(resource: vscode.Uri): Promise<string | undefined> {
  if (!vscode.extensions.getExtension('ms-python.python')) return undefined;
  try {
    const { PythonExtension } = await import('@vscode/python-extension');
    const api = await PythonExtension.api();
    const environment = await api.environments.resolveEnvironment(api.environments.getActiveEnvironmentPath(resource));
    return environment?.executable.uri?.fsPath;
  } catch {
    return undefined;
  }
}
