// What the agent on an Azure VM is told about it (written by the VM's custom data to
// /etc/meadowrun/agent.json): the storage account and the table, queue prefix and payload container
// it opens with the VM's managed identity, the Key Vault it reads a job's named secrets from, and
// the instance metadata service that gives the identity's tokens and announces a Spot eviction
// (Scheduled Events).
import { AgentConfig } from '../ports';
import type { StorageEndpoints } from './storage';

export type AzureAgentConfig = AgentConfig<
  { tableName: string },
  { queuePrefix: string },
  { imdsEndpoint: string },
  { container: string }
> & {
  provider: 'azure';
  storage: {
    /** The storage account's name: its services are at https://<account>.<service>.core.windows.net. */
    account: string;
    /** An emulator's connection string (Azurite in tests) in place of the account and the managed identity. */
    connectionString?: string;
    /** An emulator's service URLs (Azurite over TLS with OAuth in tests), reached with the managed identity as the account is. */
    endpoints?: StorageEndpoints;
  };
  /**
   * The Key Vault holding the user's secrets (read with the managed identity, which has Key Vault
   * Secrets User there); `emulator` for a stand-in vault whose 401 challenge names the real domain.
   * Absent on VMs launched before secrets reached Azure VMs.
   */
  keyVault?: { url: string; emulator?: boolean };
  /** The client id of the user-assigned managed identity the VM reads and writes with; the system-assigned one when absent. */
  identityClientId?: string;
  /** The VM's Azure Resource Manager id: the instance deletes itself there once it is no longer needed. */
  resourceId: string;
  /** Azure Resource Manager; https://management.azure.com when absent (a fake in tests). */
  armEndpoint?: string;
};
