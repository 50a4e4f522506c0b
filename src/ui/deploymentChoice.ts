// Where this workspace's jobs get their libraries, chosen in a quick pick and remembered in the
// workspace's state (not in settings: it is this project's choice, and it goes with the folder).
// Without a choice, the meadowrun.deployment.* settings decide.
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { checkImageRef } from '../core/containers';
import { DeploymentChoice, DETECTION_ORDER, parseDeploymentChoice } from '../core/deployment';
import { checkSecretName } from '../core/secrets';
import { inputProblem } from './inputProblem';

const KEY = 'meadowrun.deploymentChoice';

interface Saved {
  text: string;
  imageSecret?: string;
}

/** The workspace's remembered choice, or undefined (the settings decide). */
export function workspaceDeployment(state: vscode.Memento): DeploymentChoice | undefined {
  const saved = state.get<Saved>(KEY);
  if (!saved) return undefined;
  try {
    const choice = parseDeploymentChoice(saved.text);
    return saved.imageSecret && choice.kind === 'image' ? { ...choice, imageSecret: saved.imageSecret } : choice;
  } catch {
    return undefined; // written by another version: the settings decide
  }
}

/** In words, for the quick pick and the output: "requirements.txt", "image python:3.12 (secret reg)". */
export function describeDeployment(c: DeploymentChoice): string {
  if (c.kind === 'image') return `image ${c.image}${c.imageSecret ? ` (secret ${c.imageSecret})` : ''}`;
  return c.file ? `${c.kind} ${c.file}` : c.kind;
}

interface Item extends vscode.QuickPickItem {
  choice?: DeploymentChoice;
  image?: true;
  settings?: true;
}

/**
 * Asks where this workspace's jobs get their libraries: auto, a project file found in the folder,
 * the selected interpreter mirrored, a container image, none, or the settings. Returns the choice
 * (undefined: dismissed, or back to the settings).
 */
export async function chooseDeployment(state: vscode.Memento, projectDir: string | undefined): Promise<DeploymentChoice | undefined> {
  const current = state.get<Saved>(KEY);
  const found = projectDir ? DETECTION_ORDER.filter((d) => fs.existsSync(path.join(projectDir, d.file))) : [];
  const items: Item[] = [
    { label: 'Auto', description: found.length ? `now ${found[0].file}` : 'no project file found: the instance’s Python as it is', choice: { kind: 'auto' } },
    ...found.map((d): Item => ({ label: d.file, description: d.kind === 'conda' ? 'conda, with micromamba on the instance' : d.kind, choice: { kind: d.kind, file: d.file } })),
    { label: 'Mirror the selected interpreter', description: 'its exact installed versions', choice: { kind: 'mirror' } },
    { label: 'Container image…', description: 'run inside an image with Docker on the instance', image: true },
    { label: 'None', description: 'the instance’s Python as it is', choice: { kind: 'none' } },
    { label: 'Use the settings', description: 'meadowrun.deployment.*', settings: true },
  ];
  const now = workspaceDeployment(state);
  for (const item of items) {
    if (now && (item.image ? now.kind === 'image' : item.choice && describeDeployment(item.choice) === describeDeployment(now))) item.label = `$(check) ${item.label}`;
  }
  const picked = await vscode.window.showQuickPick(items, { title: 'Meadowrun: where jobs in this workspace get their libraries', placeHolder: current ? `now: ${current.text}` : 'now: the settings' });
  if (!picked) return undefined;
  if (picked.settings) {
    await state.update(KEY, undefined);
    return undefined;
  }
  let choice = picked.choice!;
  if (picked.image) {
    const previous = current && current.text.startsWith('image=') ? current : undefined;
    const ref = await vscode.window.showInputBox({
      title: 'Container image',
      prompt: 'The image jobs run in (it needs Python 3)',
      placeHolder: 'python:3.12-slim or registry.example.com:5000/team/app:1.2',
      value: previous?.text.slice('image='.length),
      validateInput: (v) => inputProblem(() => checkImageRef(v)),
    });
    if (ref === undefined) return undefined;
    const secret = await vscode.window.showInputBox({
      title: 'Registry credentials',
      prompt: 'The secret holding the registry’s credentials (empty: a public image)',
      value: previous?.imageSecret ?? '',
      validateInput: (v) => (v ? inputProblem(() => checkSecretName(v)) : undefined),
    });
    if (secret === undefined) return undefined;
    choice = { kind: 'image', image: checkImageRef(ref), ...(secret ? { imageSecret: secret } : {}) };
  }
  const text = choice.kind === 'image' ? `image=${choice.image}` : choice.file ? `${choice.kind}=${choice.file}` : choice.kind;
  await state.update(KEY, { text, ...(choice.imageSecret ? { imageSecret: choice.imageSecret } : {}) } satisfies Saved);
  return choice;
}
