// Azure's data plane, as the cloud (index.ts) and prepare() use it: the names of the storage
// account and Key Vault (global names, so derived from the subscription and resource group), the
// four ports opened on them with the client's credential (or on emulators), what prepare creates
// inside them, the roles the client and the VMs need on them, and the part of a VM's AgentConfig
// that says where they are.
import * as crypto from 'crypto';
import type { TokenCredential } from '@azure/identity';
import { PayloadStore, SecretStore, TaskQueues } from '../ports';
import { AzureAgentConfig } from './agentConfig';
import { BlobPayloadStore, ensurePayloadContainer, PAYLOAD_CONTAINER } from './blobPayloadStore';
import { AzureEndpoints } from './credentials';
import { KeyVaultSecretStore } from './keyVaultSecretStore';
import { QUEUE_PREFIX, QueueTaskQueues } from './queueTaskQueues';
import hostKeyPublisher from './publishHostKey.py';
import { StorageAccess, storageAccess, type StorageEndpoints } from './storage';
import { ALLOCATION_TABLE, createAllocationTable, TableAllocationTable } from './tableAllocationTable';

/** A short digest of where Meadowrun lives, for names that must be unique across Azure. */
function digest(subscription: string, resourceGroup: string, length: number): string {
  return crypto.createHash('sha256').update(`${subscription.toLowerCase()}/${resourceGroup.toLowerCase()}`).digest('hex').slice(0, length);
}

/** Storage account names: 3-24 lower-case letters and digits, unique in Azure. */
export function storageAccountName(subscription: string, resourceGroup: string): string {
  return `meadowrun${digest(subscription, resourceGroup, 15)}`;
}

/**
 * Key Vault names: 3-24 letters, digits and dashes, unique in Azure. A deleted vault keeps its
 * name while soft-deleted (prepare recovers it, uninstall purges it).
 */
export function keyVaultName(subscription: string, resourceGroup: string): string {
  return `meadowrun-${digest(subscription, resourceGroup, 14)}`;
}

/** The management Function app's name: its host names (<name>.azurewebsites.net) are unique in Azure. */
export function functionAppName(subscription: string, resourceGroup: string): string {
  return `meadowrun-adjuster-${digest(subscription, resourceGroup, 12)}`;
}

export function keyVaultUrl(name: string): string {
  return `https://${name}.vault.azure.net`;
}

export interface AzureDataPorts {
  table: TableAllocationTable;
  queues: TaskQueues;
  payloads: PayloadStore;
  secrets: SecretStore;
  /** How the ports reach storage (for prepare's data-plane part). */
  storage: StorageAccess;
}

/**
 * The ports on the account and vault, with the client's credential; on emulators when the
 * endpoints say so (Azurite's connection string, or its endpoints with the credential; a stand-in Key Vault).
 */
export function openDataPorts(o: { storageAccount: string; vaultName: string; credential: TokenCredential; endpoints?: AzureEndpoints }): AzureDataPorts {
  const storage = storageAccess({ account: o.storageAccount, credential: () => o.credential, connectionString: o.endpoints?.storageConnectionString, endpoints: o.endpoints?.storage });
  const vault = o.endpoints?.keyVault;
  return {
    table: TableAllocationTable.open(storage, ALLOCATION_TABLE),
    queues: QueueTaskQueues.open(storage, QUEUE_PREFIX),
    payloads: BlobPayloadStore.open(storage, PAYLOAD_CONTAINER),
    secrets: KeyVaultSecretStore.open(vault ?? keyVaultUrl(o.vaultName), o.credential, { emulator: vault !== undefined }),
    storage,
  };
}

/** What prepare creates inside the storage account once it exists: the table and the payload container. Idempotent. */
export async function prepareDataPlane(storage: StorageAccess): Promise<void> {
  await createAllocationTable(storage, ALLOCATION_TABLE);
  await ensurePayloadContainer(storage, PAYLOAD_CONTAINER);
}

/**
 * The VM's host key publisher for cloud-init (a Python script taking the agent config and the host
 * key's .pub file): the key goes to the VM's row, where TableAllocationTable.publishedHostKey reads it.
 */
export const HOST_KEY_PUBLISHER: string = hostKeyPublisher;

/** Built-in role definition ids (the same in every subscription). */
export const ROLES = {
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
} as const;

/**
 * The data-plane roles: the VMs' identity on the storage account (its table row, the map queues,
 * payloads) and read access to secrets (a deployment's user secrets); the client (whoever runs
 * prepare) also sets and deletes secrets. Deleting itself when idle needs a role on the VM too
 * (instanceSide.ts deleteThisVm), which prepare grants with the compute roles.
 */
export const VM_STORAGE_ROLES = [ROLES.storageTableDataContributor, ROLES.storageQueueDataContributor, ROLES.storageBlobDataContributor] as const;
export const VM_VAULT_ROLES = [ROLES.keyVaultSecretsUser] as const;
export const CLIENT_STORAGE_ROLES = VM_STORAGE_ROLES;
export const CLIENT_VAULT_ROLES = [ROLES.keyVaultSecretsOfficer] as const;

/** A VM's Azure Resource Manager id, which its agent deletes once the VM is no longer needed. */
export function vmResourceId(subscription: string, resourceGroup: string, vmName: string): string {
  return `/subscriptions/${subscription}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachines/${vmName}`;
}

/** What a VM reaches in place of Azure's own services, for emulators (tests). */
export interface AzureInstanceEndpoints {
  storageConnectionString?: string;
  /** Storage services' URLs the VM reaches with its managed identity's token (Azurite over TLS with OAuth). */
  storageEndpoints?: StorageEndpoints;
  imdsEndpoint?: string;
  armEndpoint?: string;
  /** A stand-in Key Vault's URL. */
  keyVault?: string;
}

/**
 * The Azure part of a VM's AgentConfig (the rest, work dir, sweep and idle, is every cloud's).
 * `instance` overrides what the VM reaches for emulators: a connection string of an Azurite the VM
 * can reach (or its endpoints, for the VM's token), a stand-in metadata service, a fake Resource
 * Manager, a stand-in Key Vault.
 */
export function azureAgentConfigPart(o: {
  subscription: string;
  resourceGroup: string;
  vmName: string;
  storageAccount: string;
  vaultName: string;
  identityClientId?: string;
  instance?: AzureInstanceEndpoints;
}): Pick<AzureAgentConfig, 'provider' | 'table' | 'queues' | 'payloads' | 'interruption' | 'storage' | 'keyVault' | 'identityClientId' | 'resourceId' | 'armEndpoint'> {
  return {
    provider: 'azure',
    table: { tableName: ALLOCATION_TABLE },
    queues: { queuePrefix: QUEUE_PREFIX },
    payloads: { container: PAYLOAD_CONTAINER },
    interruption: { imdsEndpoint: o.instance?.imdsEndpoint ?? 'http://169.254.169.254' },
    storage: {
      account: o.storageAccount,
      ...(o.instance?.storageConnectionString !== undefined && { connectionString: o.instance.storageConnectionString }),
      ...(o.instance?.storageEndpoints && { endpoints: o.instance.storageEndpoints }),
    },
    keyVault: o.instance?.keyVault ? { url: o.instance.keyVault, emulator: true } : { url: keyVaultUrl(o.vaultName) },
    ...(o.identityClientId && { identityClientId: o.identityClientId }),
    resourceId: vmResourceId(o.subscription, o.resourceGroup, o.vmName),
    ...(o.instance?.armEndpoint && { armEndpoint: o.instance.armEndpoint }),
  };
}
