// The Azure cloud as the management Function sees it: its configuration from the app's settings (set
// by the installer), the app's own managed identity (on a Function app, @azure/identity's
// ManagedIdentityCredential asks the endpoint the platform gives in IDENTITY_ENDPOINT and
// IDENTITY_HEADER, never the client's login), and a VM provider that launches into the resource
// group as `meadowrun azure prepare` left it, without changing it.
import * as os from 'os';
import * as path from 'path';
import { ManagedIdentityCredential } from '@azure/identity';
import { MeadowrunError } from '../../../core/errors';
import { INSIDE_THE_FUNCTION, ManagedCloud, ManagementItems, publicKeyOnly } from '../../../management/managedRun';
import { AzureCloud, azureOptionsFromEnv } from '..';
import { azureSettingsFromEnv } from '../credentials';
import { ALLOCATION_TABLE, tableClient } from '../tableAllocationTable';
import { TableManagementItems } from './items';

/** The app settings the installer sets, beside the host's AzureWebJobsStorage__accountName and the MEADOWRUN_AZURE_* of emulators. */
export interface FunctionSettings {
  MEADOWRUN_VERSION: string;
  /** The timer's NCRONTAB schedule (the function's `%MEADOWRUN_SCHEDULE%`). */
  MEADOWRUN_SCHEDULE: string;
  MEADOWRUN_AZURE_SUBSCRIPTION: string;
  MEADOWRUN_AZURE_RESOURCE_GROUP: string;
  MEADOWRUN_AZURE_LOCATION: string;
  /** What prepare made, which launches use: the subnet, and the VMs' identity (resource id and client id). */
  MEADOWRUN_AZURE_SUBNET_ID: string;
  MEADOWRUN_AZURE_NSG_ID: string;
  MEADOWRUN_AZURE_VM_IDENTITY_ID: string;
  MEADOWRUN_AZURE_VM_IDENTITY_CLIENT_ID: string;
  /** The clients' SSH public key, which the VMs it launches accept (the private key stays in Key Vault). */
  MEADOWRUN_SSH_PUBLIC_KEY: string;
}

const REQUIRED: (keyof FunctionSettings)[] = [
  'MEADOWRUN_AZURE_SUBSCRIPTION',
  'MEADOWRUN_AZURE_RESOURCE_GROUP',
  'MEADOWRUN_AZURE_LOCATION',
  'MEADOWRUN_AZURE_SUBNET_ID',
  'MEADOWRUN_AZURE_NSG_ID',
  'MEADOWRUN_AZURE_VM_IDENTITY_ID',
  'MEADOWRUN_AZURE_VM_IDENTITY_CLIENT_ID',
  'MEADOWRUN_SSH_PUBLIC_KEY',
];

/** What the Function's code needs: the cloud's ports and the management items. */
export function functionCloud(env: NodeJS.ProcessEnv = process.env): { cloud: ManagedCloud; items: ManagementItems } {
  const missing = REQUIRED.filter((k) => !env[k]);
  if (missing.length) throw new MeadowrunError(`The management Function lacks the app settings ${missing.join(', ')}: install it again`, 'bad-config');
  const s = env as unknown as FunctionSettings;
  const settings = azureSettingsFromEnv({ subscription: s.MEADOWRUN_AZURE_SUBSCRIPTION, resourceGroup: s.MEADOWRUN_AZURE_RESOURCE_GROUP, location: s.MEADOWRUN_AZURE_LOCATION }, env);
  const azure = new AzureCloud(s.MEADOWRUN_AZURE_SUBSCRIPTION, s.MEADOWRUN_AZURE_RESOURCE_GROUP, s.MEADOWRUN_AZURE_LOCATION, settings, {
    ...azureOptionsFromEnv(env),
    dir: path.join(os.tmpdir(), 'meadowrun-azure'),
    credential: new ManagedIdentityCredential(),
    prepared: {
      identityId: s.MEADOWRUN_AZURE_VM_IDENTITY_ID,
      identityClientId: s.MEADOWRUN_AZURE_VM_IDENTITY_CLIENT_ID,
      network: { subnetId: s.MEADOWRUN_AZURE_SUBNET_ID, nsgId: s.MEADOWRUN_AZURE_NSG_ID },
    },
  });
  const cloud: ManagedCloud = {
    location: `${azure.location} (management Function)`,
    clientDir: path.join(os.tmpdir(), 'meadowrun-clients'),
    provider: azure.provider,
    table: azure.table,
    secrets: publicKeyOnly(s.MEADOWRUN_SSH_PUBLIC_KEY),
    queues: azure.queues,
    payloads: azure.payloads,
    management: INSIDE_THE_FUNCTION,
  };
  return { cloud, items: new TableManagementItems(tableClient(azure.dataPlane, ALLOCATION_TABLE)) };
}
