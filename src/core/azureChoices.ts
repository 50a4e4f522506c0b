// What the editor's Azure pickers offer: the subscriptions of the Azure CLI's login (`az account
// list --output json`, parsed here) and the locations, those the bundled catalog snapshot has
// prices for first. Pure: the caller runs az.
import { MeadowrunError } from './errors';

export interface AzureSubscription {
  id: string;
  name: string;
  /** The Azure CLI's default (`az account set`), which Meadowrun uses when no subscription is set. */
  isDefault: boolean;
  state?: string;
}

/** `az account list --output json`: an array of { id, name, isDefault, state, … }; anything else is refused. */
export function parseAzAccountList(json: string): AzureSubscription[] {
  let rows: unknown;
  try {
    rows = JSON.parse(json);
  } catch {
    throw new MeadowrunError('Could not read the subscriptions `az account list` printed (not JSON): update the Azure CLI', 'cloud-credentials');
  }
  if (!Array.isArray(rows)) throw new MeadowrunError('Could not read the subscriptions `az account list` printed (not a list): update the Azure CLI', 'cloud-credentials');
  return rows
    .filter((r): r is Record<string, unknown> => !!r && typeof r === 'object' && typeof (r as { id?: unknown }).id === 'string')
    .map((r) => ({
      id: r.id as string,
      name: typeof r.name === 'string' ? r.name : (r.id as string),
      isDefault: r.isDefault === true,
      ...(typeof r.state === 'string' && { state: r.state }),
    }))
    .sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || a.name.localeCompare(b.name));
}

/** The locations the bundled catalog snapshot (src/cloud/azure/data/catalogSnapshot.json) has sizes and prices for; a unit test keeps them in step. */
export const BUNDLED_AZURE_LOCATIONS: readonly string[] = ['eastus', 'westeurope'];

/** Public Azure locations with VMs, for the picker (one not listed can still be typed into the setting). */
export const AZURE_LOCATIONS: readonly string[] = [
  'eastus', 'eastus2', 'centralus', 'northcentralus', 'southcentralus', 'westcentralus', 'westus', 'westus2', 'westus3',
  'canadacentral', 'canadaeast', 'brazilsouth', 'mexicocentral',
  'westeurope', 'northeurope', 'uksouth', 'ukwest', 'francecentral', 'germanywestcentral', 'swedencentral',
  'switzerlandnorth', 'norwayeast', 'polandcentral', 'italynorth', 'spaincentral',
  'eastasia', 'southeastasia', 'japaneast', 'japanwest', 'koreacentral', 'australiaeast', 'australiasoutheast',
  'centralindia', 'southindia', 'westindia', 'uaenorth', 'qatarcentral', 'israelcentral', 'southafricanorth',
];

/** The locations in picker order: the preferred ones (the current setting), then the bundled catalog's, then the rest. */
export function azureLocationChoices(preferred: (string | undefined)[]): string[] {
  const first = [...new Set([...preferred.filter((l): l is string => !!l), ...BUNDLED_AZURE_LOCATIONS])];
  return [...first, ...AZURE_LOCATIONS.filter((l) => !first.includes(l))];
}

/** The resource group Meadowrun keeps everything in unless told otherwise. */
export const DEFAULT_AZURE_RESOURCE_GROUP = 'meadowrun';

/** Azure's rule for resource group names (1 to 90 letters, digits, `-_.()`, not ending in a period); undefined when it is one. */
export function resourceGroupProblem(name: string): string | undefined {
  if (!/^[-\p{L}\p{N}_.()]{1,90}$/u.test(name)) return 'A resource group name is 1 to 90 letters, digits, and - _ . ( )';
  if (name.endsWith('.')) return 'A resource group name cannot end with a period';
  return undefined;
}
