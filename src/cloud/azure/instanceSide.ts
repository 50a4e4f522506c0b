// Azure on its VMs: what the agent and the instance's watch load (through
// src/agent/instanceSides.ts) for an AgentConfig whose provider is "azure". It is only in
// dist/agent-azure.js, the agent sent to Azure VMs (see CONTRIBUTING.md, "Agent bundles").
// Credentials are the VM's managed identity, asked of the metadata service explicitly (only here, on
// the VM: the client never asks it); a Spot eviction is announced by Scheduled Events ("Preempt").
import './node18'; // first: the SDKs below need it as they load
import * as http from 'http';
import * as https from 'https';
import type { TokenCredential } from '@azure/identity';
import { InstanceSide } from '../ports';
import { AzureAgentConfig } from './agentConfig';
import { BlobPayloadStore } from './blobPayloadStore';
import { KeyVaultSecretStore } from './keyVaultSecretStore';
import { VmManagedIdentity } from './managedIdentity';
import { QueueTaskQueues } from './queueTaskQueues';
import { StorageAccess, storageAccess } from './storage';
import { TableAllocationTable } from './tableAllocationTable';

/** One credential per process, so its tokens are cached across the table, queues and payloads. */
let identityCredential: VmManagedIdentity | undefined;
function identity(c: AzureAgentConfig): TokenCredential {
  identityCredential ??= new VmManagedIdentity(c.interruption.imdsEndpoint, c.identityClientId);
  return identityCredential;
}

let vault: KeyVaultSecretStore | undefined;

function storage(c: AzureAgentConfig): StorageAccess {
  return storageAccess({ account: c.storage.account, credential: () => identity(c), connectionString: c.storage.connectionString, endpoints: c.storage.endpoints });
}

export const azureInstanceSide: InstanceSide<AzureAgentConfig> = {
  table: (c) => TableAllocationTable.open(storage(c), c.table.tableName),
  queues: (c) => QueueTaskQueues.open(storage(c), c.queues.queuePrefix),
  payloads: (c) => BlobPayloadStore.open(storage(c), c.payloads.container),
  interruptionAnnounced: (c) => preemptScheduled(c.interruption.imdsEndpoint, c.instanceId),
  shutdown: (c) => deleteThisVm(c),
  // The identity has Key Vault Secrets User on the vault (prepare.ts); the store's names keep the SSH key out of reach of a job's secret name.
  secret: (c, name) => {
    if (!c.keyVault) throw new Error('this VM was launched by an older Meadowrun, whose configuration names no Key Vault: terminate it, and a new one can read secrets');
    vault ??= KeyVaultSecretStore.open(c.keyVault.url, identity(c), { emulator: c.keyVault.emulator });
    return vault.getSecret(name);
  },
};

/** A Scheduled Event, as the metadata service lists them (learn.microsoft.com/azure/virtual-machines/linux/scheduled-events). */
interface ScheduledEvent {
  EventId: string;
  EventType: string;
  ResourceType?: string;
  Resources?: string[];
  EventStatus?: string;
}

/**
 * Whether Azure has scheduled this Spot VM's eviction: a `Preempt` event naming it (or naming no
 * resource) among the Scheduled Events. `endpoint` is http://169.254.169.254 on a VM, a stand-in on
 * 127.0.0.1 in tests. The service's first answer after boot can take a while: up to 10 s here,
 * after that the watch asks again on its next round.
 */
export async function preemptScheduled(endpoint: string, vmName: string): Promise<boolean> {
  const r = await request(new URL('/metadata/scheduledevents?api-version=2020-07-01', endpoint), 'GET', { Metadata: 'true' }, 10_000);
  if (r.status !== 200) throw new Error(`Scheduled Events answered HTTP ${r.status}`);
  const { Events = [] } = JSON.parse(r.body) as { Events?: ScheduledEvent[] };
  return Events.some((e) => e.EventType === 'Preempt' && (!e.Resources?.length || e.Resources.includes(vmName)));
}

/**
 * Deletes this VM through Azure Resource Manager with its own identity (an Azure VM that merely
 * powers off stays allocated and billed); its disk, NIC and public address go with it (deleteOption).
 * Only on the VM the config names, as the metadata service tells: a config copied to another
 * machine must not delete that VM. The request is accepted (202) long before the VM is gone.
 */
export async function deleteThisVm(c: AzureAgentConfig, o: { credential?: TokenCredential } = {}): Promise<void> {
  const imds = c.interruption.imdsEndpoint;
  const me = await request(new URL('/metadata/instance/compute/resourceId?api-version=2021-02-01&format=text', imds), 'GET', { Metadata: 'true' }, 10_000).catch(
    (e: Error) => ({ status: 0, body: e.message }),
  );
  if (me.status !== 200 || me.body.trim().toLowerCase() !== c.resourceId.toLowerCase()) {
    throw new Error(`not deleting: this machine is ${me.status === 200 ? `the VM ${me.body.trim()}` : `no Azure VM (the metadata service: ${me.status || me.body})`}, not ${c.resourceId}`);
  }
  const arm = c.armEndpoint ?? 'https://management.azure.com';
  const token = await (o.credential ?? identity(c)).getToken(`${new URL(arm).origin}/.default`);
  if (!token) throw new Error('the managed identity gave no token for Azure Resource Manager');
  const url = new URL(`${c.resourceId}?api-version=2024-07-01`, arm);
  const r = await request(url, 'DELETE', { Authorization: `Bearer ${token.token}` }, 30_000);
  if (r.status !== 200 && r.status !== 202 && r.status !== 204) {
    throw new Error(`deleting this VM (${c.resourceId}) failed: HTTP ${r.status} ${r.body.slice(0, 300)}`);
  }
}

/** One request (node:http(s), not fetch: fetch warns as experimental on the agent's Node 18; and no proxy for the metadata service). */
function request(url: URL, method: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, { method, headers, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url.origin} did not answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}
