// The fake Resource Manager and the stand-in Key Vault answer with the shapes Azure does: each call
// Meadowrun's Azure provider makes is made here as raw HTTPS, and what the fake adds to the request
// (or answers, for what it makes itself: the VM's NIC and address, the SKU list) is compared with
// excerpts of the examples in Azure/azure-rest-api-specs and of @azure/keyvault-secrets' own recorded
// tests, checked in under test/support/fakeArm/examples/ with their source URLs: every field the fake
// answers exists there with the same JSON type (or is listed below, with the spec's reason), the
// fields the provider reads are in both, and the status codes and long-running headers are theirs.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeArm, type FakeArm } from '../support/fakeArm';
import { startFakeKeyVault, type FakeKeyVault } from '../support/fakeKeyVault';

const examplesDir = path.join(__dirname, '..', 'support', 'fakeArm', 'examples');
const example = (name: string) => JSON.parse(fs.readFileSync(path.join(examplesDir, `${name}.json`), 'utf8'));

type Shape = Map<string, string>;
const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Maps whose keys are data (tag names, identity ids), not fields. */
const MAPS = new Set(['tags', 'userAssignedIdentities']);

/** Every key path of a JSON value with its type; array elements under `path[]`. */
function shape(v: unknown, prefix = '', out: Shape = new Map()): Shape {
  if (prefix) out.set(prefix, typeOf(v));
  if (MAPS.has(prefix.split('.').pop()!)) return out;
  if (Array.isArray(v)) for (const x of v) shape(x, `${prefix}[]`, out);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) shape(x, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

function union(bodies: unknown[]): Shape {
  const out: Shape = new Map();
  for (const b of bodies) for (const [k, t] of shape(b)) if (!out.has(k) || out.get(k) === 'null') out.set(k, t);
  return out;
}

/**
 * What the fake answered beyond what was sent, that the examples do not have (or have with another
 * type); `allowed` are paths the spec defines though its examples lack them.
 */
function unknownFields(answer: unknown, examples: unknown[], sent: unknown = {}, allowed: string[] = []): string[] {
  const known = union(examples);
  const echoed = shape(sent);
  return [...shape(answer)]
    .filter(([k, t]) => !(echoed.get(k) === t) && !allowed.includes(k))
    .filter(([k, t]) => !known.has(k) || (known.get(k) !== t && known.get(k) !== 'null'))
    .map(([k, t]) => `${k} (${t}${known.has(k) ? `, the example's is ${known.get(k)}` : ', not in the examples'})`);
}

function hasAll(body: unknown, paths: string[]): string[] {
  const s = shape(body);
  return paths.filter((p) => !s.has(p));
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

describe('the fakes answer with the shapes of Azure\'s own examples and recordings', () => {
  let arm: FakeArm;
  let vault: FakeKeyVault;
  const rg = 'meadowrun-shapes';
  let sub: string;

  before(async () => {
    [arm, vault] = await Promise.all([startFakeArm({ opDelayMs: 10 }), startFakeKeyVault()]);
    sub = `/subscriptions/${arm.subscription}`;
  });
  after(async () => {
    await Promise.all([arm?.stop(), vault?.stop()]);
  });

  function call(method: string, url: string, body?: unknown, token: string | null = 'any'): Promise<Answer> {
    const u = new URL(url.startsWith('http') ? url : `${arm.endpoint}${url}`);
    const text = body === undefined ? '' : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(u, {
        method,
        ca: [arm.ca, vault.ca],
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(token && { authorization: `Bearer ${token}` }) },
      }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (data += d));
        const json = /json/.test(res.headers['content-type'] ?? '');
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data && json ? JSON.parse(data) : data || undefined }));
      });
      req.on('error', reject);
      req.end(text);
    });
  }

  /** Follows a long-running operation to its end (Azure-AsyncOperation's status, or Location until not 202). */
  async function settle(a: Answer): Promise<void> {
    const asyncOp = a.headers['azure-asyncoperation'] as string | undefined;
    const location = a.headers.location as string | undefined;
    for (let i = 0; i < 200; i++) {
      if (asyncOp) {
        const s = await call('GET', asyncOp);
        if (s.body.status !== 'InProgress') return assert.equal(s.body.status, 'Succeeded');
      } else if (location) {
        if ((await call('GET', location)).status !== 202) return;
      } else return;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail('the operation did not end');
  }

  const id = (type: string, name: string) => `${sub}/resourceGroups/${rg}/providers/${type}/${name}`;

  before(async () => {
    const body = { location: 'eastus', tags: { meadowrun: 'true' } };
    const group = await call('PUT', `${sub}/resourceGroups/${rg}?api-version=2021-04-01`, body);
    const ex = example('ResourceGroups_CreateOrUpdate');
    assert.equal(group.status, ex.status);
    // ResourceGroup.type is the spec's (read-only), not in its example.
    assert.deepEqual(unknownFields(group.body, ex.bodies, body, ['type']), []);
  });

  it('resourceSkus: the list of sizes for a location', async () => {
    const a = await call('GET', `${sub}/providers/Microsoft.Compute/skus?api-version=2021-07-01&$filter=${encodeURIComponent("location eq 'eastus'")}`);
    const ex = example('ResourceSkus_List');
    assert.equal(a.status, ex.status);
    // ResourceSku.restrictions is in the spec (and read: a size restricted here is left out), not in its examples.
    assert.deepEqual(unknownFields(a.body, ex.bodies, {}, ['value[].restrictions']), []);
    const reads = ['value[].name', 'value[].resourceType', 'value[].family', 'value[].capabilities[].name', 'value[].capabilities[].value', 'value[].locationInfo[].zones'];
    assert.deepEqual([hasAll(a.body, reads), hasAll(ex.bodies[0], reads)], [[], []]);
  });

  it('network: the security group (with Azure\'s default rules) and a rule of its own; the virtual network', async () => {
    const nsgBody = { location: 'eastus', tags: { meadowrun: 'true' }, properties: { securityRules: [] } };
    const created = await call('PUT', `${id('Microsoft.Network/networkSecurityGroups', 'meadowrun-nsg')}?api-version=2024-05-01`, nsgBody);
    const ex = example('NetworkSecurityGroups_CreateOrUpdate');
    assert.equal(created.status, ex.status);
    assert.ok(created.headers['azure-asyncoperation'], 'a long-running operation');
    await settle(created);
    const rule = { properties: { priority: 100, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourceAddressPrefix: '198.51.100.7/32', sourcePortRange: '*', destinationAddressPrefix: '*', destinationPortRange: '22', description: 'SSH' } };
    const put = await call('PUT', `${id('Microsoft.Network/networkSecurityGroups', 'meadowrun-nsg')}/securityRules/ssh?api-version=2024-05-01`, rule);
    assert.equal(put.status, 201);
    await settle(put);
    const got = await call('GET', `${id('Microsoft.Network/networkSecurityGroups', 'meadowrun-nsg')}?api-version=2024-05-01`);
    assert.equal(got.status, 200);
    // The rule's own fields are what was sent (the example's rule has no description: it is the spec's SecurityRule.description).
    // The spec's SecurityRule has a type and a description; the example's rule shows neither.
    const allowed = ['properties.securityRules[].properties.description', 'properties.securityRules[].type'];
    assert.deepEqual(unknownFields(got.body, ex.bodies, { ...nsgBody, properties: { securityRules: [rule] } }, allowed), []);
    const reads = ['properties.securityRules[].properties.sourceAddressPrefix', 'properties.securityRules[].properties.priority', 'properties.securityRules[].properties.direction', 'properties.securityRules[].properties.destinationPortRange', 'properties.defaultSecurityRules[].properties.priority'];
    assert.deepEqual([hasAll(got.body, reads), hasAll(ex.bodies[0], reads)], [[], []]);
    assert.deepEqual(got.body.properties.defaultSecurityRules.map((r: any) => r.name), ex.bodies[0].properties.defaultSecurityRules.map((r: any) => r.name), "Azure's default rules");
  });

  it('the virtual network: 201 with Azure-AsyncOperation, its status document, then the network with its subnet, as @azure/arm-network recorded them', async () => {
    const body = { location: 'eastus', tags: { meadowrun: 'true' }, properties: { addressSpace: { addressPrefixes: ['10.0.0.0/16'] }, subnets: [{ name: 'default', properties: { addressPrefix: '10.0.0.0/24' } }] } };
    const vnetId = id('Microsoft.Network/virtualNetworks', 'meadowrun-vnet');
    const created = await call('PUT', `${vnetId}?api-version=2024-05-01`, body);
    const ex = example('VirtualNetworks_CreateOrUpdate');
    assert.equal(created.status, ex.status);
    assert.match(String(created.headers['azure-asyncoperation']), /\/providers\/Microsoft\.Network\/locations\/eastus\/operations\/[^/?]+\?api-version=2024-05-01$/);
    assert.equal(created.body.properties.provisioningState, ex.bodies[0].properties.provisioningState, 'Updating until its operation ends');
    const status = await call('GET', String(created.headers['azure-asyncoperation']));
    assert.deepEqual(unknownFields(status.body, ex.operationStatuses), []);
    await settle(created);
    const got = await call('GET', `${vnetId}?api-version=2024-05-01`);
    assert.equal(got.status, 200);
    const { subnets, ...rest } = got.body.properties;
    const { subnets: sentSubnets, ...sentRest } = body.properties;
    assert.deepEqual(unknownFields({ ...got.body, properties: rest }, ex.bodies, { ...body, properties: sentRest }), []);
    assert.deepEqual(unknownFields(subnets[0], [ex.subnet], sentSubnets[0]), []);
    assert.deepEqual([hasAll(subnets[0], ['id', 'name']), hasAll(ex.subnet, ['id', 'name'])], [[], []], 'the subnet id the provider reads');
  });

  it('a VM created with its NIC and public address inline: 201 with Azure-AsyncOperation, then the VM, its instance view, its NIC and address', async () => {
    const subnet = `${id('Microsoft.Network/virtualNetworks', 'meadowrun-vnet')}/subnets/default`;
    const vm = {
      location: 'eastus',
      tags: { meadowrun: 'true' },
      identity: { type: 'UserAssigned', userAssignedIdentities: { [id('Microsoft.ManagedIdentity/userAssignedIdentities', 'meadowrun-vm')]: {} } },
      properties: {
        hardwareProfile: { vmSize: 'Standard_D2s_v5' },
        priority: 'Spot',
        evictionPolicy: 'Delete',
        billingProfile: { maxPrice: -1 },
        storageProfile: {
          imageReference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' },
          osDisk: { createOption: 'FromImage', deleteOption: 'Delete', managedDisk: { storageAccountType: 'StandardSSD_LRS' } },
        },
        osProfile: {
          computerName: 'meadowrun-shapes',
          adminUsername: 'meadowrun',
          customData: Buffer.from('#cloud-config\n').toString('base64'),
          linuxConfiguration: { disablePasswordAuthentication: true, ssh: { publicKeys: [{ path: '/home/meadowrun/.ssh/authorized_keys', keyData: 'ssh-ed25519 AAAA test' }] } },
        },
        networkProfile: {
          networkApiVersion: '2020-11-01',
          networkInterfaceConfigurations: [{
            name: 'nic',
            properties: {
              primary: true,
              deleteOption: 'Delete',
              networkSecurityGroup: { id: id('Microsoft.Network/networkSecurityGroups', 'meadowrun-nsg') },
              ipConfigurations: [{ name: 'ip', properties: { subnet: { id: subnet }, publicIPAddressConfiguration: { name: 'pip', sku: { name: 'Standard' }, properties: { deleteOption: 'Delete', publicIPAllocationMethod: 'Static' } } } }],
            },
          }],
        },
        diagnosticsProfile: { bootDiagnostics: { enabled: true } },
      },
    };
    const vmId = id('Microsoft.Compute/virtualMachines', 'meadowrun-shapes');
    const created = await call('PUT', `${vmId}?api-version=2024-07-01`, vm);
    const ex = example('VirtualMachines_CreateOrUpdate');
    assert.equal(created.status, ex.status);
    assert.match(String(created.headers['azure-asyncoperation']), /\/providers\/Microsoft\.Compute\/locations\/eastus\/operations\/[^/?]+\?api-version=2024-07-01$/);
    // The NIC a VM made from networkInterfaceConfigurations is the spec's NetworkInterfaceReference, with its deleteOption.
    const allowed = ['properties.networkProfile.networkInterfaces[].properties.deleteOption'];
    const { customData: _, ...echoedOs } = vm.properties.osProfile;
    const sent = { ...vm, properties: { ...vm.properties, osProfile: echoedOs } };
    assert.deepEqual(unknownFields(created.body, ex.bodies, sent, allowed), []);
    assert.equal(created.body.properties.osProfile.customData, undefined, 'customData is never shown back');
    assert.deepEqual([hasAll(created.body, ['properties.networkProfile.networkInterfaces[].id', 'properties.provisioningState', 'properties.vmId'])], [[]]);
    // Compute's operation status document has its name and times, as @azure/arm-compute recorded it.
    const status = await call('GET', String(created.headers['azure-asyncoperation']));
    assert.deepEqual(unknownFields(status.body, ex.operationStatuses), []);
    assert.deepEqual(hasAll(status.body, ['name', 'status', 'startTime']), []);
    await settle(created);

    const got = await call('GET', `${vmId}?api-version=2024-07-01&$expand=instanceView`);
    assert.equal(got.status, 200);
    const view = example('VirtualMachines_InstanceView');
    assert.deepEqual(unknownFields(got.body.properties.instanceView, view.bodies), []);
    assert.deepEqual(got.body.properties.instanceView.statuses.map((s: any) => s.code), ['ProvisioningState/succeeded', 'PowerState/running'], 'the codes the provider reads, as in the example');
    const { instanceView: __, ...rest } = got.body.properties;
    assert.deepEqual(unknownFields({ ...got.body, properties: rest }, ex.bodies, sent, allowed), []);

    // The serial log (where the host key is read) through boot diagnostics' SAS URLs.
    const diag = await call('POST', `${vmId}/retrieveBootDiagnosticsData?api-version=2024-07-01&sasUriExpirationTimeInMinutes=5`);
    const diagEx = example('VirtualMachines_RetrieveBootDiagnosticsData');
    assert.equal(diag.status, diagEx.status);
    assert.deepEqual(unknownFields(diag.body, diagEx.bodies), []);
    assert.match(diag.body.serialConsoleLogBlobUri, /\.log\?.*sig=/);
    assert.equal((await call('GET', diag.body.serialConsoleLogBlobUri, undefined, null)).status, 200, 'read without a token, as a SAS URL is');

    const nicId = created.body.properties.networkProfile.networkInterfaces[0].id;
    const nic = await call('GET', `${nicId}?api-version=2024-05-01`);
    const nicEx = example('NetworkInterfaces_Get');
    assert.equal(nic.status, nicEx.status);
    assert.deepEqual(unknownFields(nic.body, nicEx.bodies), []);
    const nicReads = ['properties.ipConfigurations[].properties.publicIPAddress.id', 'properties.ipConfigurations[].properties.privateIPAddress'];
    assert.deepEqual([hasAll(nic.body, nicReads), hasAll(nicEx.bodies[0], nicReads)], [[], []]);
    const pip = await call('GET', `${nic.body.properties.ipConfigurations[0].properties.publicIPAddress.id}?api-version=2024-05-01`);
    const pipEx = example('PublicIPAddresses_Get');
    assert.equal(pip.status, pipEx.status);
    assert.deepEqual(unknownFields(pip.body, pipEx.bodies), []);
    assert.deepEqual([hasAll(pip.body, ['properties.ipAddress']), hasAll(pipEx.bodies[1], ['properties.ipAddress'])], [[], []]);

    const deleted = await call('DELETE', `${vmId}?api-version=2024-07-01`);
    assert.equal(deleted.status, 202);
    await settle(deleted);
    assert.equal((await call('GET', `${nicId}?api-version=2024-05-01`)).status, 404, 'the NIC went with it');
  });

  it('the managed identity, a role assignment, the storage account (202, then the account) and the Key Vault', async () => {
    const identityBody = { location: 'eastus', tags: { meadowrun: 'true' } };
    const identity = await call('PUT', `${id('Microsoft.ManagedIdentity/userAssignedIdentities', 'meadowrun-vm')}?api-version=2023-01-31`, identityBody);
    const idEx = example('UserAssignedIdentities_CreateOrUpdate');
    assert.equal(identity.status, idEx.status);
    assert.deepEqual(unknownFields(identity.body, idEx.bodies, identityBody), []);
    const idReads = ['id', 'properties.principalId', 'properties.clientId', 'properties.tenantId'];
    assert.deepEqual([hasAll(identity.body, idReads), hasAll(idEx.bodies[0], idReads)], [[], []]);

    const scope = id('Microsoft.Storage/storageAccounts', 'meadowrunshapes');
    const roleBody = { properties: { roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3`, principalId: identity.body.properties.principalId, principalType: 'ServicePrincipal', description: 'Meadowrun' } };
    const role = await call('PUT', `${scope}/providers/Microsoft.Authorization/roleAssignments/5f1e2b8c-0000-4000-8000-000000000001?api-version=2022-04-01`, roleBody);
    const roleEx = example('RoleAssignments_Create');
    assert.equal(role.status, roleEx.status);
    // RoleAssignmentProperties.description is the spec's; the example sets none.
    assert.deepEqual(unknownFields(role.body, roleEx.bodies, roleBody, ['properties.description']), []);

    const storageBody = { location: 'eastus', tags: { meadowrun: 'true' }, kind: 'StorageV2', sku: { name: 'Standard_LRS' }, properties: { minimumTlsVersion: 'TLS1_2', allowBlobPublicAccess: false, allowSharedKeyAccess: false } };
    const storage = await call('PUT', `${scope}?api-version=2023-05-01`, storageBody);
    const stEx = example('StorageAccounts_Create');
    assert.equal(storage.status, stEx.firstStatus);
    assert.equal(storage.body, undefined);
    assert.ok(storage.headers.location, 'polled at its Location');
    await settle(storage);
    const account = await call('GET', `${scope}?api-version=2023-05-01`);
    assert.equal(account.status, stEx.status);
    assert.deepEqual(unknownFields(account.body, stEx.bodies, storageBody), []);

    const vaultBody = { location: 'eastus', tags: { meadowrun: 'true' }, properties: { tenantId: arm.tenant, sku: { family: 'A', name: 'standard' }, enableRbacAuthorization: true, enableSoftDelete: true, softDeleteRetentionInDays: 7 } };
    const vaultId = id('Microsoft.KeyVault/vaults', 'meadowrun-shapes');
    assert.equal((await call('PUT', `${vaultId}?api-version=2023-07-01`, vaultBody)).status, 201);
    const got = await call('GET', `${vaultId}?api-version=2023-07-01`);
    const vEx = example('Vaults_Get');
    assert.equal(got.status, vEx.status);
    assert.deepEqual(unknownFields(got.body, vEx.bodies, vaultBody), []);
    assert.equal(got.body.properties.vaultUri, 'https://meadowrun-shapes.vault.azure.net');
  });

  it('the management Function: a Flex Consumption plan (200) and a Function app (202 with the site and an Azure-AsyncOperation, then the site)', async () => {
    const planBody = { location: 'eastus', kind: 'functionapp', tags: { meadowrun: 'true' }, properties: { reserved: true }, sku: { name: 'FC1', tier: 'FlexConsumption' } };
    const plan = await call('PUT', `${id('Microsoft.Web/serverfarms', 'meadowrun-adjuster-plan')}?api-version=2025-03-01`, planBody);
    const planEx = example('AppServicePlans_CreateOrUpdate');
    assert.equal(plan.status, planEx.status);
    assert.deepEqual(unknownFields(plan.body, planEx.bodies, planBody), []);
    // What @azure/arm-appservice sends for the installer's Site (its flattened properties under "properties").
    const siteBody = {
      location: 'eastus',
      kind: 'functionapp,linux',
      tags: { meadowrun: 'true' },
      identity: { type: 'SystemAssigned' },
      properties: {
        serverFarmId: plan.body.id,
        httpsOnly: true,
        siteConfig: { appSettings: [{ name: 'AzureWebJobsStorage__accountName', value: 'meadowrunx' }], minTlsVersion: '1.2', ftpsState: 'Disabled' },
        functionAppConfig: {
          deployment: { storage: { type: 'blobContainer', value: 'https://meadowrunx.blob.core.windows.net/meadowrun-adjuster-package', authentication: { type: 'SystemAssignedIdentity' } } },
          runtime: { name: 'node', version: '22' },
          scaleAndConcurrency: { instanceMemoryMB: 512, maximumInstanceCount: 40 },
        },
      },
    };
    const siteId = id('Microsoft.Web/sites', 'meadowrun-adjuster-shapes');
    const site = await call('PUT', `${siteId}?api-version=2025-03-01`, siteBody);
    const siteEx = example('WebApps_CreateOrUpdate_FlexConsumption');
    assert.equal(site.status, siteEx.status);
    assert.match(site.headers['azure-asyncoperation'] as string, /\/providers\/Microsoft\.Web\/sites\/meadowrun-adjuster-shapes\/operationResults\/[^/?]+\?api-version=/);
    assert.match(siteEx.headers['azure-asyncoperation'], /\/providers\/Microsoft\.Web\/sites\/sitef6141\/operationResults\/[^/?]+\?api-version=/);
    await settle(site);
    const got = await call('GET', `${siteId}?api-version=2025-03-01`);
    assert.equal(got.status, 200);
    // The identity's principal is in the spec (ManagedServiceIdentity), not in this example; app settings never come back.
    const allowed = ['identity.principalId', 'identity.tenantId'];
    assert.deepEqual(unknownFields(got.body, siteEx.bodies, { ...siteBody, properties: { ...siteBody.properties, siteConfig: {} } }, allowed), []);
    assert.equal(got.body.properties.siteConfig.appSettings, undefined);
    const reads = ['properties.hostNameSslStates[].name', 'properties.hostNameSslStates[].hostType', 'properties.enabledHostNames'];
    assert.deepEqual([hasAll(got.body, reads), hasAll(siteEx.bodies[0], reads)], [[], []]);
    assert.deepEqual((await call('DELETE', `${siteId}?api-version=2025-03-01`)).status, 200);
    assert.deepEqual((await call('DELETE', `${plan.body.id}?api-version=2025-03-01`)).status, 200);
  });

  it('a deleted Key Vault is listed as Azure lists it, and purged with 202 and a Location, as its example says', async () => {
    const vaultId = id('Microsoft.KeyVault/vaults', 'meadowrun-shapes');
    assert.equal((await call('DELETE', `${vaultId}?api-version=2023-07-01`)).status, 200);
    const listed = await call('GET', `${sub}/providers/Microsoft.KeyVault/deletedVaults?api-version=2023-07-01`);
    const ex = example('Vaults_ListDeleted');
    assert.equal(listed.status, ex.status);
    assert.deepEqual(unknownFields(listed.body, ex.bodies), []);
    const reads = ['value[].name', 'value[].properties.location', 'value[].properties.scheduledPurgeDate', 'value[].properties.purgeProtectionEnabled'];
    assert.deepEqual([hasAll(listed.body, reads), hasAll(ex.bodies[0], reads)], [[], []]);
    const purge = await call('POST', `${sub}/providers/Microsoft.KeyVault/locations/eastus/deletedVaults/meadowrun-shapes/purge?api-version=2023-07-01`);
    const pEx = example('Vaults_PurgeDeleted');
    assert.equal(purge.status, pEx.status);
    for (const h of pEx.headers) assert.ok(purge.headers[h.toLowerCase()], `${h} header`);
    assert.equal(purge.body, undefined);
    await settle(purge);
    const gone = await call('GET', `${sub}/providers/Microsoft.KeyVault/locations/eastus/deletedVaults/meadowrun-shapes?api-version=2023-07-01`);
    assert.deepEqual([gone.status, gone.body.error.code], [404, 'DeletedVaultNotFound']);
  });

  it('Key Vault secrets: the 401 challenge, setSecret and deleteSecret answer as recorded by the SDK\'s own tests', async () => {
    const ex = example('KeyVaultSecrets');
    const challenge = await call('PUT', `${vault.url}/secrets/shapes?api-version=7.5`, { value: 'v' }, null);
    assert.equal(challenge.status, ex.challenge.status);
    assert.deepEqual(unknownFields(challenge.body, [ex.challenge.body]), []);
    assert.match(String(challenge.headers['www-authenticate']), /^Bearer authorization="https:\/\/login\.windows\.net\/[^"]+", resource="https:\/\/vault\.azure\.net"$/);
    assert.match(ex.challenge.wwwAuthenticate, /^Bearer authorization="https:\/\/login\.windows\.net\/[^"]+", resource="https:\/\/vault\.azure\.net"$/);
    const setBody = { value: 'v' };
    const set = await call('PUT', `${vault.url}/secrets/shapes?api-version=7.5`, setBody);
    assert.equal(set.status, ex.set.status);
    assert.deepEqual(unknownFields(set.body, [ex.set.body], setBody), []);
    const del = await call('DELETE', `${vault.url}/secrets/shapes?api-version=7.5`);
    assert.equal(del.status, ex.delete.status);
    assert.deepEqual(unknownFields(del.body, [ex.delete.body]), []);
    assert.deepEqual(hasAll(del.body, [...shape(ex.delete.body).keys()]), [], 'and every field the recording has');
  });
});
