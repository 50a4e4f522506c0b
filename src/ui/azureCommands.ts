// Select Cloud → Azure (subscription, resource group and location pickers, then a sign-in check)
// and managing what Meadowrun keeps in an Azure resource group from the editor (Prepare Azure
// Resources, Uninstall Azure Resources): the same calls as `meadowrun azure prepare|uninstall`,
// with a modal confirmation and progress.
import * as vscode from 'vscode';
import { checkSignIn, prepareAccount, uninstallAccount } from './accountCommands';
import { AzureSubscription, azureLocationChoices, BUNDLED_AZURE_LOCATIONS, DEFAULT_AZURE_RESOURCE_GROUP, resourceGroupProblem } from '../core/azureChoices';
import { describeError } from '../core/errors';
import { command, Failures } from './failures';
import { MeadowrunModel } from './model';
import { Services } from './services';
import { azureSettings, settings, updateSetting } from './settings';

/** What Select Cloud → Azure chose (returned for tests and other extensions). */
export interface AzureChoice {
  cloud: 'azure';
  /** As saved: '' follows the Azure CLI's default subscription. */
  subscription: string;
  resourceGroup: string;
  location: string;
  /** The subscription jobs run in, when the login works. */
  subscriptionId?: string;
  /** Why the login does not work (with the fix). */
  problem?: string;
}

/** Choices a caller may pass instead of picking (tests, other extensions): `{ subscription: '' }` means the Azure CLI's default. */
export interface AzureGiven {
  subscription?: string;
  resourceGroup?: string;
  location?: string;
}

export function registerAzureCommands(services: Services, model: MeadowrunModel, failures: Failures): vscode.Disposable[] {
  const register = (id: string, f: (...args: never[]) => unknown) => command(failures, id, f);
  return [
    register('meadowrun.prepareAzure', async () => prepareAccount(services, model, await azureCloudFromSettings(), 'Prepare Azure Resources')),
    register('meadowrun.uninstallAzure', async (o?: { confirmed?: boolean }) =>
      uninstallAccount(services, model, await azureCloudFromSettings(), { command: 'Uninstall Azure Resources', machines: 'VMs', ...o }),
    ),
  ];
}

/** Select Cloud's Azure part: pick (or take) subscription, resource group and location, save them, then check the login. */
export async function selectAzure(services: Services, given: AzureGiven = {}): Promise<AzureChoice | undefined> {
  const subscription = given.subscription ?? (await pickSubscription(services));
  if (subscription === undefined) return undefined;
  const resourceGroup = given.resourceGroup ?? (await pickResourceGroup());
  if (resourceGroup === undefined) return undefined;
  const location = given.location ?? (await pickLocation());
  if (location === undefined) return undefined;
  await updateSetting('azure.subscription', subscription);
  await updateSetting('azure.resourceGroup', resourceGroup);
  await updateSetting('azure.location', location);
  await updateSetting('cloud', 'azure');
  return checkAzure(services, { cloud: 'azure', subscription, resourceGroup, location });
}

/** A subscription id, or '' for the Azure CLI's default; undefined when the user backs out. Without a login it says how to get one (and can still be chosen). */
async function pickSubscription(services: Services): Promise<string | undefined> {
  const current = settings().azureSubscription ?? '';
  const { azureSubscriptions } = await import('../cloud/registry');
  let subscriptions: AzureSubscription[] = [];
  let problem: string | undefined;
  try {
    subscriptions = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'Meadowrun: listing Azure subscriptions (az account list)…' },
      () => azureSubscriptions(),
    );
  } catch (e) {
    problem = describeError(e);
    services.log.warn(`Select Cloud: could not list Azure subscriptions: ${problem}`);
  }
  const items = [
    ...subscriptions.map((s) => ({
      label: s.name,
      description: [s.id, s.isDefault ? 'az default' : undefined, s.state && s.state !== 'Enabled' ? s.state : undefined, s.id === current ? 'current' : undefined]
        .filter(Boolean)
        .join(' · '),
      subscription: s.id,
    })),
    // A subscription set before that the login does not list (or no login): kept selectable.
    ...(current && !subscriptions.some((s) => s.id === current) ? [{ label: current, description: 'current (meadowrun.azure.subscription)', subscription: current }] : []),
    {
      label: "$(key) The Azure CLI's default subscription",
      description: process.env.AZURE_SUBSCRIPTION_ID ? `AZURE_SUBSCRIPTION_ID (${process.env.AZURE_SUBSCRIPTION_ID})` : 'as `az account set` chose',
      detail: problem,
      subscription: '',
    },
  ];
  if (current) items.sort((a, b) => Number(b.subscription === current) - Number(a.subscription === current));
  const picked = await vscode.window.showQuickPick(items, { title: 'Which Azure subscription? (from `az login`)', matchOnDescription: true });
  return picked?.subscription;
}

async function pickResourceGroup(): Promise<string | undefined> {
  const value = settings().azureResourceGroup ?? DEFAULT_AZURE_RESOURCE_GROUP;
  return vscode.window.showInputBox({
    title: 'Which resource group should Meadowrun keep its VMs and resources in? (created when missing)',
    value,
    validateInput: resourceGroupProblem,
  });
}

/** The location, the current one and the bundled catalog's first; undefined when the user backs out. */
async function pickLocation(): Promise<string | undefined> {
  const current = settings().azureLocation;
  const fromEnv = process.env.AZURE_LOCATION || undefined;
  const items = azureLocationChoices([current, fromEnv]).map((l) => ({
    label: l,
    description: [l === current ? 'current' : undefined, l === fromEnv ? 'AZURE_LOCATION' : undefined, BUNDLED_AZURE_LOCATIONS.includes(l) ? 'prices bundled' : undefined]
      .filter(Boolean)
      .join(' · '),
  }));
  return (await vscode.window.showQuickPick(items, { title: 'Which Azure location should jobs run in?' }))?.label;
}

/** Gets a Resource Manager token as the cloud will: says which subscription jobs run in, or why they cannot, with the fix. */
async function checkAzure(services: Services, choice: AzureChoice): Promise<AzureChoice> {
  const r = await checkSignIn(services, {
    where: `Azure ${choice.location}, resource group ${choice.resourceGroup}`,
    checking: 'the Azure login',
    failing: 'the login does not work',
    identity: 'subscription',
    signIn: async () => {
      const { checkAzureLogin } = await import('../cloud/registry');
      return (await checkAzureLogin({ subscription: choice.subscription || undefined, resourceGroup: choice.resourceGroup, location: choice.location })).subscription;
    },
    prepare: { label: 'Prepare Azure Resources', command: 'meadowrun.prepareAzure' },
  });
  return 'problem' in r ? { ...choice, problem: r.problem } : { ...choice, subscriptionId: r.signedInAs };
}

async function azureCloudFromSettings() {
  const { azureCloud } = await import('../cloud/registry');
  return azureCloud(azureSettings());
}

