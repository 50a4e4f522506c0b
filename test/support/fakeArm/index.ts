// A stand-in for Azure Resource Manager, which has no emulator that runs here: HTTPS on 127.0.0.1
// with a certificate made for the test (the ARM SDKs refuse bearer tokens over plain http), doing
// exactly the calls Meadowrun's Azure provider makes, with ARM's status codes and long-running
// operation protocols:
// - Microsoft.Compute and Microsoft.Network PUT → 201 (new) or 200 with provisioningState
//   Creating/Updating and an Azure-AsyncOperation header; the operation's status document
//   ({name, status: InProgress|Succeeded|Failed, startTime, endTime, error}) at
//   /subscriptions/S/providers/P/locations/L/operations/ID; DELETE → 202 with Azure-AsyncOperation
//   and Location (the Location answers 202 until done, then 204).
// - Microsoft.Storage PUT → 202 with Location only (…/asyncoperations/ID), 200 with the account when done.
// - Resource groups, managed identities, role assignments, Key Vaults: synchronous 200/201; deleting
//   a resource group → 202 with Location, and takes every resource in it.
// - Key Vaults are soft-deleted (unless enableSoftDelete is false): a deleted vault is listed under
//   /subscriptions/S/providers/Microsoft.KeyVault/deletedVaults and at
//   …/locations/L/deletedVaults/NAME (404 DeletedVaultNotFound once gone), keeps its name (creating
//   it again → 409 ConflictError "Exist soft deleted vault with the same name.", unless createMode is
//   recover) until purged: POST …/deletedVaults/NAME/purge → 202 with a Location that answers 202
//   until done, then 200 (refused while purge protection is on). A linked stand-in Key Vault
//   (linkKeyVault) loses its secrets with the purge.
// - Microsoft.Web (the management Function): a serverfarm PUT → 200 with the plan; a site PUT → 202
//   with the site and an Azure-AsyncOperation (…/sites/NAME/operationResults/ID), the site showing
//   its system-assigned identity's principal, its host names (<app>.azurewebsites.net and the SCM
//   host <app>.scm.azurewebsites.net) and no app settings (GET never shows them); DELETE → 200.
// - The app's SCM (Kudu) host on this same server, told apart by the Host header: OneDeploy's
//   POST /api/publish (application/zip, a bearer token) → 202 with the deployment id, the package
//   kept; GET /api/deployments/latest → 200 while it runs too, its body saying (status 1 building,
//   3 failed, 4 success; a package without host.json fails, as the Functions host would not start).
// - GET of a missing resource → 404 {error:{code:ResourceNotFound|ResourceGroupNotFound}}.
// Shapes follow azure-rest-api-specs' examples and recorded operation documents; excerpts of the
// examples are checked in under ./examples (with their sources) and test/integration/fakeArmShapes.test.ts
// compares every call the provider makes with them. The VM's networkInterfaceConfigurations create
// its NIC and public IP, which go with it (deleteOption Delete).
// Each VM can be backed by a real machine (../ec2emu/machineHost.ts) running its customData with
// cloud-init; the VM creation's operation succeeds once the machine has booted, and its serial log
// (boot diagnostics) is the machine's console. The machine's metadata service (169.254.169.254,
// for the machine's own traffic only) answers as Azure's does: its managed identities' tokens, its
// resource id, and its Scheduled Events — a Spot VM's simulateEviction (POST, 204, as ARM) shows a
// Preempt there, and the VM is evicted (shut down, then deleted: evictionPolicy Delete) once its
// notice has passed.
import * as crypto from 'node:crypto';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ResourceSku } from '@azure/arm-compute';
import { unzip } from '../../../src/cloud/zip';
import { testCertificate } from '../testCertificate';
import type { MachineHost } from '../ec2emu/machineHost';
import type { FakeKeyVault } from '../fakeKeyVault';

export interface VmErrorRule {
  /** ARM's error code: SkuNotAvailable, AllocationFailed, ZonalAllocationFailed, OperationNotAllowed, … */
  code: string;
  message?: string;
  /** Only VMs of this size / priority / zone; any when absent. */
  vmSize?: string;
  priority?: 'Spot' | 'Regular';
  zone?: string;
  /** Fail the PUT itself (HTTP `status`, 409 by default), or accept it and fail its operation (ARM's way for allocation failures). */
  async?: boolean;
  status?: number;
  /** How many creations it fails; every one when absent. */
  times?: number;
}

export interface VmAttempt {
  name: string;
  vmSize: string;
  priority: string;
  zone?: string;
  error?: string;
}

export interface FakeArm {
  /** https://127.0.0.1:PORT */
  endpoint: string;
  subscription: string;
  tenant: string;
  /** The CA that signed the server's certificate (PEM), and a file holding it for NODE_EXTRA_CA_CERTS. */
  ca: string;
  caFile: string;
  /** Environment for a client process: the CA, the endpoint and subscription (see src/cloud/azure/credentials.ts). */
  env: Record<string, string>;
  /** Every request: method and path with query. */
  requests: { method: string; path: string }[];
  /** Writes (PUT, PATCH, POST, DELETE) to paths matching this are refused with 403 AuthorizationFailed, as for a login without the right. */
  refuseWrites?: RegExp;
  /** The Function apps' app settings, by app name (Resource Manager never shows them on GET). */
  appSettings(app: string): Record<string, string> | undefined;
  /** The package OneDeploy last received for an app, and how many it received. */
  deployedPackage(app: string): { zip: Buffer; count: number } | undefined;
  /** Every VM creation attempt, in order. */
  vmAttempts: VmAttempt[];
  /** The resourceSkus list the location offers (eastus). */
  skus: ResourceSku[];
  /** Resource Graph's eviction rate rows, or 'forbidden' to answer 403 as for a subscription without access. */
  evictionRates: { skuName: string; evictionRate: string }[] | 'forbidden';
  injectVmError(rule: VmErrorRule): void;
  /**
   * Holds every VM creation from now on as InProgress (its VM Creating, no machine booted) until the
   * returned function is called: a test's window into a launch under way.
   */
  holdVmCreations(): () => void;
  /** Whether boot diagnostics show the serial log (Azure may have none yet, or the account none at all). */
  serialLog: boolean;
  /** How long a Spot VM's Preempt notice lasts before simulateEviction evicts it (Azure: at least 30 s). */
  evictionNoticeMs: number;
  /** A resource's stored JSON by id (case-insensitive), or undefined. */
  resource(id: string): Record<string, any> | undefined;
  /** Ids of every stored resource (in creation order). */
  resourceIds(): string[];
  /** Names of the soft-deleted Key Vaults (not yet purged). */
  deletedVaults(): string[];
  /** When set, purging a deleted vault is refused as for a login without the right to (403 AuthorizationFailed). */
  purgeForbidden: boolean;
  /** The stand-in Key Vault that is the data plane of every vault here: a purge empties it. */
  linkKeyVault(vault: FakeKeyVault): void;
  stop(): Promise<void>;
}

interface Op {
  id: string;
  provider: string;
  location: string;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  startTime: string;
  endTime?: string;
  error?: { code: string; message: string };
  /** For Location polling: what the final GET answers. */
  result?: () => { status: number; body?: unknown };
}

const SKU_NOT_AVAILABLE = 'The requested VM size for resource is currently not available in location. Please try another size or deploy to a different location or different zone.';

export async function startFakeArm(o: { machines?: MachineHost; location?: string; skus?: ResourceSku[]; opDelayMs?: number } = {}): Promise<FakeArm> {
  const location = o.location ?? 'eastus';
  const subscription = crypto.randomUUID();
  const tenant = crypto.randomUUID();
  const { key, cert, ca, caFile } = testCertificate(['127.0.0.1'], 'fake-arm');
  const store = new Map<string, Record<string, any>>(); // lower-case id → resource
  const ops = new Map<string, Op>();
  const rules: VmErrorRule[] = [];
  const deletedVaults = new Map<string, Record<string, any>>(); // lower-case name → DeletedVault
  let linkedVault: FakeKeyVault | undefined;
  const deployments = new Map<string, { zip: Buffer; count: number; status: Record<string, unknown> }>(); // app name → latest
  let nextIp = 10;
  let held: Promise<void> = Promise.resolve();
  const opDelayMs = o.opDelayMs ?? 50;

  const server = https.createServer({ key, cert }, (req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) send(res, 500, { error: { code: 'InternalServerError', message: `fake ARM: ${(e as Error).stack}` } });
      else res.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fake: FakeArm = {
    endpoint,
    subscription,
    tenant,
    ca,
    caFile,
    env: { NODE_EXTRA_CA_CERTS: caFile, MEADOWRUN_AZURE_ARM_ENDPOINT: endpoint, AZURE_SUBSCRIPTION_ID: subscription },
    requests: [],
    vmAttempts: [],
    skus: o.skus ?? defaultSkus(location),
    evictionRates: 'forbidden',
    injectVmError: (rule) => void rules.push({ ...rule }),
    appSettings: (app) => {
      const site = [...store.values()].find((r) => r.type === 'Microsoft.Web/sites' && r.name.toLowerCase() === app.toLowerCase());
      return site?.__appSettings;
    },
    deployedPackage: (app) => {
      const d = deployments.get(app.toLowerCase());
      return d && { zip: d.zip, count: d.count };
    },
    evictionNoticeMs: 30_000,
    holdVmCreations() {
      let release!: () => void;
      held = new Promise<void>((r) => (release = r));
      return () => {
        held = Promise.resolve();
        release();
      };
    },
    serialLog: true,
    resource: (id) => store.get(id.toLowerCase()),
    resourceIds: () => [...store.values()].map((r) => r.id as string),
    deletedVaults: () => [...deletedVaults.values()].map((v) => v.name as string),
    purgeForbidden: false,
    linkKeyVault: (vault) => void (linkedVault = vault),
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      for (const vm of [...store.values()].filter((r) => r.type === 'Microsoft.Compute/virtualMachines')) o.machines?.destroy(vm.name);
    },
  };

  const startOp = (provider: string, work: () => Promise<void>, result?: Op['result']): Op => {
    const op: Op = { id: crypto.randomUUID(), provider, location, status: 'InProgress', startTime: new Date().toISOString(), result };
    ops.set(op.id, op);
    const finish = (error?: { code: string; message: string }) => {
      op.status = error ? 'Failed' : 'Succeeded';
      op.endTime = new Date().toISOString();
      if (error) op.error = error;
    };
    setTimeout(() => {
      work().then(
        () => finish(),
        (e) => finish(e?.code ? { code: e.code, message: e.message } : { code: 'InternalOperationError', message: String(e?.message ?? e) }),
      );
    }, opDelayMs);
    return op;
  };
  const asyncHeader = (op: Op, apiVersion: string) => `${endpoint}/subscriptions/${subscription}/providers/${op.provider}/locations/${location}/operations/${op.id}?api-version=${apiVersion}`;
  const locationHeader = (op: Op, apiVersion: string) => `${endpoint}/subscriptions/${subscription}/providers/${op.provider}/locations/${location}/operationResults/${op.id}?api-version=${apiVersion}`;

  async function handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', endpoint);
    const method = req.method ?? 'GET';
    fake.requests.push({ method, path: `${url.pathname}${url.search}` });
    const scmApp = /^([^.:]+)\.scm\.azurewebsites\.net$/i.exec(req.headers.host ?? '')?.[1];
    if (scmApp) return scm(req, res, scmApp.toLowerCase(), method, url, raw);
    const text = raw.toString();
    const body = text ? JSON.parse(text) : undefined;
    const apiVersion = url.searchParams.get('api-version') ?? '';

    // Boot diagnostics' serial log, as a SAS URL the client fetches without a token.
    const serial = /^\/bootdiagnostics\/([^/]+)\/serialconsole\.log$/i.exec(url.pathname);
    if (serial && method === 'GET') {
      const console = fake.serialLog ? (o.machines?.consoleOutput(serial[1]) ?? '') : '';
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(console), 'x-ms-blob-type': 'BlockBlob' });
      return void res.end(console);
    }
    if (!/^Bearer \S+/.test(req.headers.authorization ?? '')) {
      res.setHeader('WWW-Authenticate', `Bearer authorization_uri="https://login.microsoftonline.com/${tenant}", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`);
      return send(res, 401, { error: { code: 'AuthenticationFailed', message: "Authentication failed. The 'Authorization' header is missing." } });
    }
    if (!apiVersion) return send(res, 400, { error: { code: 'MissingApiVersionParameter', message: "The api-version query parameter (?api-version=) is required for all requests." } });

    const p = url.pathname.replace(/\/+$/, '');
    if (fake.refuseWrites?.test(p) && method !== 'GET' && method !== 'HEAD') {
      const type = parseId(p)?.type ?? 'resource';
      return send(res, 403, {
        error: {
          code: 'AuthorizationFailed',
          message: `The client 'user@example.com' with object id '${crypto.randomUUID()}' does not have authorization to perform action '${type}/write' over scope '${p}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
        },
      });
    }
    const sub = `/subscriptions/${subscription}`;
    if (!p.toLowerCase().startsWith(sub.toLowerCase()) && !p.toLowerCase().startsWith('/providers/microsoft.resourcegraph')) {
      return send(res, 404, { error: { code: 'SubscriptionNotFound', message: `The subscription '${p.split('/')[2]}' could not be found.` } });
    }

    // Long-running operations.
    const opMatch =
      /\/providers\/([^/]+)\/locations\/[^/]+\/(operations|operationResults|asyncoperations)\/([^/]+)$/i.exec(p) ??
      // A Function app's creation, as App Service names it.
      /\/providers\/(Microsoft\.Web)\/sites\/[^/]+\/(operationResults)\/([^/]+)$/i.exec(p)?.map((x, i) => (i === 2 ? 'operations' : x));
    if (opMatch && method === 'GET') {
      const op = ops.get(opMatch[3]);
      if (!op) return send(res, 404, { error: { code: 'NotFound', message: 'operation not found' } });
      if (opMatch[2].toLowerCase() === 'operations') {
        // Microsoft.Network's status document is only its status (as @azure/arm-network's recordings show); Compute's has its times.
        const times = op.provider === 'Microsoft.Network' ? {} : { name: op.id, startTime: op.startTime, ...(op.endTime && { endTime: op.endTime }) };
        return send(res, 200, { ...times, status: op.status, ...(op.error && { error: op.error }) });
      }
      if (op.status === 'InProgress') {
        res.setHeader('Location', `${endpoint}${url.pathname}${url.search}`);
        return send(res, 202, undefined);
      }
      if (op.status === 'Failed') return send(res, 400, { error: op.error });
      const r = op.result?.() ?? { status: 204 };
      return send(res, r.status, r.body);
    }

    // Soft-deleted Key Vaults (shapes of azure-rest-api-specs' Key Vault examples listDeletedVaults.json, purgeDeletedVault.json).
    if (p.toLowerCase() === `${sub}/providers/microsoft.keyvault/deletedvaults`.toLowerCase() && method === 'GET') {
      return send(res, 200, { value: [...deletedVaults.values()].map((v) => view(v)) });
    }
    const deleted = /\/providers\/Microsoft\.KeyVault\/locations\/([^/]+)\/deletedVaults\/([^/]+)(\/purge)?$/i.exec(p);
    if (deleted) {
      const [, where, name, purge] = deleted;
      const found = deletedVaults.get(name.toLowerCase());
      if (!found || found.properties.location !== where.toLowerCase()) {
        return send(res, 404, { error: { code: 'DeletedVaultNotFound', message: `The specified deleted vault '${name}' does not exist.` } });
      }
      if (!purge && method === 'GET') return send(res, 200, view(found));
      if (purge && method === 'POST') {
        if (found.properties.purgeProtectionEnabled) {
          // Key Vault's refusal as recorded for a protected vault's objects (403 Forbidden); Meadowrun never asks this.
          return send(res, 403, { error: { code: 'Forbidden', message: `Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed. Vault: ${name};location=${where}` } });
        }
        if (fake.purgeForbidden) {
          const action = 'Microsoft.KeyVault/locations/deletedVaults/purge/action';
          return send(res, 403, { error: { code: 'AuthorizationFailed', message: `The client 'dev@example.com' with object id '${tenant}' does not have authorization to perform action '${action}' over scope '${p.replace(/\/purge$/i, '')}' or the scope is invalid. If access was recently granted, please refresh your credentials.` } });
        }
        const op = startOp('Microsoft.KeyVault', async () => {
          deletedVaults.delete(name.toLowerCase());
          linkedVault?.clear();
        }, () => ({ status: 200 }));
        res.setHeader('Location', locationHeader(op, apiVersion));
        return send(res, 202, undefined);
      }
    }

    // Resource Graph: the eviction rates.
    if (/^\/providers\/microsoft\.resourcegraph\/resources$/i.test(p) && method === 'POST') {
      if (fake.evictionRates === 'forbidden') {
        return send(res, 403, { error: { code: 'AuthorizationFailed', message: `The client does not have authorization to perform action 'Microsoft.ResourceGraph/resources/read'.` } });
      }
      const where = /location =~ '([a-z0-9]+)'/.exec(body?.query ?? '')?.[1];
      const data = where === location ? fake.evictionRates : [];
      return send(res, 200, { totalRecords: data.length, count: data.length, data, facets: [], resultTruncated: 'false' });
    }

    // resourceSkus
    if (p.toLowerCase() === `${sub}/providers/microsoft.compute/skus`.toLowerCase() && method === 'GET') {
      const filter = url.searchParams.get('$filter') ?? '';
      const wanted = /location eq '([^']+)'/.exec(filter)?.[1];
      const value = wanted && wanted !== location ? [] : fake.skus;
      return send(res, 200, { value });
    }

    // Boot diagnostics
    const bootDiag = /^(.*\/providers\/Microsoft\.Compute\/virtualMachines\/([^/]+))\/retrieveBootDiagnosticsData$/i.exec(p);
    if (bootDiag && method === 'POST') {
      const vm = store.get(bootDiag[1].toLowerCase());
      if (!vm) return notFound(res, bootDiag[1]);
      const sig = `sv=2024-08-04&sr=b&sig=${crypto.randomBytes(16).toString('hex')}&se=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}&sp=r`;
      return send(res, 200, {
        consoleScreenshotBlobUri: `${endpoint}/bootdiagnostics/${vm.name}/screenshot.bmp?${sig}`,
        serialConsoleLogBlobUri: `${endpoint}/bootdiagnostics/${vm.name}/serialconsole.log?${sig}`,
      });
    }

    // A Spot VM's eviction, simulated: the Preempt event now, the eviction after its notice.
    const evict = /^(.*\/providers\/Microsoft\.Compute\/virtualMachines\/[^/]+)\/simulateEviction$/i.exec(p);
    if (evict && method === 'POST') {
      const vm = store.get(evict[1].toLowerCase());
      if (!vm) return notFound(res, evict[1]);
      if (vm.properties?.priority !== 'Spot') return send(res, 409, { error: { code: 'OperationNotAllowed', message: 'Simulate eviction is only supported for Spot virtual machines.' } });
      simulateEviction(vm);
      return send(res, 204, undefined);
    }

    // The VM's instance view.
    const iv = /^(.*\/providers\/Microsoft\.Compute\/virtualMachines\/[^/]+)\/instanceView$/i.exec(p);
    if (iv && method === 'GET') {
      const vm = store.get(iv[1].toLowerCase());
      return vm ? send(res, 200, instanceView(vm)) : notFound(res, iv[1]);
    }

    // A resource group's resources (what `resources.listByResourceGroup` shows: top-level resources, no role assignments).
    const listed = /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)\/resources$/i.exec(p);
    if (listed && method === 'GET') {
      const rg = `${sub}/resourceGroups/${listed[1]}/providers/`.toLowerCase();
      if (!store.has(`${sub}/resourceGroups/${listed[1]}`.toLowerCase())) return notFound(res, p, { resourceGroup: listed[1], provider: 'Microsoft.Resources', type: 'Microsoft.Resources/resourceGroups', name: listed[1], collection: false });
      const value = [...store.values()]
        .filter((r) => (r.id as string).toLowerCase().startsWith(rg) && (r.id as string).split('/').length === 9 && !/Microsoft\.Authorization/i.test(r.type))
        .map((r) => ({ id: r.id, name: r.name, type: r.type, location: r.location, ...(r.tags && { tags: r.tags }), ...(r.sku && { sku: r.sku }), ...(r.kind && { kind: r.kind }) }));
      return send(res, 200, { value });
    }

    const parsed = parseId(p);
    if (!parsed) return send(res, 400, { error: { code: 'InvalidRequestUri', message: `fake ARM: no route for ${method} ${p}` } });
    const id = p;
    const key = id.toLowerCase();
    const rgId = `${sub}/resourceGroups/${parsed.resourceGroup}`;

    if (parsed.collection && method === 'GET') {
      const prefix = `${key}/`;
      const value = [...store.values()].filter((r) => {
        const k = (r.id as string).toLowerCase();
        return k.startsWith(prefix) && !k.slice(prefix.length).includes('/');
      });
      return send(res, 200, { value: value.map((v) => view(v, url)) });
    }
    if (method === 'HEAD') return send(res, store.has(key) ? 204 : 404, undefined);
    if (method === 'GET') {
      const r = store.get(key);
      return r ? send(res, 200, view(r, url)) : notFound(res, id, parsed);
    }
    if (method === 'PUT' || method === 'PATCH') {
      if (parsed.type !== 'Microsoft.Resources/resourceGroups' && !store.has(rgId.toLowerCase())) {
        return send(res, 404, { error: { code: 'ResourceGroupNotFound', message: `Resource group '${parsed.resourceGroup}' could not be found.` } });
      }
      const existing = store.get(key);
      const merged = method === 'PATCH' && existing ? deepMerge(existing, body ?? {}) : { ...(body ?? {}) };
      const resource: Record<string, any> = {
        ...merged,
        id,
        name: parsed.name,
        type: parsed.type,
        // Role assignments and definitions, and child resources (a security rule, a subnet) have no location of their own.
        ...(parsed.provider !== 'Microsoft.Authorization' && parsed.type.split('/').length === 2 && { location: merged.location ?? existing?.location ?? location }),
      };
      if (parsed.type === 'Microsoft.Compute/virtualMachines') return putVm(res, resource, existing, apiVersion);
      if (parsed.type === 'Microsoft.KeyVault/vaults' && !existing && deletedVaults.has(parsed.name.toLowerCase())) {
        // A vault's name stays taken while it is soft-deleted: recover it, or purge it first.
        if (resource.properties?.createMode !== 'recover') return send(res, 409, { error: { code: 'ConflictError', message: 'Exist soft deleted vault with the same name. ' } });
        const { __vault } = deletedVaults.get(parsed.name.toLowerCase())!;
        deletedVaults.delete(parsed.name.toLowerCase());
        const { createMode: _, ...props } = resource.properties;
        resource.properties = { ...__vault.properties, ...props };
      }
      decorate(resource, existing);
      if (parsed.provider === 'Microsoft.Network') {
        resource.properties = { ...(resource.properties ?? {}), provisioningState: existing ? 'Updating' : 'Updating' };
        store.set(key, resource);
        const op = startOp('Microsoft.Network', async () => {
          resource.properties.provisioningState = 'Succeeded';
          for (const sn of resource.properties.subnets ?? []) sn.properties.provisioningState = 'Succeeded';
          for (const rule of resource.properties.securityRules ?? []) rule.properties.provisioningState = 'Succeeded';
        });
        res.setHeader('Azure-AsyncOperation', asyncHeader(op, apiVersion));
        return send(res, existing ? 200 : 201, view(resource, url));
      }
      if (parsed.type === 'Microsoft.Web/serverfarms') {
        resource.properties = { ...(resource.properties ?? {}), status: 'Ready', provisioningState: 'Succeeded', reserved: resource.properties?.reserved ?? false, numberOfSites: 0 };
        store.set(key, resource);
        return send(res, 200, view(resource, url));
      }
      if (parsed.type === 'Microsoft.Web/sites') {
        putSite(resource, existing);
        store.set(key, resource);
        const op = startOp('Microsoft.Web', async () => undefined);
        // As azure-rest-api-specs' CreateOrUpdateFunctionAppFlexConsumption: 202 with the site and an
        // Azure-AsyncOperation under the site's own operationResults.
        res.setHeader('Azure-AsyncOperation', `${endpoint}${sub}/providers/Microsoft.Web/sites/${parsed.name}/operationResults/${op.id}?api-version=${apiVersion}`);
        return send(res, 202, view(resource, url));
      }
      if (parsed.provider === 'Microsoft.Storage') {
        resource.properties = { ...(resource.properties ?? {}), provisioningState: 'Creating' };
        store.set(key, resource);
        const op = startOp('Microsoft.Storage', async () => void (resource.properties.provisioningState = 'Succeeded'), () => ({ status: 200, body: view(resource, url) }));
        res.setHeader('Location', `${endpoint}${sub}/providers/Microsoft.Storage/locations/${location}/asyncoperations/${op.id}?monitor=true&api-version=${apiVersion}`);
        res.setHeader('Retry-After', '1');
        return send(res, 202, undefined);
      }
      if (parsed.type === 'Microsoft.KeyVault/vaults') resource.properties = { ...resource.properties, vaultUri: `https://${parsed.name}.vault.azure.net` };
      // (Role assignments and managed identities have no provisioningState.)
      const stateless = ['Microsoft.Authorization/roleAssignments', 'Microsoft.ManagedIdentity/userAssignedIdentities'].includes(parsed.type);
      if ((resource.properties && !stateless) || parsed.type === 'Microsoft.Resources/resourceGroups') {
        resource.properties = { ...(resource.properties ?? {}), provisioningState: 'Succeeded' };
      }
      store.set(key, resource);
      return send(res, existing ? 200 : 201, view(resource, url));
    }
    if (method === 'DELETE') {
      const existing = store.get(key);
      if (!existing) return send(res, 204, undefined);
      if (parsed.type === 'Microsoft.Resources/resourceGroups') {
        const op = startOp('Microsoft.Resources', async () => {
          for (const r of [...store.values()]) {
            if ((r.id as string).toLowerCase().startsWith(`${key}/`)) removeResource(r);
          }
          store.delete(key);
        });
        res.setHeader('Location', locationHeader(op, apiVersion));
        res.setHeader('Retry-After', '1');
        return send(res, 202, undefined);
      }
      if (parsed.provider === 'Microsoft.Compute' || parsed.provider === 'Microsoft.Network') {
        if (existing.properties) existing.properties.provisioningState = 'Deleting';
        const op = startOp(parsed.provider, async () => removeResource(existing));
        res.setHeader('Azure-AsyncOperation', asyncHeader(op, apiVersion));
        res.setHeader('Location', locationHeader(op, apiVersion));
        return send(res, 202, undefined);
      }
      removeResource(existing);
      // Role assignments and definitions answer with what was deleted.
      return send(res, 200, parsed.provider === 'Microsoft.Authorization' ? view(existing) : undefined);
    }
    return send(res, 405, { error: { code: 'MethodNotAllowed', message: `${method} ${p}` } });
  }

  /** What the service adds to a stored resource: subnet and rule ids, an identity's principal. */
  function decorate(r: Record<string, any>, existing?: Record<string, any>): void {
    if (r.type === 'Microsoft.Network/virtualNetworks') {
      for (const sn of r.properties?.subnets ?? []) {
        sn.id = `${r.id}/subnets/${sn.name}`;
        sn.type = 'Microsoft.Network/virtualNetworks/subnets';
        sn.properties = { ...(sn.properties ?? {}), provisioningState: 'Updating' };
      }
    }
    if (r.type === 'Microsoft.Network/networkSecurityGroups') {
      for (const rule of r.properties?.securityRules ?? []) {
        rule.id = `${r.id}/securityRules/${rule.name}`;
        rule.type = 'Microsoft.Network/networkSecurityGroups/securityRules';
        rule.properties = { ...(rule.properties ?? {}), provisioningState: 'Updating' };
      }
      // Every group has Azure's six default rules (lowest priority), which no PUT changes.
      r.properties = { ...r.properties, defaultSecurityRules: defaultSecurityRules(r.id) };
    }
    if (r.type === 'Microsoft.Network/networkSecurityGroups/securityRules') {
      // A rule PUT on its own also shows in its group's securityRules.
      const nsg = store.get(r.id.toLowerCase().replace(/\/securityrules\/[^/]+$/, ''));
      if (nsg) {
        const rules = (nsg.properties.securityRules ?? []).filter((x: any) => x.name.toLowerCase() !== r.name.toLowerCase());
        nsg.properties.securityRules = [...rules, r];
      }
    }
    if (r.type === 'Microsoft.ManagedIdentity/userAssignedIdentities') {
      r.properties = existing?.properties ?? { tenantId: tenant, principalId: crypto.randomUUID(), clientId: crypto.randomUUID() };
    }
    if (r.type === 'Microsoft.Authorization/roleAssignments') {
      r.properties = { ...r.properties, scope: r.id.replace(/\/providers\/Microsoft\.Authorization\/roleAssignments\/[^/]+$/i, '') };
    }
  }

  function simulateEviction(vm: Record<string, any>): void {
    const notBefore = new Date(Date.now() + fake.evictionNoticeMs);
    // The shape of learn.microsoft.com/azure/virtual-machines/linux/scheduled-events.
    const event = {
      EventId: crypto.randomUUID(), EventType: 'Preempt', ResourceType: 'VirtualMachine', Resources: [vm.name], EventStatus: 'Scheduled',
      NotBefore: notBefore.toUTCString(), Description: 'Spot eviction (simulated)', EventSource: 'Platform', DurationInSeconds: -1,
    };
    if (o.machines?.instance(vm.name)) o.machines.updateMeta(vm.name, { scheduledEvents: [event] });
    setTimeout(async () => {
      if (store.get((vm.id as string).toLowerCase()) !== vm) return;
      vm.properties.provisioningState = 'Deleting';
      vm.__power = 'stopping';
      if (o.machines?.instance(vm.name)) {
        o.machines.powerOff(vm.name);
        await o.machines.waitForOff(vm.name, 30_000).catch(() => undefined);
      }
      removeResource(vm);
    }, fake.evictionNoticeMs).unref();
  }

  /** What the VM's metadata service says of it (its managed identities, its id). */
  function azureMeta(vm: Record<string, any>): Record<string, unknown> {
    const identities = Object.keys(vm.identity?.userAssignedIdentities ?? {}).flatMap((id) => {
      const identity = store.get(id.toLowerCase());
      return identity ? [{ clientId: identity.properties.clientId, principalId: identity.properties.principalId, resourceId: identity.id }] : [];
    });
    if (vm.identity?.principalId) identities.push({ clientId: vm.__systemClientId, principalId: vm.identity.principalId, resourceId: vm.id });
    return { resourceId: vm.id, tenantId: tenant, identities };
  }

  function removeResource(r: Record<string, any>): void {
    store.delete((r.id as string).toLowerCase());
    if (r.type === 'Microsoft.KeyVault/vaults' && r.properties?.enableSoftDelete !== false) {
      const now = new Date();
      const days = r.properties?.softDeleteRetentionInDays ?? 90;
      deletedVaults.set(r.name.toLowerCase(), {
        id: `/subscriptions/${subscription}/providers/Microsoft.KeyVault/locations/${r.location}/deletedVaults/${r.name}`,
        name: r.name,
        type: 'Microsoft.KeyVault/deletedVaults',
        properties: {
          vaultId: r.id,
          location: r.location,
          tags: r.tags ?? {},
          deletionDate: now.toISOString().replace(/\.\d+Z$/, 'Z'),
          scheduledPurgeDate: new Date(now.getTime() + days * 86400_000).toISOString().replace(/\.\d+Z$/, 'Z'),
          purgeProtectionEnabled: r.properties?.enablePurgeProtection === true,
        },
        __vault: r,
      });
    }
    if (r.type === 'Microsoft.Web/sites') deployments.delete(r.name.toLowerCase());
    if (r.type === 'Microsoft.Compute/virtualMachines') {
      r.__deleted?.();
      o.machines?.destroy(r.name);
      // deleteOption Delete: the NIC and public IP (and the OS disk) go with the VM.
      for (const dep of r.__dependents ?? []) store.delete(dep.toLowerCase());
    }
    if (r.type === 'Microsoft.Network/networkSecurityGroups/securityRules') {
      const nsg = store.get((r.id as string).toLowerCase().replace(/\/securityrules\/[^/]+$/, ''));
      if (nsg) nsg.properties.securityRules = (nsg.properties.securityRules ?? []).filter((x: any) => x.name.toLowerCase() !== r.name.toLowerCase());
    }
  }

  /** What App Service adds to a Function app: its identity's principal, host names, state; app settings kept aside. */
  function putSite(site: Record<string, any>, existing?: Record<string, any>): void {
    const props = site.properties ?? {};
    const appSettings = props.siteConfig?.appSettings as { name: string; value: string }[] | undefined;
    site.__appSettings = appSettings ? Object.fromEntries(appSettings.map((s) => [s.name, s.value])) : existing?.__appSettings;
    const host = `${site.name}.azurewebsites.net`.toLowerCase();
    const scmHost = `${site.name}.scm.azurewebsites.net`.toLowerCase();
    if (site.identity?.type?.includes('SystemAssigned')) {
      site.identity = { ...site.identity, principalId: existing?.identity?.principalId ?? crypto.randomUUID(), tenantId: tenant };
    }
    site.properties = {
      ...props,
      siteConfig: Object.fromEntries(Object.entries(props.siteConfig ?? {}).filter(([k]) => k !== 'appSettings')),
      state: 'Running',
      hostNames: [host],
      enabledHostNames: [host, scmHost],
      hostNameSslStates: [
        { name: host, sslState: 'Disabled', hostType: 'Standard' },
        { name: scmHost, sslState: 'Disabled', hostType: 'Repository' },
      ],
      defaultHostName: host,
      usageState: 'Normal',
      availabilityState: 'Normal',
      enabled: true,
      repositorySiteName: site.name,
    };
  }

  /** The SCM (Kudu) host of a Function app: OneDeploy and its deployments' status. */
  function scm(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, app: string, method: string, url: URL, raw: Buffer): void {
    const site = [...store.values()].find((r) => r.type === 'Microsoft.Web/sites' && r.name.toLowerCase() === app);
    if (!site) return send(res, 404, { error: { code: 'NotFound', message: `no site ${app}` } });
    if (!/^Bearer \S+/.test(req.headers.authorization ?? '')) return send(res, 401, undefined);
    if (method === 'POST' && url.pathname === '/api/publish') {
      if (url.searchParams.get('RemoteBuild') !== 'false') return send(res, 400, { Message: 'fake SCM: Meadowrun deploys built packages (RemoteBuild=false)' });
      if (!/^application\/zip/.test(req.headers['content-type'] ?? '')) return send(res, 415, undefined);
      const previous = deployments.get(app);
      if (previous && previous.status.complete === false) return send(res, 409, { Message: 'There is a deployment currently in progress.' });
      const id = crypto.randomUUID();
      const now = new Date().toISOString();
      const status: Record<string, unknown> = {
        id, status: 1, status_text: 'Building', author_email: 'N/A', author: 'N/A', deployer: 'OneDeploy', message: 'OneDeploy', progress: '',
        received_time: now, start_time: now, end_time: null, last_success_end_time: previous?.status.last_success_end_time ?? null, complete: false, active: false,
        is_temp: false, is_readonly: true, url: `https://${req.headers.host}/api/deployments/${id}`, log_url: `https://${req.headers.host}/api/deployments/${id}/log`, site_name: site.name,
      };
      deployments.set(app, { zip: raw, count: (previous?.count ?? 0) + 1, status });
      setTimeout(() => {
        let names: string[] = [];
        try {
          names = unzip(raw).map((e) => e.name);
        } catch {
          // not a zip: fails below
        }
        const ok = names.includes('host.json');
        Object.assign(status, { status: ok ? 4 : 3, status_text: ok ? '' : 'Failed to deploy: host.json not found at the root of the package', complete: true, active: ok, end_time: new Date().toISOString(), ...(ok && { last_success_end_time: new Date().toISOString() }) });
      }, opDelayMs * 4);
      res.setHeader('Location', `https://${req.headers.host}/api/deployments/latest`);
      return send(res, 202, id);
    }
    const dep = /^\/api\/deployments\/([^/]+)$/.exec(url.pathname);
    if (method === 'GET' && dep) {
      const d = deployments.get(app);
      if (!d || (dep[1] !== 'latest' && dep[1] !== d.status.id)) return send(res, 404, { Message: 'Deployment not found' });
      return send(res, 200, d.status);
    }
    return send(res, 404, { Message: `fake SCM: no route for ${method} ${url.pathname}` });
  }

  function putVm(res: import('node:http').ServerResponse, vm: Record<string, any>, existing: Record<string, any> | undefined, apiVersion: string): void {
    const props = vm.properties ?? {};
    const vmSize: string = props.hardwareProfile?.vmSize ?? '';
    const priority: string = props.priority ?? 'Regular';
    const zone: string | undefined = vm.zones?.[0];
    const attempt: VmAttempt = { name: vm.name, vmSize, priority, ...(zone && { zone }) };
    fake.vmAttempts.push(attempt);
    if (existing) return send(res, 409, { error: { code: 'OperationNotAllowed', message: 'fake ARM: updating a VM is not supported' } });
    if (!fake.skus.some((s) => s.name?.toLowerCase() === vmSize.toLowerCase())) {
      attempt.error = 'SkuNotAvailable';
      return send(res, 409, { error: { code: 'SkuNotAvailable', message: SKU_NOT_AVAILABLE } });
    }
    if (!props.osProfile?.customData && !props.userData) {
      return send(res, 400, { error: { code: 'InvalidParameter', message: 'fake ARM: Meadowrun VMs always carry customData' } });
    }
    const rule = rules.find(
      (r) => (r.times === undefined || r.times > 0) && (!r.vmSize || r.vmSize === vmSize) && (!r.priority || r.priority === priority) && (!r.zone || r.zone === zone),
    );
    if (rule) {
      if (rule.times !== undefined) rule.times--;
      attempt.error = rule.code;
    }
    const message = rule?.message ?? (rule && errorMessage(rule.code, vmSize, priority));
    if (rule && !rule.async) return send(res, rule.status ?? 409, { error: { code: rule.code, message } });

    // The NIC and public IP its networkInterfaceConfigurations ask for.
    const rgPath = vm.id.replace(/\/providers\/Microsoft\.Compute\/virtualMachines\/[^/]+$/i, '');
    const nicConfig = props.networkProfile?.networkInterfaceConfigurations?.[0];
    const ipConfig = nicConfig?.properties?.ipConfigurations?.[0];
    const pipConfig = ipConfig?.properties?.publicIPAddressConfiguration;
    const n = nextIp++;
    const host = o.machines;
    const privateIp = host ? cidrHost(host.privateCidr, n) : `10.0.0.${n}`;
    const publicIp = host ? cidrHost(host.publicCidr, (n % 29) + 1) : `203.0.113.${n}`;
    const dependents: string[] = [];
    if (nicConfig) {
      const nicId = `${rgPath}/providers/Microsoft.Network/networkInterfaces/${vm.name}-${nicConfig.name}`;
      let pipId: string | undefined;
      if (pipConfig) {
        pipId = `${rgPath}/providers/Microsoft.Network/publicIPAddresses/${vm.name}-${pipConfig.name}`;
        store.set(pipId.toLowerCase(), {
          id: pipId, name: `${vm.name}-${pipConfig.name}`, type: 'Microsoft.Network/publicIPAddresses', location: vm.location,
          sku: pipConfig.sku ?? { name: 'Standard', tier: 'Regional' },
          properties: { provisioningState: 'Succeeded', ipAddress: publicIp, publicIPAddressVersion: 'IPv4', publicIPAllocationMethod: 'Static', idleTimeoutInMinutes: 4, ipConfiguration: { id: `${nicId}/ipConfigurations/${ipConfig.name}` } },
        });
        dependents.push(pipId);
      }
      store.set(nicId.toLowerCase(), {
        id: nicId, name: `${vm.name}-${nicConfig.name}`, type: 'Microsoft.Network/networkInterfaces', location: vm.location,
        properties: {
          provisioningState: 'Succeeded',
          ipConfigurations: [{
            id: `${nicId}/ipConfigurations/${ipConfig?.name ?? 'ipconfig1'}`,
            name: ipConfig?.name ?? 'ipconfig1',
            properties: { provisioningState: 'Succeeded', privateIPAddress: privateIp, privateIPAllocationMethod: 'Dynamic', subnet: ipConfig?.properties?.subnet, primary: true, privateIPAddressVersion: 'IPv4', ...(pipId && { publicIPAddress: { id: pipId } }) },
          }],
          networkSecurityGroup: nicConfig.properties?.networkSecurityGroup,
          virtualMachine: { id: vm.id },
          primary: true,
        },
      });
      dependents.push(nicId);
      props.networkProfile.networkInterfaces = [{ id: nicId, properties: { primary: true, deleteOption: nicConfig.properties?.deleteOption ?? 'Detach' } }];
    }
    const osDisk = props.storageProfile?.osDisk ?? {};
    props.storageProfile = { ...props.storageProfile, osDisk: { ...osDisk, osType: 'Linux', name: `${vm.name}_OsDisk_1_${crypto.randomBytes(16).toString('hex')}`, caching: osDisk.caching ?? 'ReadWrite' }, dataDisks: [] };
    const { customData: _, ...osProfile } = props.osProfile ?? {};
    vm.properties = { ...props, osProfile: { ...osProfile, secrets: [], allowExtensionOperations: true }, vmId: crypto.randomUUID(), provisioningState: 'Creating', timeCreated: new Date().toISOString() };
    vm.__dependents = dependents;
    // The identities' principals, as ARM shows them on the VM.
    for (const [id, v] of Object.entries(vm.identity?.userAssignedIdentities ?? {})) {
      const identity = store.get(id.toLowerCase());
      if (identity) Object.assign(v as object, { principalId: identity.properties.principalId, clientId: identity.properties.clientId });
    }
    if (/SystemAssigned/.test(vm.identity?.type ?? '')) {
      Object.assign(vm.identity, { principalId: crypto.randomUUID(), tenantId: tenant });
      vm.__systemClientId = crypto.randomUUID();
    }
    vm.__power = 'starting';
    const customData: string = props.osProfile?.customData ?? '';
    store.set(vm.id.toLowerCase(), vm);
    // A held creation ends when its VM is deleted, as Azure's does (Canceled).
    const hold = Promise.race([held, new Promise<void>((r) => (vm.__deleted = r))]);
    const op = startOp('Microsoft.Compute', async () => {
      await hold;
      // Deleted while being created: nothing to boot.
      if (store.get(vm.id.toLowerCase()) !== vm) throw Object.assign(new Error('The VM was deleted while being created.'), { code: 'Canceled' });
      if (rule?.async) {
        vm.properties.provisioningState = 'Failed';
        vm.__power = 'deallocated';
        throw Object.assign(new Error(message), { code: rule.code });
      }
      if (host) {
        host.boot(vm.name, { privateIp, publicIp }, async () => ({
          userData: customData,
          meta: { instanceId: vm.name, vmId: vm.properties.vmId, instanceType: vmSize, region: location, hostname: vm.name, azure: azureMeta(vm), scheduledEvents: [] },
        }));
        await host.waitForBoot(vm.name, 120_000);
      }
      vm.properties.provisioningState = 'Succeeded';
      vm.__power = 'running';
    });
    res.setHeader('Azure-AsyncOperation', asyncHeader(op, apiVersion));
    return send(res, 201, view(vm));
  }

  return fake;
}

/** The default rules of every network security group, as NetworkSecurityGroups_CreateOrUpdate's example shows them. */
function defaultSecurityRules(nsgId: string): Record<string, any>[] {
  const rule = (name: string, description: string, source: string, destination: string, access: string, priority: number, direction: string) => ({
    name,
    id: `${nsgId}/defaultSecurityRules/${name}`,
    properties: { provisioningState: 'Succeeded', description, protocol: '*', sourcePortRange: '*', destinationPortRange: '*', sourceAddressPrefix: source, destinationAddressPrefix: destination, access, priority, direction },
  });
  return [
    rule('AllowVnetInBound', 'Allow inbound traffic from all VMs in VNET', 'VirtualNetwork', 'VirtualNetwork', 'Allow', 65000, 'Inbound'),
    rule('AllowAzureLoadBalancerInBound', 'Allow inbound traffic from azure load balancer', 'AzureLoadBalancer', '*', 'Allow', 65001, 'Inbound'),
    rule('DenyAllInBound', 'Deny all inbound traffic', '*', '*', 'Deny', 65500, 'Inbound'),
    rule('AllowVnetOutBound', 'Allow outbound traffic from all VMs to all VMs in VNET', 'VirtualNetwork', 'VirtualNetwork', 'Allow', 65000, 'Outbound'),
    rule('AllowInternetOutBound', 'Allow outbound traffic from all VMs to Internet', '*', 'Internet', 'Allow', 65001, 'Outbound'),
    rule('DenyAllOutBound', 'Deny all outbound traffic', '*', '*', 'Deny', 65500, 'Outbound'),
  ];
}

function instanceView(vm: Record<string, any>): unknown {
  const state = vm.properties?.provisioningState ?? 'Succeeded';
  return {
    computerName: vm.properties?.osProfile?.computerName,
    osName: 'ubuntu',
    osVersion: '24.04',
    statuses: [
      { code: `ProvisioningState/${state.toLowerCase()}`, level: state === 'Failed' ? 'Error' : 'Info', displayStatus: `Provisioning ${state.toLowerCase()}`, time: vm.properties?.timeCreated },
      ...(vm.__power ? [{ code: `PowerState/${vm.__power}`, level: 'Info', displayStatus: `VM ${vm.__power}` }] : []),
    ],
  };
}

/** A resource as GET shows it: without the fake's own fields, with the instance view when asked. */
function view(r: Record<string, any>, url?: URL): Record<string, any> {
  const out = Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith('__')));
  if (r.type === 'Microsoft.Compute/virtualMachines' && url?.searchParams.get('$expand') === 'instanceView') {
    out.properties = { ...out.properties, instanceView: instanceView(r) };
  }
  return JSON.parse(JSON.stringify(out));
}

function errorMessage(code: string, vmSize: string, priority: string): string {
  if (code === 'SkuNotAvailable') return SKU_NOT_AVAILABLE;
  if (code === 'AllocationFailed') return `Allocation failed. We do not have sufficient capacity for the requested VM size in this region. (${vmSize}, injected by the test)`;
  if (code === 'ZonalAllocationFailed') return `Allocation failed. We do not have sufficient capacity for the requested VM size in this zone. (${vmSize}, injected by the test)`;
  if (code === 'OperationNotAllowed') {
    const quota = priority === 'Spot' ? 'LowPriorityCores' : 'standardDSv5Family';
    return `Operation could not be completed as it results in exceeding approved ${quota} Cores quota. Additional details - Deployment Model: Resource Manager, Location: eastus, Current Limit: 10, Current Usage: 10, Additional Required: 2, (Minimum) New Limit Required: 12.`;
  }
  return `${code} (injected by the test)`;
}

interface ParsedId {
  resourceGroup: string;
  provider: string;
  type: string;
  name: string;
  collection: boolean;
}

/** /subscriptions/S/resourceGroups/RG[/providers/P/T/N[/T2/N2]] (or a collection, with the last name missing). */
function parseId(p: string): ParsedId | undefined {
  const parts = p.split('/').filter(Boolean);
  if (parts[0]?.toLowerCase() !== 'subscriptions' || parts[2]?.toLowerCase() !== 'resourcegroups' || !parts[3]) {
    if (parts[0]?.toLowerCase() === 'subscriptions' && parts[2]?.toLowerCase() === 'resourcegroups' && parts.length === 3) {
      return { resourceGroup: '', provider: 'Microsoft.Resources', type: 'Microsoft.Resources/resourceGroups', name: '', collection: true };
    }
    return undefined;
  }
  const resourceGroup = parts[3];
  if (parts.length === 4) return { resourceGroup, provider: 'Microsoft.Resources', type: 'Microsoft.Resources/resourceGroups', name: resourceGroup, collection: false };
  if (parts[4]?.toLowerCase() !== 'providers' || !parts[5]) return undefined;
  // A role assignment's scope may be any resource: …/providers/Microsoft.Authorization/roleAssignments/NAME at its end.
  const auth = parts.findIndex((x, i) => i > 4 && x.toLowerCase() === 'microsoft.authorization' && parts[i - 1].toLowerCase() === 'providers');
  if (auth > 0) {
    return { resourceGroup, provider: 'Microsoft.Authorization', type: `Microsoft.Authorization/${parts[auth + 1]}`, name: parts[auth + 2] ?? '', collection: parts.length === auth + 2 };
  }
  const provider = canonicalProvider(parts[5]);
  const rest = parts.slice(6);
  const types: string[] = [];
  for (let i = 0; i < rest.length; i += 2) types.push(rest[i]);
  const collection = rest.length % 2 === 1;
  const name = collection ? '' : rest[rest.length - 1];
  return { resourceGroup, provider, type: `${provider}/${types.map(canonicalType).join('/')}`, name, collection };
}

const PROVIDERS = ['Microsoft.Compute', 'Microsoft.Network', 'Microsoft.Storage', 'Microsoft.KeyVault', 'Microsoft.ManagedIdentity', 'Microsoft.Authorization', 'Microsoft.Web'];
function canonicalProvider(p: string): string {
  return PROVIDERS.find((x) => x.toLowerCase() === p.toLowerCase()) ?? p;
}
const TYPES = ['serverfarms', 'sites', 'roleDefinitions', 'virtualMachines', 'virtualNetworks', 'subnets', 'networkSecurityGroups', 'securityRules', 'publicIPAddresses', 'networkInterfaces', 'storageAccounts', 'vaults', 'userAssignedIdentities', 'roleAssignments'];
function canonicalType(t: string): string {
  return TYPES.find((x) => x.toLowerCase() === t.toLowerCase()) ?? t;
}

function notFound(res: import('node:http').ServerResponse, id: string, parsed?: ParsedId): void {
  if (parsed?.type === 'Microsoft.Resources/resourceGroups') {
    return send(res, 404, { error: { code: 'ResourceGroupNotFound', message: `Resource group '${parsed.name}' could not be found.` } });
  }
  const type = parsed?.type ?? 'resource';
  send(res, 404, { error: { code: 'ResourceNotFound', message: `The Resource '${type}/${parsed?.name ?? id}' under resource group '${parsed?.resourceGroup ?? ''}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix` } });
}

function send(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(text && { 'content-type': 'application/json; charset=utf-8' }),
    'content-length': Buffer.byteLength(text),
    'x-ms-request-id': crypto.randomUUID(),
    'x-ms-correlation-request-id': crypto.randomUUID(),
    'cache-control': 'no-cache',
  });
  res.end(text);
}

function deepMerge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' ? deepMerge(a[k], v) : v;
  }
  return out;
}

/** The n-th address of a CIDR block (n ≥ 1). */
function cidrHost(cidr: string, n: number): string {
  const [base] = cidr.split('/');
  const value = base.split('.').reduce((acc, x) => acc * 256 + Number(x), 0) + n;
  return [24, 16, 8, 0].map((s) => (value >>> s) & 255).join('.');
}

/** A few virtualMachines sizes as resourceSkus lists them (shape of azure-rest-api-specs' ResourceSkus List example). */
export function defaultSkus(location = 'eastus'): ResourceSku[] {
  const size = (name: string, family: string, cpu: number, memory: number, extra: Record<string, string> = {}): ResourceSku => ({
    resourceType: 'virtualMachines',
    name,
    tier: 'Standard',
    size: name.replace(/^Standard_/, ''),
    family,
    locations: [location],
    locationInfo: [{ location, zones: ['1', '2', '3'], zoneDetails: [] }],
    capabilities: Object.entries({
      MaxResourceVolumeMB: '0', OSVhdSizeMB: '1047552', vCPUs: String(cpu), MemoryPreservingMaintenanceSupported: 'True', HyperVGenerations: 'V1,V2',
      MemoryGB: String(memory), MaxDataDiskCount: '4', CpuArchitectureType: 'x64', LowPriorityCapable: 'True', PremiumIO: 'True',
      VMDeploymentTypes: 'IaaS', vCPUsAvailable: String(cpu), ACUs: '195', vCPUsPerCore: '2', EphemeralOSDiskSupported: 'False',
      AcceleratedNetworkingEnabled: 'True', RdmaEnabled: 'False', MaxNetworkInterfaces: '2', ...extra,
    }).map(([k, v]) => ({ name: k, value: v })),
    restrictions: [],
  });
  return [
    size('Standard_D2s_v5', 'standardDSv5Family', 2, 8),
    size('Standard_D4s_v5', 'standardDSv5Family', 4, 16),
    size('Standard_D2as_v5', 'standardDASv5Family', 2, 8),
    size('Standard_E2s_v5', 'standardESv5Family', 2, 16),
    size('Standard_D2ps_v5', 'standardDPSv5Family', 2, 8, { CpuArchitectureType: 'Arm64', HyperVGenerations: 'V2' }),
  ];
}

