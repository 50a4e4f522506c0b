// Azure credentials and settings on the client: the login of the Azure command line tools (or a
// service principal in AZURE_* environment variables), never managed identity. Managed identity asks
// the instance metadata service at 169.254.169.254, which on a developer's machine is at best a slow
// timeout and at worst another machine's identity; it is used on Meadowrun's own VMs only, where the
// agent asks for it explicitly (instanceSide.ts). Every failure to get a token becomes one message
// that says to run `az login`.
import { execFile } from 'child_process';
import { AzureCliCredential, ChainedTokenCredential, EnvironmentCredential } from '@azure/identity';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { AzureSubscription, DEFAULT_AZURE_RESOURCE_GROUP, parseAzAccountList } from '../../core/azureChoices';
import { MeadowrunError } from '../../core/errors';
import { parseStorageEndpoints, type StorageEndpoints } from './storage';

/** `meadowrun.azure.*` in the editor, `--subscription` / `--resource-group` / `--location` on the command line. */
export interface AzureSettings {
  /** Subscription id (or name); AZURE_SUBSCRIPTION_ID, then the Azure CLI's default subscription when absent. */
  subscription?: string;
  /** The resource group Meadowrun keeps everything in; DEFAULT_RESOURCE_GROUP when absent. */
  resourceGroup?: string;
  /** Where VMs and storage go, e.g. eastus; AZURE_LOCATION when absent. */
  location?: string;
  /**
   * `meadowrun.azure.sshFrom` / `--ssh-from`: where SSH comes from (an IPv4 CIDR), behind a NAT or
   * VPN or inside the virtual network; this machine's public address /32 when absent.
   */
  sshFrom?: string;
  /** Other endpoints, for emulators in tests (Azurite, a fake Resource Manager and Key Vault). */
  endpoints?: AzureEndpoints;
}

export interface AzureEndpoints {
  /** Azure Resource Manager; https://management.azure.com when absent. */
  resourceManager?: string;
  /**
   * A storage connection string (Azurite's, with the account key) used in place of the storage
   * account prepare() creates, which is reached with the credential.
   */
  storageConnectionString?: string;
  /**
   * The storage services' URLs (an emulator's: Azurite over TLS with OAuth) in place of the
   * account's, reached with the credential's token as the account is.
   */
  storage?: StorageEndpoints;
  /** The Key Vault's URL in place of https://<vault>.vault.azure.net. */
  keyVault?: string;
}

export const DEFAULT_RESOURCE_GROUP = DEFAULT_AZURE_RESOURCE_GROUP;

/** The settings with what the environment fills in (MEADOWRUN_AZURE_* for emulators, as the tests set them). */
export function azureSettingsFromEnv(settings: AzureSettings = {}, env: NodeJS.ProcessEnv = process.env): AzureSettings {
  const endpoints: AzureEndpoints = {
    resourceManager: settings.endpoints?.resourceManager ?? (env.MEADOWRUN_AZURE_ARM_ENDPOINT || undefined),
    storageConnectionString: settings.endpoints?.storageConnectionString ?? (env.MEADOWRUN_AZURE_STORAGE_CONNECTION_STRING || undefined),
    storage: settings.endpoints?.storage ?? storageEndpointsFromEnv(env.MEADOWRUN_AZURE_STORAGE_ENDPOINTS, 'MEADOWRUN_AZURE_STORAGE_ENDPOINTS'),
    keyVault: settings.endpoints?.keyVault ?? (env.MEADOWRUN_AZURE_KEY_VAULT_ENDPOINT || undefined),
  };
  return {
    subscription: settings.subscription || env.AZURE_SUBSCRIPTION_ID || undefined,
    resourceGroup: settings.resourceGroup || DEFAULT_RESOURCE_GROUP,
    location: settings.location || env.AZURE_LOCATION || undefined,
    sshFrom: settings.sshFrom || env.MEADOWRUN_AZURE_SSH_FROM || undefined,
    endpoints,
  };
}

/** Storage endpoints from an environment variable (JSON), refused with a message naming it. */
export function storageEndpointsFromEnv(value: string | undefined, name: string): StorageEndpoints | undefined {
  if (!value) return undefined;
  try {
    return parseStorageEndpoints(value, name);
  } catch (e) {
    throw new MeadowrunError((e as Error).message, 'bad-config');
  }
}

const LOGIN = 'run `az login` (or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal)';

/**
 * The client's credential: a service principal from AZURE_* environment variables when they are
 * set, else the Azure CLI's login. Missing or expired logins reject with one MeadowrunError coded
 * 'cloud-credentials'.
 */
export function azureCredential(): TokenCredential {
  const chain = new ChainedTokenCredential(new EnvironmentCredential(), new AzureCliCredential());
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      try {
        return await chain.getToken(scopes, options);
      } catch (e) {
        throw azureCredentialsError(e) ?? e;
      }
    },
  };
}

/** The one message for a credential that could not give a token; undefined for any other error. */
export function azureCredentialsError(e: unknown): MeadowrunError | undefined {
  if (e instanceof MeadowrunError) return undefined;
  const name = (e as Error)?.name ?? '';
  if (name !== 'AggregateAuthenticationError' && name !== 'CredentialUnavailableError' && name !== 'AuthenticationError') return undefined;
  const message = String((e as Error)?.message ?? '');
  const what = /could not be found|not installed/i.test(message)
    ? 'No Azure login: the Azure CLI (az) is not installed. Install it (https://aka.ms/azure-cli), then run `az login`'
    : /expired|AADSTS700082|AADSTS50173|refresh token/i.test(message)
      ? `The Azure login has expired: ${LOGIN}`
      : `No Azure login: ${LOGIN}`;
  return new MeadowrunError(what, 'cloud-credentials', { cause: e });
}

/**
 * The subscription id: the setting, AZURE_SUBSCRIPTION_ID, else the Azure CLI's default
 * (`az account show`). Rejects with the 'cloud-credentials' message when none is found.
 */
export async function resolveSubscription(settings: AzureSettings, run: typeof runAz = runAz): Promise<string> {
  const given = settings.subscription || process.env.AZURE_SUBSCRIPTION_ID;
  if (given) return given;
  let out: string;
  try {
    out = await run(['account', 'show', '--query', 'id', '--output', 'tsv']);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException)?.code === 'ENOENT';
    throw new MeadowrunError(
      missing
        ? 'No Azure subscription: set meadowrun.azure.subscription (or --subscription, or AZURE_SUBSCRIPTION_ID), or install the Azure CLI and run `az login`'
        : `No Azure subscription: run \`az login\`, or set meadowrun.azure.subscription (or --subscription, or AZURE_SUBSCRIPTION_ID) (${firstLine(e)})`,
      'cloud-credentials',
      { cause: e },
    );
  }
  const id = out.trim();
  if (!id) throw new MeadowrunError('No Azure subscription: run `az login`, or set meadowrun.azure.subscription (or --subscription)', 'cloud-credentials');
  return id;
}

/**
 * The subscriptions of the Azure CLI's login (`az account list`), the default first, for the
 * editor's picker. Rejects with the 'cloud-credentials' message (saying `az login`) without a login.
 */
export async function listAzureSubscriptions(run: typeof runAz = runAz): Promise<AzureSubscription[]> {
  let out: string;
  try {
    out = await run(['account', 'list', '--output', 'json']);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException)?.code === 'ENOENT';
    throw new MeadowrunError(
      missing
        ? 'No Azure login: the Azure CLI (az) is not installed. Install it (https://aka.ms/azure-cli), then run `az login`'
        : `No Azure login: ${LOGIN} (${firstLine(e)})`,
      'cloud-credentials',
      { cause: e },
    );
  }
  const subscriptions = parseAzAccountList(out);
  if (!subscriptions.length) throw new MeadowrunError(`No Azure subscription in this login: ${LOGIN}`, 'cloud-credentials');
  return subscriptions;
}

/**
 * Signs in as the Azure cloud will (the same credential chain, a Resource Manager token) and says
 * which subscription jobs run in; rejects with the 'cloud-credentials' message that says `az login`.
 */
export async function checkAzureLogin(settings: AzureSettings): Promise<{ subscription: string }> {
  const subscription = await resolveSubscription(azureSettingsFromEnv(settings));
  await azureCredential().getToken('https://management.azure.com/.default');
  return { subscription };
}

/** The location, refused with a message naming the setting when none is given. */
export function requireLocation(settings: AzureSettings): string {
  const location = settings.location || process.env.AZURE_LOCATION;
  if (!location) throw new MeadowrunError('No Azure location: set meadowrun.azure.location (or --location, or AZURE_LOCATION), e.g. eastus', 'cloud-credentials');
  return location;
}

/** Runs the Azure CLI (no shell), resolving with its stdout. */
export function runAz(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('az', args, { timeout: 60_000 }, (e, stdout, stderr) => {
      if (e) {
        if (stderr) e.message = stderr.trim();
        reject(e);
      } else resolve(stdout);
    }),
  );
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}
