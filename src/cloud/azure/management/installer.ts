// The management Function on Azure: a Flex Consumption plan, a Function app (Node 22, its own
// system-assigned identity) whose package (the bundled dist/azure-adjuster.js with host.json and
// package.json, zipped in memory) is deployed through the app's OneDeploy endpoint, a timer that runs
// it every minute, and the roles its identity needs and no more; its configuration is an item of the
// allocation table, read at every run. Install finds what exists and changes only what differs (the
// app's settings and package by their hashes, kept in its tags), so running it again changes nothing;
// uninstall removes exactly what install made. Everything is tagged meadowrun=true.
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as https from 'https';
import { isIP } from 'net';
import { WebSiteManagementClient, type Site } from '@azure/arm-appservice';
import { version } from '../../../../package.json';
import { MeadowrunError } from '../../../core/errors';
import { AdjusterRun, DEFAULT_MANAGEMENT_CONFIG, ManagementConfig, ManagementStatus, validateManagementConfig } from '../../../core/management';
import { runFromClient } from '../../../management/managedRun';
import { ManagementInstaller, ManagementProgress } from '../../ports';
import { builtBundle, zip } from '../../zip';
import type { AzureCloud } from '..';
import { deletePayloadContainer, ensurePayloadContainer } from '../blobPayloadStore';
import { AzureInstanceEndpoints, functionAppName, ROLES } from '../data';
import { NSG, SUBNET, TAGS, VNET } from '../network';
import { ARM_SCOPE, assignRole, byId, guidOf, roleAssignmentName, statusOf, VM_IDENTITY } from '../prepare';
import { serviceUrl } from '../storage';
import { ALLOCATION_TABLE, tableClient } from '../tableAllocationTable';
import { FunctionSettings } from './functionCloud';
import { TableManagementItems } from './items';

const PLAN = 'meadowrun-adjuster-plan';
/** The blob container Flex Consumption deploys the package from. */
export const PACKAGE_CONTAINER = 'meadowrun-adjuster-package';
const RUNTIME = { name: 'node', version: '22' } as const;
/** The smallest instance Flex Consumption offers: a run a minute needs little. */
const INSTANCE_MEMORY_MB = 512;
const NETWORK_API = '2024-05-01';
const IDENTITY_API = '2023-01-31';

/**
 * What the app's identity may do with VMs, on the resource group only: create, read and delete them
 * with their NIC, public address and disk, join them to prepare's subnet and security group, give
 * them the VMs' identity, read the catalog and the serial log. (The built-in Virtual Machine
 * Contributor cannot create the public address, and changes what is not Meadowrun's.)
 */
export const VM_ACTIONS = [
  'Microsoft.Compute/virtualMachines/read',
  'Microsoft.Compute/virtualMachines/write',
  'Microsoft.Compute/virtualMachines/delete',
  'Microsoft.Compute/virtualMachines/instanceView/read',
  'Microsoft.Compute/virtualMachines/retrieveBootDiagnosticsData/action',
  'Microsoft.Compute/disks/read',
  'Microsoft.Compute/disks/delete',
  'Microsoft.Compute/skus/read',
  'Microsoft.Network/networkInterfaces/read',
  'Microsoft.Network/networkInterfaces/write',
  'Microsoft.Network/networkInterfaces/delete',
  'Microsoft.Network/networkInterfaces/join/action',
  'Microsoft.Network/publicIPAddresses/read',
  'Microsoft.Network/publicIPAddresses/write',
  'Microsoft.Network/publicIPAddresses/delete',
  'Microsoft.Network/publicIPAddresses/join/action',
  'Microsoft.Network/virtualNetworks/read',
  'Microsoft.Network/virtualNetworks/subnets/read',
  'Microsoft.Network/virtualNetworks/subnets/join/action',
  'Microsoft.Network/networkSecurityGroups/read',
  'Microsoft.Network/networkSecurityGroups/join/action',
  'Microsoft.ManagedIdentity/userAssignedIdentities/read',
  'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
];

/**
 * The storage account's data roles: the table (its items, the instances' rows), queues (stale map
 * queues) and blobs (payloads, and the Functions host's own storage and package, for which the
 * documentation asks Blob Data Owner).
 */
export const STORAGE_ROLES = [ROLES.storageTableDataContributor, ROLES.storageQueueDataContributor, ROLES.storageBlobDataOwner] as const;

/** The timer's NCRONTAB schedule for an interval: whole minutes, at least one ("0 *\/1 * * * *"). */
export function scheduleFor(intervalS: number): string {
  const minutes = Math.max(1, Math.round(intervalS / 60));
  return `0 */${minutes} * * * *`;
}

/** The package OneDeploy takes: the bundle as index.js, its package.json and the host's host.json. The same bundle makes the same bytes. */
export function functionPackage(bundle = builtBundle('azure-adjuster.js', __dirname)): Buffer {
  const json = (v: unknown) => Buffer.from(`${JSON.stringify(v, null, 2)}\n`);
  return zip([
    { name: 'host.json', data: json({ version: '2.0', extensionBundle: { id: 'Microsoft.Azure.Functions.ExtensionBundle', version: '[4.*, 5.0.0)' } }) },
    { name: 'package.json', data: json({ name: 'meadowrun-adjuster', version, private: true, main: 'index.js' }) },
    { name: 'index.js', data: fs.readFileSync(bundle) },
  ]);
}

const hash = (data: string | Buffer) => createHash('sha256').update(data).digest('hex').slice(0, 32);

export interface AzureManagementOptions {
  /** What the VMs reach instead of Azure's own services (emulators), passed on to the Function's launches. */
  instance?: AzureInstanceEndpoints;
  pricesUrl?: string;
  sweepIntervalS?: number;
  /** The bundle to deploy; dist/azure-adjuster.js when absent. */
  bundle?: string;
  /**
   * Where the app's SCM (Kudu) host is reached when not at its own name: requests go to this origin
   * with the SCM host name as their Host header (the fake Resource Manager in tests).
   */
  scmEndpoint?: string;
  /** How often the deployment's status is read (ms). */
  pollMs?: number;
}

export class AzureManagementInstaller implements ManagementInstaller {
  readonly items: TableManagementItems;
  private readonly web: WebSiteManagementClient;
  private readonly appName: string;
  private readonly rgScope: string;

  constructor(
    private readonly cloud: AzureCloud,
    private readonly o: AzureManagementOptions = {},
  ) {
    this.items = new TableManagementItems(tableClient(cloud.dataPlane, ALLOCATION_TABLE));
    this.web = new WebSiteManagementClient(cloud.credential, cloud.subscription, { ...(cloud.armEndpoint && { endpoint: cloud.armEndpoint }), credentialScopes: [ARM_SCOPE] });
    this.appName = functionAppName(cloud.subscription, cloud.resourceGroup);
    this.rgScope = `/subscriptions/${cloud.subscription}/resourceGroups/${cloud.resourceGroup}`;
    this.o.scmEndpoint ??= process.env.MEADOWRUN_AZURE_SCM_ENDPOINT || undefined;
  }

  async config(): Promise<ManagementConfig> {
    return (await this.items.readConfig()) ?? DEFAULT_MANAGEMENT_CONFIG;
  }

  async install(config: ManagementConfig, o: ManagementProgress = {}): Promise<void> {
    const say = o.onProgress ?? (() => undefined);
    config = validateManagementConfig(config);
    const pkg = functionPackage(this.o.bundle);
    const prepared = await this.findPrepared();
    let step = 'storing the configuration';
    try {
      await this.items.writeConfig(config);
      say(`Stored the configuration in the table ${ALLOCATION_TABLE} (thresholds, idle timeout: read at every run)`);
      step = 'creating the package container';
      if (await ensurePayloadContainer(this.cloud.dataPlane, PACKAGE_CONTAINER)) say(`Created the blob container ${PACKAGE_CONTAINER} (the Function's package)`);
      step = 'creating the Flex Consumption plan';
      const planId = await this.ensurePlan(say);
      const settings = await this.appSettings(config, prepared);
      step = 'creating the Function app';
      const site = await this.ensureApp(planId, settings, say);
      step = "creating the Function's custom role and role assignments";
      await this.ensureRoles(site.identity!.principalId!, say);
      if (site.tags?.['meadowrun-package'] !== hash(pkg)) {
        const before = site.tags?.['meadowrun-version'];
        step = 'deploying the package';
        await this.deploy(site, pkg, say);
        // The package's hash is recorded only once it runs, so a failed deployment is tried again.
        await this.putApp(planId, settings, { ...site.tags, 'meadowrun-package': hash(pkg) });
        say(site.tags?.['meadowrun-package'] ? `Deployed the new package (version ${before ?? '?'} → ${version})` : `Deployed the package (version ${version}, ${Math.round(pkg.length / 1024)} KB)`);
      }
    } catch (e) {
      if (statusOf(e) !== 403) throw e;
      // What install made so far costs nothing (a Flex Consumption plan bills runs only): installing
      // again once allowed finishes it, uninstalling removes it.
      throw new MeadowrunError(
        `Installing the management Function: Azure refused ${step} (${(e as { code?: string }).code ?? 'HTTP 403'}). Your login needs Contributor and User Access Administrator (or Owner) on the resource group ${this.cloud.resourceGroup}; then install again (or uninstall to remove what was made)`,
        'cloud-credentials',
        { cause: e },
      );
    }
  }

  /** What `meadowrun azure prepare` made and the Function uses; a clear error when it has not run. */
  private async findPrepared(): Promise<{ subnetId: string; nsgId: string; identityId: string; identityClientId: string }> {
    const { resources } = this.cloud.arm;
    const get = (id: string, api: string) =>
      resources.resources.getById(byId(id), api).catch((e) => {
        if (statusOf(e) === 404) return undefined;
        throw e;
      });
    const network = `${this.rgScope}/providers/Microsoft.Network`;
    const identityId = `${this.rgScope}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${VM_IDENTITY}`;
    const [storage, vnet, nsg, identity] = await Promise.all([
      get(`${this.rgScope}/providers/Microsoft.Storage/storageAccounts/${this.cloud.storageAccount}`, '2023-05-01'),
      get(`${network}/virtualNetworks/${VNET}`, NETWORK_API),
      get(`${network}/networkSecurityGroups/${NSG}`, NETWORK_API),
      get(identityId, IDENTITY_API),
    ]);
    const missing = [!storage && `storage account ${this.cloud.storageAccount}`, !vnet && `virtual network ${VNET}`, !nsg && `security group ${NSG}`, !identity && `managed identity ${VM_IDENTITY}`].filter(Boolean);
    const clientId = (identity?.properties as { clientId?: string } | undefined)?.clientId;
    if (missing.length || !clientId) {
      throw new MeadowrunError(
        `Azure is not prepared in resource group ${this.cloud.resourceGroup} (no ${missing.join(', ') || `client id of ${VM_IDENTITY}`}): run \`meadowrun azure prepare\` first, then install the management Function`,
        'bad-config',
      );
    }
    return { subnetId: `${vnet!.id}/subnets/${SUBNET}`, nsgId: nsg!.id!, identityId: identity!.id!, identityClientId: clientId };
  }

  private async appSettings(config: ManagementConfig, prepared: Awaited<ReturnType<AzureManagementInstaller['findPrepared']>>): Promise<Record<string, string>> {
    const c = this.cloud;
    const own: FunctionSettings = {
      MEADOWRUN_VERSION: version,
      MEADOWRUN_SCHEDULE: scheduleFor(config.intervalS),
      MEADOWRUN_AZURE_SUBSCRIPTION: c.subscription,
      MEADOWRUN_AZURE_RESOURCE_GROUP: c.resourceGroup,
      MEADOWRUN_AZURE_LOCATION: c.region,
      MEADOWRUN_AZURE_SUBNET_ID: prepared.subnetId,
      MEADOWRUN_AZURE_NSG_ID: prepared.nsgId,
      MEADOWRUN_AZURE_VM_IDENTITY_ID: prepared.identityId,
      MEADOWRUN_AZURE_VM_IDENTITY_CLIENT_ID: prepared.identityClientId,
      MEADOWRUN_SSH_PUBLIC_KEY: (await c.secrets.getSshKeyPair()).publicKey,
    };
    const i = this.o.instance;
    const emulators: Record<string, string | undefined> = {
      MEADOWRUN_AZURE_ARM_ENDPOINT: c.armEndpoint,
      MEADOWRUN_AZURE_STORAGE_CONNECTION_STRING: c.dataPlane.connectionString,
      MEADOWRUN_AZURE_STORAGE_ENDPOINTS: c.dataPlane.endpoints && JSON.stringify(c.dataPlane.endpoints),
      MEADOWRUN_AZURE_INSTANCE_STORAGE_CONNECTION_STRING: i?.storageConnectionString,
      MEADOWRUN_AZURE_INSTANCE_STORAGE_ENDPOINTS: i?.storageEndpoints && JSON.stringify(i.storageEndpoints),
      MEADOWRUN_AZURE_INSTANCE_IMDS: i?.imdsEndpoint,
      MEADOWRUN_AZURE_INSTANCE_ARM_ENDPOINT: i?.armEndpoint,
      MEADOWRUN_AZURE_INSTANCE_KEY_VAULT: i?.keyVault,
      MEADOWRUN_AZURE_PRICES_URL: this.o.pricesUrl,
      MEADOWRUN_SWEEP_INTERVAL: this.o.sweepIntervalS?.toString(),
    };
    // The host's own storage, reached with the app's identity (no keys: prepare's account has none).
    return { AzureWebJobsStorage__accountName: c.storageAccount, ...own, ...Object.fromEntries(Object.entries(emulators).filter((e): e is [string, string] => !!e[1])) };
  }

  private async ensurePlan(say: (line: string) => void): Promise<string> {
    const existing = await this.web.appServicePlans.get(this.cloud.resourceGroup, PLAN).catch((e) => (statusOf(e) === 404 ? undefined : Promise.reject(e)));
    if (existing?.id) return existing.id;
    const plan = await this.web.appServicePlans.beginCreateOrUpdateAndWait(
      this.cloud.resourceGroup,
      PLAN,
      { location: this.cloud.region, kind: 'functionapp', reserved: true, sku: { name: 'FC1', tier: 'FlexConsumption' }, tags: TAGS },
      this.lro(),
    );
    say(`Created the Flex Consumption plan ${PLAN}`);
    return plan.id!;
  }

  private async ensureApp(planId: string, settings: Record<string, string>, say: (line: string) => void): Promise<Site> {
    const existing = await this.getApp();
    const settingsHash = hash(JSON.stringify([settings, this.appConfig()]));
    if (existing?.tags?.['meadowrun-settings'] === settingsHash && existing.identity?.principalId) return existing;
    const site = await this.putApp(planId, settings, { ...existing?.tags, 'meadowrun-settings': settingsHash });
    say(existing ? `Updated the Function app ${this.appName}'s settings` : `Created the Function app ${this.appName} (Node ${RUNTIME.version}, its own managed identity, ${scheduleOf(settings)})`);
    return site;
  }

  private putApp(planId: string, settings: Record<string, string>, tags: Record<string, string>): Promise<Site> {
    return this.web.webApps.beginCreateOrUpdateAndWait(
      this.cloud.resourceGroup,
      this.appName,
      {
        location: this.cloud.region,
        kind: 'functionapp,linux',
        tags: { ...tags, ...TAGS, 'meadowrun-version': settings.MEADOWRUN_VERSION },
        identity: { type: 'SystemAssigned' },
        serverFarmId: planId,
        httpsOnly: true,
        siteConfig: { appSettings: Object.entries(settings).map(([name, value]) => ({ name, value })), minTlsVersion: '1.2', ftpsState: 'Disabled' },
        functionAppConfig: this.appConfig(),
      },
      this.lro(),
    );
  }

  /** Flex Consumption's part of the app: where its package is deployed from, its runtime, its size. */
  private appConfig() {
    return {
      deployment: { storage: { type: 'blobContainer', value: `${serviceUrl(this.cloud.storageAccount, 'blob')}/${PACKAGE_CONTAINER}`, authentication: { type: 'SystemAssignedIdentity' } } },
      runtime: RUNTIME,
      scaleAndConcurrency: { instanceMemoryMB: INSTANCE_MEMORY_MB, maximumInstanceCount: 40 },
    };
  }

  private getApp(): Promise<Site | undefined> {
    return this.web.webApps.get(this.cloud.resourceGroup, this.appName).catch((e) => (statusOf(e) === 404 ? undefined : Promise.reject(e)));
  }

  /** The roles' scopes and definitions: the storage account's data roles, and the VM role on the group (a custom role, made here). */
  private grants(principalId: string) {
    const storage = `${this.rgScope}/providers/Microsoft.Storage/storageAccounts/${this.cloud.storageAccount}`;
    return [...STORAGE_ROLES.map((role) => ({ scope: storage, role })), { scope: this.rgScope, role: this.vmRoleId() }].map((g) => ({ ...g, name: roleAssignmentName(g.scope, g.role, principalId) }));
  }

  private vmRoleId(): string {
    return guidOf(`meadowrun-adjuster|${this.rgScope.toLowerCase()}`);
  }

  private async ensureRoles(principalId: string, say: (line: string) => void): Promise<void> {
    const { authorization } = this.cloud.arm;
    const definition = {
      roleName: `Meadowrun management Function (${this.cloud.resourceGroup}, ${this.cloud.subscription.slice(0, 8)})`,
      description: "Meadowrun's management Function: launches and deletes Meadowrun's VMs in this resource group",
      roleType: 'CustomRole',
      permissions: [{ actions: VM_ACTIONS, notActions: [] }],
      assignableScopes: [this.rgScope],
    };
    const existing = await authorization.roleDefinitions.get(byId(this.rgScope), this.vmRoleId()).catch((e) => (statusOf(e) === 404 ? undefined : Promise.reject(e)));
    if (JSON.stringify(existing?.permissions?.[0]?.actions ?? []) !== JSON.stringify(VM_ACTIONS)) {
      await authorization.roleDefinitions.createOrUpdate(byId(this.rgScope), this.vmRoleId(), definition);
      say(`${existing ? 'Updated' : 'Created'} the custom role "${definition.roleName}" (VMs of the resource group, with their NIC, address and disk)`);
    }
    let added = 0;
    for (const g of this.grants(principalId)) {
      const there = await authorization.roleAssignments.get(byId(g.scope), g.name).catch((e) => (statusOf(e) === 404 ? undefined : Promise.reject(e)));
      if (there) continue;
      await assignRole(authorization, this.cloud.subscription, g.scope, g.role, principalId, 'ServicePrincipal');
      added++;
    }
    if (added) say(`Gave the Function's identity its ${added} roles (table, queue and blob data on ${this.cloud.storageAccount}; the custom VM role on ${this.cloud.resourceGroup})`);
  }

  /**
   * OneDeploy: the zip POSTed to the app's SCM host with a Resource Manager token, then the
   * deployment's status read until it ends (Kudu's status 4 is success, 3 failure; Flex Consumption
   * answers 200 while it runs, so the body says).
   */
  private async deploy(site: Site, pkg: Buffer, say: (line: string) => void): Promise<void> {
    const scm = site.hostNameSslStates?.find((h) => h.hostType === 'Repository')?.name ?? site.enabledHostNames?.find((h) => h.includes('.scm.'));
    if (!scm) throw new MeadowrunError(`The Function app ${this.appName} has no SCM host to deploy to`, 'error');
    const token = (await this.cloud.credential.getToken(ARM_SCOPE))?.token;
    const publish = await this.scm(scm, 'POST', '/api/publish?RemoteBuild=false', token, pkg);
    if (publish.status !== 200 && publish.status !== 202) {
      throw new MeadowrunError(`Deploying the management Function failed: ${scm} answered HTTP ${publish.status} ${publish.body.slice(0, 300)}`, 'error');
    }
    say(`Uploaded the package to ${scm} (OneDeploy)`);
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const r = await this.scm(scm, 'GET', '/api/deployments/latest', token);
      const status = r.status === 200 ? (JSON.parse(r.body) as { status?: number; status_text?: string; complete?: boolean }) : undefined;
      if (status?.status === 4) return;
      if (status?.status === 3) throw new MeadowrunError(`Deploying the management Function failed: ${status.status_text || 'the deployment says it failed'}`, 'error');
      if (r.status !== 200 && r.status !== 202 && r.status !== 404) throw new MeadowrunError(`Reading the management Function's deployment failed: HTTP ${r.status} ${r.body.slice(0, 300)}`, 'error');
      if (Date.now() > deadline) throw new MeadowrunError(`The management Function's deployment did not end within 10 minutes (see ${scm}/api/deployments/latest)`, 'error');
      await new Promise((resolve) => setTimeout(resolve, this.o.pollMs ?? 3000));
    }
  }

  /** One request to the SCM host (at scmEndpoint, when set, with the host as its Host header). */
  private scm(host: string, method: string, path: string, token: string | undefined, body?: Buffer): Promise<{ status: number; body: string }> {
    const base = new URL(this.o.scmEndpoint ?? `https://${host}`);
    return new Promise((resolve, reject) => {
      const req = https.request(
        // The certificate is checked against where it connects (SNI and identity), not the Host header.
        { host: base.hostname, servername: isIP(base.hostname) ? '' : base.hostname, port: base.port || 443, path, method, timeout: 120_000, headers: { host, authorization: `Bearer ${token}`, ...(body && { 'content-type': 'application/zip', 'content-length': body.length }) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${host} did not answer within 120 s`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async uninstall(o: ManagementProgress = {}): Promise<void> {
    const say = o.onProgress ?? (() => undefined);
    const { authorization } = this.cloud.arm;
    const gone = (e: unknown) => (statusOf(e) === 404 ? false : Promise.reject(e));
    const site = await this.getApp();
    // The app first, so no run starts while its roles go.
    if (site) {
      await this.web.webApps.delete(this.cloud.resourceGroup, this.appName, { deleteEmptyServerFarm: false });
      say(`Deleted the Function app ${this.appName}`);
    }
    const plan = await this.web.appServicePlans.get(this.cloud.resourceGroup, PLAN).catch(gone);
    if (plan) {
      await this.web.appServicePlans.delete(this.cloud.resourceGroup, PLAN);
      say(`Deleted the Flex Consumption plan ${PLAN}`);
    }
    const principal = site?.identity?.principalId;
    let removed = 0;
    for (const g of principal ? this.grants(principal) : []) {
      if (await authorization.roleAssignments.delete(byId(g.scope), g.name).then((r) => !!r?.id, gone)) removed++;
    }
    if (removed) say(`Removed the Function identity's ${removed} role assignments`);
    const role = await authorization.roleDefinitions.get(byId(this.rgScope), this.vmRoleId()).catch(gone);
    if (role) {
      await authorization.roleDefinitions.delete(byId(this.rgScope), this.vmRoleId());
      say(`Deleted the custom role "${role.roleName}"`);
    }
    if (await deletePayloadContainer(this.cloud.dataPlane, PACKAGE_CONTAINER)) say(`Deleted the blob container ${PACKAGE_CONTAINER}`);
    const items = await this.items.deleteAll();
    if (items.length) say(`Removed the management's items from the table ${ALLOCATION_TABLE} (${items.join(', ')})`);
  }

  async status(): Promise<ManagementStatus> {
    const [site, run, config] = await Promise.all([this.getApp(), this.items.readRun(), this.config()]);
    const installed = !!site?.tags?.['meadowrun-package'];
    const every = config.intervalS * 1000;
    return {
      installed,
      version: site?.tags?.['meadowrun-version'],
      detail: site ? `Function app ${this.appName} in ${this.cloud.region} (Flex Consumption), ${scheduleFor(config.intervalS)}${installed ? '' : ', package not deployed'}` : undefined,
      config,
      lastRun: run?.lastRun,
      // The timer keeps its own clock; the last run plus the interval is when the next is due.
      nextRunAt: installed ? Math.max(Date.now(), (run?.lastRun.at ?? Date.now()) + every) : undefined,
      logGroup: site ? `${this.appName} (log stream)` : undefined,
      logLink: site?.id ? `https://portal.azure.com/#resource${site.id}/logStream` : undefined,
    };
  }

  runOnce(o: { dryRun?: boolean; now?: number } = {}): Promise<AdjusterRun> {
    return runFromClient(this.cloud, this.items, o);
  }

  private lro() {
    return this.cloud.armEndpoint ? { updateIntervalInMs: 50 } : {};
  }
}

function scheduleOf(settings: Record<string, string>): string {
  return `timer ${settings.MEADOWRUN_SCHEDULE}`;
}
