// What Meadowrun keeps in the user's Azure subscription, all in one resource group and tagged
// meadowrun=true: the resource group, a storage account (the allocation table, map queues and
// payloads), a Key Vault (the SSH key and user secrets, RBAC-authorized), a user-assigned managed
// identity the VMs run as, with data-plane roles on exactly those two (and the right to delete VMs
// in the group, which an idle VM does to itself), the client's own data-plane roles, and the network
// (network.ts). prepare() creates what is missing; uninstall removes it all, after listing it.
import * as crypto from 'crypto';
import type { AuthorizationManagementClient } from '@azure/arm-authorization';
import type { ManagedServiceIdentityClient } from '@azure/arm-msi';
import type { ResourceManagementClient } from '@azure/arm-resources';
import type { StorageManagementClient } from '@azure/arm-storage';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { CLIENT_STORAGE_ROLES, CLIENT_VAULT_ROLES, prepareDataPlane, VM_STORAGE_ROLES, VM_VAULT_ROLES } from './data';
import { ensureResourceGroup, TAGS } from './network';
import type { StorageAccess } from './storage';

export const VM_IDENTITY = 'meadowrun-vm';
/** Built-in "Virtual Machine Contributor": an idle VM deletes itself (instanceSide.ts). */
const VIRTUAL_MACHINE_CONTRIBUTOR = '9980e02c-c2be-4d73-94e8-173b1dc7cf3c';
export const KEY_VAULT_API = '2023-07-01';
export const ARM_SCOPE = 'https://management.azure.com/.default';

export interface AzureArmClients {
  resources: ResourceManagementClient;
  storage: StorageManagementClient;
  msi: ManagedServiceIdentityClient;
  authorization: AuthorizationManagementClient;
}

export interface PrepareOptions {
  clients: AzureArmClients;
  credential: TokenCredential;
  subscription: string;
  resourceGroup: string;
  location: string;
  storageAccount: string;
  vaultName: string;
  /** How the data-plane ports reach storage (the account, or an emulator's connection string). */
  dataPlane: StorageAccess;
  /** Progress lines. */
  say?: (line: string) => void;
}

export interface PreparedAzure {
  /** The VMs' managed identity: its resource id (given to each VM) and client id (in the agent's config). */
  identityId: string;
  identityClientId: string;
}

/** Creates whatever is missing; idempotent. */
export async function prepareAzure(o: PrepareOptions): Promise<PreparedAzure> {
  const { clients, resourceGroup: rg, location, subscription } = o;
  const say = o.say ?? (() => undefined);
  await ensureResourceGroup(clients.resources, rg, location);
  const rgScope = `/subscriptions/${subscription}/resourceGroups/${rg}`;
  const storageId = `${rgScope}/providers/Microsoft.Storage/storageAccounts/${o.storageAccount}`;
  const vaultId = `${rgScope}/providers/Microsoft.KeyVault/vaults/${o.vaultName}`;

  const identity = await clients.msi.userAssignedIdentities.createOrUpdate(rg, VM_IDENTITY, { location, tags: TAGS });
  if (!identity.id || !identity.principalId || !identity.clientId) throw new Error(`The managed identity ${VM_IDENTITY} came back without its ids`);
  const token = await o.credential.getToken(ARM_SCOPE);
  const claims = tokenClaims(token);
  const tenantId = claims.tid ?? identity.tenantId;
  if (!tenantId) throw new Error('Could not tell the Azure tenant (from the login, or the managed identity)');

  await Promise.all([
    clients.storage.storageAccounts
      .getProperties(rg, o.storageAccount)
      .catch((e) => {
        if (statusOf(e) !== 404) throw e;
        say(`creating storage account ${o.storageAccount}`);
        return clients.storage.storageAccounts.create(rg, o.storageAccount, {
          location,
          tags: TAGS,
          kind: 'StorageV2',
          sku: { name: 'Standard_LRS' },
          minimumTlsVersion: 'TLS1_2',
          allowBlobPublicAccess: false,
          // Data-plane access with Entra ID tokens only (roles below), no account keys.
          allowSharedKeyAccess: false,
        });
      }),
    clients.resources.resources.getById(byId(vaultId), KEY_VAULT_API).catch(async (e) => {
      if (statusOf(e) !== 404) throw e;
      say(`creating Key Vault ${o.vaultName}`);
      const create = (recover: boolean) =>
        clients.resources.resources.beginCreateOrUpdateByIdAndWait(byId(vaultId), KEY_VAULT_API, {
          location,
          tags: TAGS,
          properties: {
            tenantId,
            sku: { family: 'A', name: 'standard' },
            enableRbacAuthorization: true,
            enableSoftDelete: true,
            softDeleteRetentionInDays: 7,
            ...(recover && { createMode: 'recover' }),
          },
        });
      return create(false).catch((err) => {
        // Its name is held by the soft-deleted vault an uninstall could not purge (purge protection): take it back, secrets and all.
        if ((err as { code?: string }).code !== 'ConflictError' || !/soft deleted/i.test((err as Error).message)) throw err;
        say(`recovering the soft-deleted Key Vault ${o.vaultName}`);
        return create(true);
      });
    }),
  ]);

  // The VMs' identity: its data, its secrets (read), and deleting VMs of the group (itself, when idle).
  const grants: [scope: string, role: string, principal: string, type?: 'ServicePrincipal'][] = [
    ...VM_STORAGE_ROLES.map((r): [string, string, string, 'ServicePrincipal'] => [storageId, r, identity.principalId!, 'ServicePrincipal']),
    ...VM_VAULT_ROLES.map((r): [string, string, string, 'ServicePrincipal'] => [vaultId, r, identity.principalId!, 'ServicePrincipal']),
    [rgScope, VIRTUAL_MACHINE_CONTRIBUTOR, identity.principalId!, 'ServicePrincipal'],
  ];
  // The client (whoever runs prepare): the same data, and secrets to set. Its object id comes from its token.
  if (claims.oid) {
    grants.push(...CLIENT_STORAGE_ROLES.map((r): [string, string, string] => [storageId, r, claims.oid!]));
    grants.push(...CLIENT_VAULT_ROLES.map((r): [string, string, string] => [vaultId, r, claims.oid!]));
  } else {
    say('the login does not say who it is (no object id in its token): give yourself the storage and Key Vault data roles by hand');
  }
  for (const [scope, role, principal, type] of grants) {
    await assignRole(clients.authorization, subscription, scope, role, principal, type);
  }
  await withRoleRetry(() => prepareDataPlane(o.dataPlane));
  return { identityId: identity.id, identityClientId: identity.clientId };
}

/** A role assignment's name: derived from what it grants, so assigning again is a no-op. */
export function roleAssignmentName(scope: string, role: string, principalId: string): string {
  return guidOf(`${scope.toLowerCase()}|${role}|${principalId}`);
}

/** A role assignment named after what it grants, so assigning again is a no-op. */
export async function assignRole(authorization: AuthorizationManagementClient, subscription: string, scope: string, role: string, principalId: string, principalType?: 'ServicePrincipal'): Promise<void> {
  const name = roleAssignmentName(scope, role, principalId);
  await authorization.roleAssignments
    .create(byId(scope), name, {
      roleDefinitionId: `/subscriptions/${subscription}/providers/Microsoft.Authorization/roleDefinitions/${role}`,
      principalId,
      ...(principalType && { principalType }),
      description: 'Meadowrun',
    })
    .catch((e) => {
      // The same grant under another name (made by hand, or by another tool).
      if ((e as { code?: string }).code !== 'RoleAssignmentExists') throw e;
    });
}

/** Role assignments take a few minutes to reach the data plane: a refusal then is waited out. */
async function withRoleRetry<T>(f: () => Promise<T>, deadlineMs = 5 * 60_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (statusOf(e) !== 403 || Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 10_000));
    }
  }
}

/** The claims of a JWT access token ({} for a token that is not one). */
export function tokenClaims(token: AccessToken | null): { tid?: string; oid?: string } {
  const payload = token?.token.split('.')[1];
  if (!payload) return {};
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return {};
  }
}

/** A GUID (version 4 layout) derived from `text`. */
export function guidOf(text: string): string {
  const h = crypto.createHash('sha256').update(text).digest();
  h[6] = (h[6] & 0x0f) | 0x40;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/**
 * A resource id as the *ById calls take it: without its leading slash (their path is "/{resourceId}",
 * and "//subscriptions/…" would be read as a host name).
 */
export function byId(id: string): string {
  return id.replace(/^\/+/, '');
}

export function statusOf(e: unknown): number | undefined {
  return (e as { statusCode?: number })?.statusCode;
}

/** Meadowrun's resources in the group, for status and uninstall. */
export async function describeAzure(resources: ResourceManagementClient, resourceGroup: string): Promise<{ kind: string; name: string; id: string }[]> {
  const found: { kind: string; name: string; id: string }[] = [];
  try {
    for await (const r of resources.resources.listByResourceGroup(resourceGroup)) {
      if (r.tags?.meadowrun === 'true' && r.id && r.type && r.name) found.push({ kind: r.type, name: r.name, id: r.id });
    }
  } catch (e) {
    if (statusOf(e) === 404) return [];
    throw e;
  }
  return found;
}

/**
 * Removes everything prepare created: the whole resource group when Meadowrun made it (tagged), else
 * its tagged resources, VMs first (their NICs and addresses go with them). The Key Vault is then
 * soft-deleted: the cloud purges it next (deletedVault.ts).
 */
export async function uninstallAzure(o: { resources: ResourceManagementClient; resourceGroup: string; say?: (line: string) => void }): Promise<void> {
  const say = o.say ?? (() => undefined);
  const group = await o.resources.resourceGroups.get(o.resourceGroup).catch((e) => {
    if (statusOf(e) === 404) return undefined;
    throw e;
  });
  if (!group) return;
  if (group.tags?.meadowrun === 'true') {
    say(`deleting resource group ${o.resourceGroup} and everything in it`);
    await o.resources.resourceGroups.beginDeleteAndWait(o.resourceGroup);
    return;
  }
  const found = await describeAzure(o.resources, o.resourceGroup);
  const order = (type: string) => (/virtualMachines$/i.test(type) ? 0 : /networkInterfaces|publicIPAddresses/i.test(type) ? 1 : 2);
  for (const r of [...found].sort((a, b) => order(a.kind) - order(b.kind))) {
    say(`deleting ${r.kind} ${r.name}`);
    const version = API_VERSIONS[r.kind.toLowerCase()] ?? '2023-07-01';
    await o.resources.resources.beginDeleteByIdAndWait(byId(r.id), version).catch((e) => {
      if (statusOf(e) !== 404) throw e;
    });
  }
}

const API_VERSIONS: Record<string, string> = {
  'microsoft.compute/virtualmachines': '2024-07-01',
  'microsoft.network/networkinterfaces': '2024-05-01',
  'microsoft.network/publicipaddresses': '2024-05-01',
  'microsoft.network/virtualnetworks': '2024-05-01',
  'microsoft.network/networksecuritygroups': '2024-05-01',
  'microsoft.storage/storageaccounts': '2023-05-01',
  'microsoft.keyvault/vaults': KEY_VAULT_API,
  'microsoft.managedidentity/userassignedidentities': '2023-01-31',
};
