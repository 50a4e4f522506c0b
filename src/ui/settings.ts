import * as vscode from 'vscode';
import type { InstanceType } from '../core/instanceTypes';
import type { Threshold } from '../core/management';
import type { CpuFeature, Resources } from '../core/resources';
import { DeploymentChoice, parseDeploymentChoice } from '../core/deployment';
import type { IndexSettings } from '../jobs/deployment';
import { GitSource, parseGitSource } from '../core/git';
import type { CloudSettings } from '../cloud/registry';

/**
 * CPU features as written in settings: a list (or, hand-edited, a comma-separated string), any case.
 * Unknown names pass through: a job or install rejects them with the list of known ones.
 */
function cpuFeatures(value: unknown): CpuFeature[] {
  const list: unknown[] = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : [];
  return list.map((f) => String(f).trim().toLowerCase()).filter(Boolean) as CpuFeature[];
}

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
      gpuMemoryGb: c.get<number>('resources.gpuMemoryGb', 0),
      cpuFeatures: cpuFeatures(c.get('resources.cpuFeatures', [])),
    } as Resources,
    idleTimeoutMinutes: c.get<number>('idleTimeoutMinutes', 5),
    localStateDirectory: c.get<string>('local.stateDirectory', '') || undefined,
    localInstanceTypes: c.get<InstanceType[]>('local.instanceTypes', []),
    awsProfile: c.get<string>('aws.profile', '') || undefined,
    awsRegion: c.get<string>('aws.region', '') || undefined,
    awsAmi: c.get<string>('aws.ami', '') || undefined,
    awsSshFrom: c.get<string>('aws.sshFrom', '') || undefined,
    azureSubscription: c.get<string>('azure.subscription', '') || undefined,
    azureResourceGroup: c.get<string>('azure.resourceGroup', '') || undefined,
    azureLocation: c.get<string>('azure.location', '') || undefined,
    azureSshFrom: c.get<string>('azure.sshFrom', '') || undefined,
    thresholds: c.get<Threshold[]>('management.thresholds', []),
    managementIntervalS: c.get<number>('management.intervalSeconds', 60),
    environmentMaxAgeDays: c.get<number>('management.environmentMaxAgeDays', 7),
    codeLensEnabled: c.get<boolean>('codeLens.enabled', true),
    mapWorkers: c.get<number>('map.workers', 4),
    logCapMb: c.get<number>('jobs.logCapMb', 100),
    remoteInterpreter: c.get<string>('remoteInterpreter', 'python3'),
  };
}

/** The AWS provider's settings (meadowrun.aws.*), as the cloud takes them. */
export function awsSettings(s: Settings = settings()): NonNullable<CloudSettings['aws']> {
  return { profile: s.awsProfile, region: s.awsRegion, ami: s.awsAmi, sshFrom: s.awsSshFrom };
}

/** The Azure provider's settings (meadowrun.azure.*), as the cloud takes them. */
export function azureSettings(s: Settings = settings()): NonNullable<CloudSettings['azure']> {
  return { subscription: s.azureSubscription, resourceGroup: s.azureResourceGroup, location: s.azureLocation, sshFrom: s.azureSshFrom };
}

type Settings = ReturnType<typeof settings>;

/** Where jobs' libraries come from (meadowrun.deployment.*), as the engine takes it; a bad kind throws the engine's message. */
export function deploymentSettings(): { deployment: DeploymentChoice; index: IndexSettings; git?: GitSource } {
  const c = vscode.workspace.getConfiguration('meadowrun.deployment');
  const kind = c.get<string>('kind', 'auto');
  const file = c.get<string>('file', '');
  const image = c.get<string>('image', '');
  const imageSecret = c.get<string>('imageSecret', '');
  const deployment = parseDeploymentChoice(kind === 'image' ? `image=${image}` : file ? `${kind}=${file}` : kind);
  if (deployment.kind === 'image' && imageSecret) deployment.imageSecret = imageSecret;
  const git = c.get<string>('git', '');
  const gitSecret = c.get<string>('gitSecret', '');
  return {
    deployment,
    ...(git && { git: parseGitSource(git, gitSecret || undefined) }),
    index: {
      indexUrl: c.get<string>('indexUrl', '') || undefined,
      extraIndexUrls: c.get<string[]>('extraIndexUrls', []),
      indexSecret: c.get<string>('indexSecret', '') || undefined,
    },
  };
}

export async function updateSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration('meadowrun').update(key, value, vscode.ConfigurationTarget.Global);
}
