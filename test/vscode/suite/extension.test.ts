// Smoke test: the extension under development is loaded by the real extension host, activates,
// and registers every command its manifest contributes; its walkthrough points at real things.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { describe, it } from 'mocha';

const extensionId = 'meadowrun.meadowrun-vscode';

interface Manifest {
  contributes: {
    commands: { command: string }[];
    walkthroughs: { steps: { description: string; media: { markdown?: string }; completionEvents: string[] }[] }[];
    keybindings: { command: string }[];
  };
}

describe('extension', () => {
  it('is present, activates, and registers every command its manifest contributes', async () => {
    const ext = vscode.extensions.getExtension(extensionId);
    assert.ok(ext, `extension ${extensionId} is not installed`);
    await ext.activate();
    assert.ok(ext.isActive, 'extension did not activate');

    const manifest = ext.packageJSON as Manifest;
    const commands = manifest.contributes.commands.map((c) => c.command);
    assert.ok(commands.length >= 15, `the manifest lists ${commands.length} commands`);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = commands.filter((c) => !registered.has(c));
    if (missing.length) assert.fail(`commands not registered: ${missing.join(', ')}`);
  });

  it('the walkthrough and keybindings name contributed commands and packaged files', () => {
    const ext = vscode.extensions.getExtension(extensionId)!;
    const manifest = ext.packageJSON as Manifest;
    const commands = new Set(manifest.contributes.commands.map((c) => c.command));
    const steps = manifest.contributes.walkthroughs.flatMap((w) => w.steps);
    assert.strictEqual(steps.length, 5);
    for (const step of steps) {
      assert.ok(step.media.markdown && fs.existsSync(path.join(ext.extensionPath, step.media.markdown)), `missing ${step.media.markdown}`);
      const named = [...step.description.matchAll(/command:([\w.]+)/g), ...step.completionEvents.join(' ').matchAll(/onCommand:([\w.]+)/g)].map((m) => m[1]);
      assert.ok(named.length > 0);
      for (const c of named) assert.ok(commands.has(c), `the walkthrough names ${c}, which is not contributed`);
    }
    for (const k of manifest.contributes.keybindings) assert.ok(commands.has(k.command), k.command);
  });
});
