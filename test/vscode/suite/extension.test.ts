// Smoke test: the extension under development is loaded by the real extension host, activates,
// and registers every command its manifest contributes.
import * as assert from 'assert';
import * as vscode from 'vscode';
import { describe, it } from 'mocha';

const extensionId = 'meadowrun.meadowrun-vscode';
const commands = [
  'meadowrun.runFile',
  'meadowrun.runFunction',
  'meadowrun.stopJob',
  'meadowrun.openJobLog',
  'meadowrun.terminateInstance',
  'meadowrun.refresh',
  'meadowrun.selectCloud',
  'meadowrun.setDefaultResources',
  'meadowrun.installManagement',
  'meadowrun.uninstallManagement',
  'meadowrun.editManagement',
  'meadowrun.runMap',
  'meadowrun.openMapPanel',
];

describe('extension', () => {
  it('is present, activates, and registers its commands', async () => {
    const ext = vscode.extensions.getExtension(extensionId);
    assert.ok(ext, `extension ${extensionId} is not installed`);
    await ext.activate();
    assert.ok(ext.isActive, 'extension did not activate');

    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = commands.filter((c) => !registered.has(c));
    if (missing.length) assert.fail(`commands not registered: ${missing.join(', ')}`);
  });
});
