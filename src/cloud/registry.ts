// Chooses a cloud by name. Each provider is loaded with a dynamic import() only when chosen, so
// its SDK never loads for users of another cloud (and the extension activates without any).
import type { AzureSubscription } from '../core/azureChoices';
import type { InstanceType } from '../core/instanceTypes';
import { MeadowrunError } from '../core/errors';
import type { Logger } from '../core/logger';
import type { AwsSettings } from './aws/clients';
import type { AwsCloud } from './aws';
import type { AzureCloud } from './azure';
import type { AzureSettings } from './azure/credentials';
import type { LocalCloud } from './local';
import type { Cloud } from './ports';

/** Each provider's own settings, from the editor's `meadowrun.<provider>.*` or the CLI's flags. */
export interface CloudSettings {
  local?: { stateDir?: string; instanceTypes?: InstanceType[] };
  /** Profile and region (the SDK's defaults when absent): `meadowrun.aws.*`, `--profile` / `--region`. */
  aws?: AwsSettings;
  /** Subscription, resource group and location: `meadowrun.azure.*`, `--subscription` / `--resource-group` / `--location`. */
  azure?: AzureSettings;
  /** Where the cloud says what it launched and terminated, and what failed on the way. */
  log?: Logger;
}

/**
 * The embedded cloud with its extras (sshd, state directory), for the commands that manage it
 * whatever cloud jobs run on (`meadowrun local up|down|status`). Typed, so they need no cast.
 */
export async function localCloud(settings: CloudSettings = {}): Promise<LocalCloud> {
  return (await import('./local')).createLocalCloud({ ...settings.local, log: settings.log });
}

/** The AWS cloud with its extras (region, account resources), for `meadowrun aws prepare|status|uninstall`. */
export async function awsCloud(settings: CloudSettings['aws'] = {}): Promise<AwsCloud> {
  return (await import('./aws')).createAwsCloud(settings);
}

/** The Azure cloud with its extras (subscription, resource group, what prepare made). */
export async function azureCloud(settings: CloudSettings['azure'] = {}): Promise<AzureCloud> {
  return (await import('./azure')).createAzureCloud(settings);
}

/** The subscriptions of the Azure CLI's login (`az account list`), for the editor's picker. */
export async function azureSubscriptions(): Promise<AzureSubscription[]> {
  return (await import('./azure/credentials')).listAzureSubscriptions();
}

/** Signs in to Azure as its cloud will, without loading the Resource Manager SDKs: the subscription jobs run in. */
export async function checkAzureLogin(settings: CloudSettings['azure'] = {}): Promise<{ subscription: string }> {
  return (await import('./azure/credentials')).checkAzureLogin(settings);
}

interface Provider {
  /** One line for pickers and help. */
  description: string;
  create(settings: CloudSettings): Promise<Cloud>;
}

// A Map, not an object: a name like "constructor" must be unknown, not Object.prototype's.
const providers = new Map<string, Provider>([
  ['local', { description: 'the embedded local cloud: OpenSSH servers on this machine, no account needed', create: localCloud }],
  ['aws', { description: 'EC2 instances in your AWS account, with the credentials of the AWS command line tools', create: (s) => awsCloud(s.aws) }],
  ['azure', { description: 'VMs in your Azure subscription, with the login of the Azure command line tools (az login)', create: (s) => azureCloud(s.azure) }],
]);

export const KNOWN_CLOUDS: readonly { name: string; description: string }[] = [...providers].map(([name, p]) => ({ name, description: p.description }));

/** Refuses a name no provider answers to, saying which ones exist. */
export function checkCloudName(name: string): void {
  if (!providers.has(name)) {
    throw new MeadowrunError(`Unknown cloud "${name}" (known: ${KNOWN_CLOUDS.map((c) => c.name).join(', ')})`, 'unknown-cloud');
  }
}

export async function createCloud(name: string, settings: CloudSettings = {}): Promise<Cloud> {
  checkCloudName(name);
  return providers.get(name)!.create(settings);
}
