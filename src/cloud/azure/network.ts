// What every Azure VM of Meadowrun's needs in the resource group before it launches: the resource
// group itself, a virtual network with one subnet, and a network security group whose inbound
// rules admit SSH from each client's address /32 only (one rule per address, added by allowSsh).
// All tagged meadowrun=true; creating them again changes nothing.
import type { NetworkManagementClient, SecurityRule } from '@azure/arm-network';
import type { ResourceManagementClient } from '@azure/arm-resources';

export const VNET = 'meadowrun-vnet';
export const SUBNET = 'default';
export const NSG = 'meadowrun-nsg';
export const TAGS: Record<string, string> = { meadowrun: 'true' };
/** Inbound rules of a network security group take priorities 100–4096, lower first. */
const FIRST_PRIORITY = 100;
const LAST_PRIORITY = 4096;

export interface AzureNetwork {
  subnetId: string;
  nsgId: string;
}

export async function ensureResourceGroup(resources: ResourceManagementClient, resourceGroup: string, location: string): Promise<void> {
  const existing = await resources.resourceGroups.get(resourceGroup).catch((e) => {
    if ((e as { statusCode?: number }).statusCode === 404) return undefined;
    throw e;
  });
  if (existing) return;
  await resources.resourceGroups.createOrUpdate(resourceGroup, { location, tags: TAGS });
}

/** The virtual network, its subnet and the security group (created when missing, found otherwise). */
export async function ensureNetwork(network: NetworkManagementClient, resourceGroup: string, location: string, lroIntervalMs?: number): Promise<AzureNetwork> {
  const options = lroIntervalMs !== undefined ? { updateIntervalInMs: lroIntervalMs } : {};
  const notFound = (e: unknown) => {
    if ((e as { statusCode?: number }).statusCode === 404) return undefined;
    throw e;
  };
  const [vnet, nsg] = await Promise.all([
    network.virtualNetworks.get(resourceGroup, VNET).catch(notFound).then(
      (found) =>
        found ??
        network.virtualNetworks.beginCreateOrUpdateAndWait(
          resourceGroup,
          VNET,
          { location, tags: TAGS, addressSpace: { addressPrefixes: ['10.0.0.0/16'] }, subnets: [{ name: SUBNET, addressPrefix: '10.0.0.0/24' }] },
          options,
        ),
    ),
    network.networkSecurityGroups.get(resourceGroup, NSG).catch(notFound).then(
      (found) => found ?? network.networkSecurityGroups.beginCreateOrUpdateAndWait(resourceGroup, NSG, { location, tags: TAGS, securityRules: [] }, options),
    ),
  ]);
  const subnetId = vnet.subnets?.find((s) => s.name === SUBNET)?.id;
  if (!subnetId || !nsg.id) throw new Error(`The virtual network ${VNET} has no subnet ${SUBNET}`);
  return { subnetId, nsgId: nsg.id };
}

/** The rule's name for a source: its address with dashes (rule names take letters, digits, - . _). */
export function sshRuleName(cidr: string): string {
  return `ssh-${cidr.replace(/[./]/g, '-')}`;
}

/** Lets SSH in from `cidr` (a /32 usually): a rule of its own, at the first free priority; nothing when one exists. */
export async function allowSsh(network: NetworkManagementClient, resourceGroup: string, cidr: string, lroIntervalMs?: number): Promise<void> {
  const nsg = await network.networkSecurityGroups.get(resourceGroup, NSG);
  const rules = nsg.securityRules ?? [];
  const admits = (r: SecurityRule) =>
    r.direction === 'Inbound' && r.access === 'Allow' && r.destinationPortRange === '22' && (r.sourceAddressPrefix === cidr || r.sourceAddressPrefixes?.includes(cidr));
  if (rules.some(admits)) return;
  const taken = new Set(rules.filter((r) => r.direction === 'Inbound').map((r) => r.priority));
  let priority = FIRST_PRIORITY;
  while (taken.has(priority)) priority++;
  if (priority > LAST_PRIORITY) throw new Error(`The network security group ${NSG} has no free rule priority left`);
  await network.securityRules.beginCreateOrUpdateAndWait(
    resourceGroup,
    NSG,
    sshRuleName(cidr),
    {
      priority,
      direction: 'Inbound',
      access: 'Allow',
      protocol: 'Tcp',
      sourceAddressPrefix: cidr,
      sourcePortRange: '*',
      destinationAddressPrefix: '*',
      destinationPortRange: '22',
      description: 'SSH from a Meadowrun client',
    },
    lroIntervalMs !== undefined ? { updateIntervalInMs: lroIntervalMs } : {},
  );
}
