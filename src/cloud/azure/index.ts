// The Azure cloud: VMs (vmProvider.ts), the allocation table as an Azure Table, map queues as Azure
// Queues, payloads as blobs, the SSH key in Key Vault (data.ts), all in one resource group of the
// user's subscription, reached with the Azure command line tools' login. Loaded with import() only
// when `azure` is chosen, so no other cloud's users load the SDKs.
import * as os from 'os';
import * as path from 'path';
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { ResourceManagementClient } from '@azure/arm-resources';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { StorageManagementClient } from '@azure/arm-storage';
import type { TokenCredential } from '@azure/identity';
import { MeadowrunError } from '../../core/errors';
import { DEFAULT_IDLE_MARGIN_S } from '../../core/idleWatchdog';
import { DEFAULT_MANAGEMENT_CONFIG } from '../../core/management';
import { clientCidr } from '../clientAddress';
import { WORK_DIR } from '../cloudInit';
import { memoizeSuccess } from '../memoizeSuccess';
import { AllocationTable, Cloud, ManagementInstaller, PayloadStore, SecretStore, TaskQueues } from '../ports';
import { AzureManagementInstaller } from './management/installer';
import type { AzureNetwork } from './network';
import type { StorageAccess } from './storage';
import { evictionRateQuery, evictionRatesFromRows } from './catalog';
import { azureCredential, AzureSettings, azureSettingsFromEnv, requireLocation, resolveSubscription, storageEndpointsFromEnv } from './credentials';
import { ArmAccess, deletedVaultId, getDeletedVault, purgeDeletedVault } from './deletedVault';
import { azureAgentConfigPart, AzureInstanceEndpoints, keyVaultName, openDataPorts, storageAccountName } from './data';
import { ARM_SCOPE, AzureArmClients, describeAzure, KEY_VAULT_API, prepareAzure, PreparedAzure, uninstallAzure } from './prepare';
import { AzureVmProvider, SSH_FROM_SETTING } from './vmProvider';

const ARM = 'https://management.azure.com';

/**
 * Beyond subscription, resource group and location: for emulators and networks the public
 * address lookup does not fit. Environment variables for now (MEADOWRUN_AZURE_*), as the tests set them.
 */
export interface AzureCloudOptions {
  /** Where SSH comes from (CIDR); this machine's public address /32 when absent. */
  sshFrom?: string;
  /** The Retail Prices API (a stand-in in tests). */
  pricesUrl?: string;
  /** Where this machine keeps the catalog cache and its client records (0700). */
  dir?: string;
  /** How often each VM's watch runs its sweep (s); 30 by default. */
  sweepIntervalS?: number;
  /** What the VMs reach instead of Azure's own services (emulators in tests). */
  instance?: AzureInstanceEndpoints;
  credential?: TokenCredential;
  /**
   * What `meadowrun azure prepare` made, for a cloud that must change nothing (the management
   * Function): launches use it, and nothing is created or opened to this process.
   */
  prepared?: PreparedAzure & { network: AzureNetwork };
}

export class AzureCloud implements Cloud {
  readonly location: string;
  readonly clientDir: string;
  readonly provider: AzureVmProvider;
  readonly table: AllocationTable;
  readonly secrets: SecretStore;
  readonly queues: TaskQueues;
  readonly payloads: PayloadStore;
  readonly management: ManagementInstaller;
  readonly arm: AzureArmClients;
  private readonly vault: { name: string; arm: ArmAccess };
  readonly credential: TokenCredential;
  /** Resource Manager's address when not Azure's own (a fake in tests). */
  readonly armEndpoint?: string;
  readonly storageAccount: string;
  /** How the data-plane ports reach the storage account (or an emulator). */
  readonly dataPlane: StorageAccess;
  private identity?: PreparedAzure;
  private say?: (line: string) => void;

  constructor(
    readonly subscription: string,
    readonly resourceGroup: string,
    readonly region: string,
    settings: AzureSettings,
    o: AzureCloudOptions,
  ) {
    const credential = (this.credential = o.credential ?? azureCredential());
    const endpoint = (this.armEndpoint = settings.endpoints?.resourceManager);
    const dir = o.dir ?? path.join(os.homedir(), '.meadowrun', 'azure');
    this.location = `Azure ${region}, resource group ${resourceGroup}`;
    this.clientDir = path.join(dir, 'clients');
    // The token is always for Resource Manager, whatever address it is reached at (a fake in tests).
    const classic = { ...(endpoint && { endpoint }), credentialScopes: [ARM_SCOPE] };
    const modern = { ...(endpoint && { endpoint }), credentials: { scopes: [ARM_SCOPE] } };
    const compute = new ComputeManagementClient(credential, subscription, modern);
    const network = new NetworkManagementClient(credential, subscription, classic);
    this.arm = {
      resources: new ResourceManagementClient(credential, subscription, classic),
      storage: new StorageManagementClient(credential, subscription, modern),
      msi: new ManagedServiceIdentityClient(credential, subscription, classic),
      authorization: new AuthorizationManagementClient(credential, subscription, classic),
    };
    const storageAccount = (this.storageAccount = storageAccountName(subscription, resourceGroup));
    const vaultName = keyVaultName(subscription, resourceGroup);
    this.vault = { name: vaultName, arm: { endpoint: endpoint ?? ARM, credential, subscription } };
    const ports = openDataPorts({ storageAccount, vaultName, credential, endpoints: settings.endpoints });
    this.table = ports.table;
    this.dataPlane = ports.storage;
    this.queues = ports.queues;
    this.payloads = ports.payloads;
    this.secrets = ports.secrets;
    const prepared = memoizeSuccess(() =>
      prepareAzure({ clients: this.arm, credential, subscription, resourceGroup, location: region, storageAccount, vaultName, dataPlane: ports.storage, say: (line) => this.say?.(line) }).then(
        (p) => (this.identity = p),
      ),
    );
    const prepare = () => (o.prepared ? Promise.resolve((this.identity = o.prepared)) : prepared());
    this.provider = new AzureVmProvider({
      compute,
      network,
      resourceGroup,
      location: region,
      cacheDir: path.join(dir, 'cache'),
      pricesUrl: o.pricesUrl,
      evictionRates: () => evictionRates(credential, endpoint ?? ARM, subscription, region),
      sshFrom: o.sshFrom,
      prepareAlso: prepare,
      prepared: o.prepared?.network,
      publishedHostKey: (id) => ports.table.publishedHostKey(id),
      identityId: async () => (await prepare()).identityId,
      // Called as a VM launches, after prepare: the identity is known by then.
      agentConfig: (vmName) => ({
        ...azureAgentConfigPart({ subscription, resourceGroup, vmName, storageAccount, vaultName, identityClientId: this.identity?.identityClientId, instance: o.instance }),
        workDir: WORK_DIR,
        sweep: { intervalS: o.sweepIntervalS ?? 30, graceS: 120 },
        idle: { timeoutS: DEFAULT_MANAGEMENT_CONFIG.idleTimeoutS, marginS: DEFAULT_IDLE_MARGIN_S },
      }),
      environmentMaxAgeS: async () => (await this.management.config()).environmentMaxAgeS,
    });
    this.prepare = prepare;
    this.management = new AzureManagementInstaller(this, { instance: o.instance, pricesUrl: o.pricesUrl, sweepIntervalS: o.sweepIntervalS });
  }

  /** Creates what Meadowrun keeps in the subscription (prepare.ts); idempotent, once per process. */
  readonly prepare: () => Promise<PreparedAzure>;

  /** Everything prepare and the VMs' network need, made now; then what is there. */
  async prepareAccount(say?: (line: string) => void): Promise<{ kind: string; name: string }[]> {
    this.say = say;
    await this.provider.prepare();
    return this.describeAccount();
  }

  /** Meadowrun's resources in the resource group, and its Key Vault when it is soft-deleted (it still holds the SSH key). */
  async describeAccount(): Promise<{ kind: string; name: string }[]> {
    const [found, deleted] = await Promise.all([describeAzure(this.arm.resources, this.resourceGroup), getDeletedVault(this.vault.arm, this.region, this.vault.name)]);
    if (!deleted) return found;
    const until = deleted.purgeProtectionEnabled ? `, purge protection: Azure purges it on ${deleted.scheduledPurgeDate}` : '';
    return [...found, { kind: 'Microsoft.KeyVault/deletedVaults', name: `${deleted.name} (soft-deleted${until})`, id: deletedVaultId(this.subscription, this.region, deleted.name) }];
  }

  /**
   * Deletes the VMs and everything else Meadowrun created in the resource group, then purges the
   * deleted Key Vault, so that no soft-deleted vault keeps the SSH key (nor the vault's name);
   * resolves with why the vault stays when purge protection keeps it.
   */
  async uninstallAccount(say?: (line: string) => void): Promise<string[]> {
    // Where the vault is (the location setting may have changed since prepare): its deleted self is listed there.
    const vaultId = `/subscriptions/${this.subscription}/resourceGroups/${this.resourceGroup}/providers/Microsoft.KeyVault/vaults/${this.vault.name}`;
    const live = await this.arm.resources.resources.getById(vaultId.slice(1), KEY_VAULT_API).catch(() => undefined);
    await uninstallAzure({ resources: this.arm.resources, resourceGroup: this.resourceGroup, say });
    const kept = await purgeDeletedVault(this.vault.arm, live?.location ?? this.region, this.vault.name, say ?? (() => undefined));
    return kept ? [kept] : [];
  }
}

export async function createAzureCloud(given: AzureSettings = {}): Promise<AzureCloud> {
  const settings = azureSettingsFromEnv(given);
  const env = process.env;
  const subscription = await resolveSubscription(settings);
  const location = requireLocation(settings);
  if (!/^[a-z0-9]+$/.test(location)) throw new MeadowrunError(`Not an Azure location name: "${location}" (e.g. eastus, westeurope)`, 'bad-config');
  // A bad SSH source is refused before anything is created in the subscription.
  if (settings.sshFrom) await clientCidr(settings.sshFrom, undefined, SSH_FROM_SETTING);
  return new AzureCloud(subscription, settings.resourceGroup!, location, settings, { ...azureOptionsFromEnv(env), sshFrom: settings.sshFrom });
}

/** The options tests and emulators set as MEADOWRUN_AZURE_* (also the management Function's app settings). */
export function azureOptionsFromEnv(env: NodeJS.ProcessEnv): AzureCloudOptions {
  const instanceStorage = env.MEADOWRUN_AZURE_INSTANCE_STORAGE_CONNECTION_STRING || undefined;
  const instanceStorageEndpoints = storageEndpointsFromEnv(env.MEADOWRUN_AZURE_INSTANCE_STORAGE_ENDPOINTS, 'MEADOWRUN_AZURE_INSTANCE_STORAGE_ENDPOINTS');
  const instanceImds = env.MEADOWRUN_AZURE_INSTANCE_IMDS || undefined;
  const instanceArm = env.MEADOWRUN_AZURE_INSTANCE_ARM_ENDPOINT || undefined;
  const instanceVault = env.MEADOWRUN_AZURE_INSTANCE_KEY_VAULT || undefined;
  return {
    pricesUrl: env.MEADOWRUN_AZURE_PRICES_URL || undefined,
    dir: env.MEADOWRUN_AZURE_DIR || undefined,
    sweepIntervalS: Number(env.MEADOWRUN_SWEEP_INTERVAL) || undefined,
    ...((instanceStorage || instanceStorageEndpoints || instanceImds || instanceArm || instanceVault) && {
      instance: { storageConnectionString: instanceStorage, storageEndpoints: instanceStorageEndpoints, imdsEndpoint: instanceImds, armEndpoint: instanceArm, keyVault: instanceVault },
    }),
  };
}

/** Resource Graph's Spot eviction rates for the location (rejects when the subscription may not query it). */
async function evictionRates(credential: TokenCredential, arm: string, subscription: string, location: string): Promise<Record<string, number>> {
  const token = await credential.getToken(ARM_SCOPE);
  const res = await fetch(`${arm}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token?.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ subscriptions: [subscription], query: evictionRateQuery(location), options: { resultFormat: 'objectArray' } }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json().catch(() => ({}))) as { data?: { skuName?: string; evictionRate?: string }[]; error?: { code?: string } };
  if (!res.ok) throw new Error(`Resource Graph answered HTTP ${res.status}${body.error?.code ? ` ${body.error.code}` : ''}`);
  return evictionRatesFromRows(body.data ?? []);
}
