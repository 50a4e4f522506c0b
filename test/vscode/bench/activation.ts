// Runs inside the extension host for bench/activation: times the first activation of Meadowrun,
// and of a small built-in extension as the baseline, in the same VS Code.
import * as fs from 'fs';
import * as vscode from 'vscode';

async function timeActivation(id: string): Promise<number> {
  const extension = vscode.extensions.getExtension(id);
  if (!extension) throw new Error(`${id} is not installed`);
  if (extension.isActive) throw new Error(`${id} was already active: its activation can't be timed`);
  const started = performance.now();
  await extension.activate();
  return performance.now() - started;
}

export async function run(): Promise<void> {
  const baselineMs = await timeActivation('vscode.references-view');
  const meadowrunMs = await timeActivation('meadowrun.meadowrun-vscode');
  fs.writeFileSync(process.env.MEADOWRUN_BENCH_RESULTS!, JSON.stringify({ meadowrunMs, baselineMs }));
}
