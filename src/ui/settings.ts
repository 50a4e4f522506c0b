import * as vscode from 'vscode';
import type { InstanceType } from '../core/instanceTypes';
import type { Threshold } from '../core/management';
import type { Resources } from '../core/resources';

/** The extension's settings, read fresh each time (they can change while VS Code runs). */
export function settings() {
  const c = vscode.workspace.getConfiguration('meadowrun');
  return {
    cloud: c.get<string>('cloud', 'local'),
    resources: {
      cpu: c.get<number>('resources.cpu', 1),
      memoryGb: c.get<number>('resources.memoryGb', 2),
      gpus: c.get<number>('resources.gpus', 0),
      maxEvictionRatePct: c.get<number>('resources.maxEvictionRatePct', 0),
    } as Resources,
    idleTimeoutMinutes: c.get<number>('idleTimeoutMinutes', 5),
    localStateDirectory: c.get<string>('local.stateDirectory', '') || undefined,
    localInstanceTypes: c.get<InstanceType[]>('local.instanceTypes', []),
    thresholds: c.get<Threshold[]>('management.thresholds', []),
    managementIntervalS: c.get<number>('management.intervalSeconds', 60),
    codeLensEnabled: c.get<boolean>('codeLens.enabled', true),
    mapWorkers: c.get<number>('map.workers', 4),
    logCapMb: c.get<number>('jobs.logCapMb', 100),
    remoteInterpreter: c.get<string>('remoteInterpreter', 'python3'),
  };
}

export async function updateSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration('meadowrun').update(key, value, vscode.ConfigurationTarget.Global);
}
