// VMs on Azure. A launch creates a VM with Meadowrun's cloud-init as its custom data (../cloudInit.ts),
// Ubuntu 24.04, its NIC and public address made with it and deleted with it (deleteOption Delete, as
// its disk), Spot with evictionPolicy Delete and maxPrice -1 (never evicted for price, never above
// pay-as-you-go). Azure reports a lack of capacity either at once (SkuNotAvailable) or when the
// creation ends (AllocationFailed, ZonalAllocationFailed): so a launch waits for the creation to end,
// deletes a VM that failed, and tries the size without a zone, then in each of its zones, before it
// gives up with 'no-capacity' (the allocator then picks the next option). Every try has the same
// name, which the client chose (newInstanceId) and registered the VM's row under before the first.
// A used-up quota (OperationNotAllowed) is one message naming the quota. The VM is then ready when
// the host key cloud-init generated is known — the client pins it — and its sshd answers: the VM
// writes the key to its own row of the allocation table with its managed identity (publishHostKey.py),
// and its serial log (boot diagnostics, read through Resource Manager: not from the VM over the
// network) shows it too, the fallback.
import * as crypto from 'crypto';
import type { ComputeManagementClient, ImageReference, VirtualMachine } from '@azure/arm-compute';
import type { NetworkManagementClient } from '@azure/arm-network';
import { cancellation, MeadowrunError } from '../../core/errors';
import { InstanceOption, InstanceType } from '../../core/instanceTypes';
import { DEFAULT_ENVIRONMENT_MAX_AGE_S } from '../../core/management';
import { clientCidr } from '../clientAddress';
import { hostKeyFromConsole, SSH_USER, userData, WORK_DIR } from '../cloudInit';
import { AgentConfig, InstanceEndpoint, InstanceProvider, NodeCommand, RunningInstance, SshEndpoint } from '../ports';
import { memoizeSuccess } from '../memoizeSuccess';
import { BootProbe, publishedEd25519Key, waitUntilReachable } from '../readiness';
import { AzureSizeSpec, loadAzureCatalog } from './catalog';
import { HOST_KEY_PUBLISHER } from './data';
import { allowSsh, AzureNetwork, ensureNetwork, TAGS } from './network';

export interface AzureVmProviderOptions {
  compute: ComputeManagementClient;
  network: NetworkManagementClient;
  resourceGroup: string;
  location: string;
  /** Where the catalog is cached (a private directory). */
  cacheDir: string;
  /** The Retail Prices API (a stand-in in tests). */
  pricesUrl?: string;
  /** Resource Graph's eviction rates for the location; rejects when the subscription may not query them. */
  evictionRates?: () => Promise<Record<string, number>>;
  allowBurstable?: boolean;
  /** Where SSH comes from, as a CIDR; this machine's public address /32 when absent. */
  sshFrom?: string;
  /** The VM's AgentConfig but for its id (its name, known at launch) and its environments' age, given its name. */
  agentConfig: (vmName: string) => Omit<AgentConfig, 'instanceId'>;
  /** How long a VM keeps an environment no job uses (the management config's); DEFAULT_ENVIRONMENT_MAX_AGE_S when absent or unreadable. */
  environmentMaxAgeS?: () => Promise<number | undefined>;
  /** The Node the agent runs with on the VM. */
  nodeCommand?: NodeCommand;
  /** The user-assigned managed identity VMs run as (its resource id); a system-assigned one when absent. */
  identityId?: () => Promise<string | undefined>;
  /** What else every launch needs created first (resource group, storage, identity); idempotent. */
  prepareAlso?: () => Promise<unknown>;
  /** Reads a URL Resource Manager handed out (the serial log's SAS URL). */
  fetchText?: (url: string) => Promise<string>;
  /** How often a launching VM is looked at, and long-running operations polled (ms). */
  pollMs?: number;
  lroIntervalMs?: number;
  /** Each launch attempt, for the progress and the log. */
  onAttempt?: (line: string) => void;
  /** The host key the VM wrote to its row of the allocation table (base64), if it has yet. */
  publishedHostKey?: (id: string) => Promise<string | undefined>;
  /** Each step of waitReady as it is reached; a host key says where it was read. */
  onPhase?: (id: string, phase: 'running' | 'host-key' | 'ssh', detail?: 'row' | 'console') => void;
  /**
   * The network `meadowrun azure prepare` made, for a provider that must change nothing else (the
   * management Function): launches go into it, and no SSH rule is added for this process.
   */
  prepared?: AzureNetwork;
}

/** A size (or zone) without capacity for this VM: the next one may have it. */
const TRY_ELSEWHERE = new Set(['AllocationFailed', 'ZonalAllocationFailed', 'OverconstrainedAllocationRequest', 'OverconstrainedZonalAllocationRequest']);
/** A size this subscription cannot have here at all (at this price, for Spot). */
const NOT_HERE = new Set(['SkuNotAvailable', 'VariablePricingIsNotSupportedForThisVMSize', 'SpotVMNotSupported']);
/** The setting (and flag) a bad or missing SSH source is named by. */
export const SSH_FROM_SETTING = 'meadowrun.azure.sshFrom (--ssh-from)';
const QUOTAS_PAGE = 'https://portal.azure.com/#view/Microsoft_Azure_Capacity/QuotaMenuBlade/~/myQuotas';

/** Canonical's Ubuntu 24.04 LTS: generation 2 on x64 by default, generation 1 where a size has only that, and Arm64. */
export function ubuntuImage(spec: Pick<AzureSizeSpec, 'architecture' | 'hyperVGenerations'> | undefined): ImageReference {
  const sku = spec?.architecture === 'arm64' ? 'server-arm64' : spec && !spec.hyperVGenerations.includes('V2') ? 'server-gen1' : 'server';
  return { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku, version: 'latest' };
}

export class AzureVmProvider implements InstanceProvider {
  readonly name = 'azure';
  /** An Azure VM takes 1–3 minutes to be created; cloud-init may then install Node and Python. */
  readonly launchGraceMs = 12 * 60_000;
  /** Resource Manager lists a VM as soon as its creation is accepted. */
  readonly listingLagMs = 30_000;

  constructor(private readonly o: AzureVmProviderOptions) {}

  async listInstanceTypes(): Promise<InstanceType[]> {
    return (await this.loadCatalog()).types;
  }

  private readonly loadCatalog = memoizeSuccess(() =>
    loadAzureCatalog({
      location: this.o.location,
      listSkus: () => this.o.compute.resourceSkus.list({ filter: `location eq '${this.o.location}'` }),
      pricesUrl: this.o.pricesUrl,
      evictionRates: this.o.evictionRates,
      cacheDir: this.o.cacheDir,
      allowBurstable: this.o.allowBurstable,
    }),
  );

  /** The network (and whatever else prepareAlso makes), once per process; lets this client's address in. */
  prepare(): Promise<void> {
    return this.prepared().then(() => undefined);
  }

  private readonly prepared = memoizeSuccess(async (): Promise<AzureNetwork> => {
    if (this.o.prepared) return this.o.prepared;
    await this.o.prepareAlso?.();
    const [net, cidr] = await Promise.all([
      ensureNetwork(this.o.network, this.o.resourceGroup, this.o.location, this.o.lroIntervalMs),
      clientCidr(this.o.sshFrom, undefined, SSH_FROM_SETTING),
    ]);
    await allowSsh(this.o.network, this.o.resourceGroup, cidr, this.o.lroIntervalMs);
    return net;
  });

  async allowClient(): Promise<void> {
    await this.prepare();
  }

  /** A new VM's name (its id), chosen by the client. */
  newInstanceId(): string {
    return `meadowrun-${crypto.randomBytes(6).toString('hex')}`;
  }

  /**
   * Creates the VM named `o.id` (a new name when absent) and waits for Azure to finish creating it
   * (a lack of capacity shows only then), without its zone first, then in each zone of the size; a
   * VM that failed is deleted before the next try, which has the same name. Returns its name.
   */
  async launch(
    option: InstanceOption,
    authorizedPublicKey: string,
    o: { signal?: AbortSignal; onAttempt?: (line: string) => void; id?: string } = {},
  ): Promise<{ id: string; zone?: string }> {
    const name = o.id ?? this.newInstanceId();
    // Every try to the provider's listener (the log); a size or zone without capacity also to the
    // launch's (the job's progress, which already says what is launching).
    const say = (line: string, toJob = true) => {
      this.o.onAttempt?.(line);
      if (toJob) o.onAttempt?.(line);
    };
    const net = await this.prepared();
    const [catalog, identityId, environmentMaxAgeS] = await Promise.all([
      this.loadCatalog(),
      this.o.identityId?.(),
      this.o.environmentMaxAgeS?.().catch(() => undefined),
    ]);
    const spec = catalog.spec(option.type.name);
    const market = option.spot ? 'Spot' : 'pay-as-you-go';
    const zones: (string | undefined)[] = [undefined, ...(spec?.zones ?? [])];
    const failures: string[] = [];
    const elsewhere = (where: string, code: string, zone: string | undefined) => {
      say(`No capacity for ${where} (${code}), ${zone === zones[zones.length - 1] ? 'no zone left to try' : 'trying the next zone'}`);
      failures.push(`${where}: ${code}`);
    };
    for (const zone of zones) {
      if (o.signal?.aborted) throw cancellation();
      const where = `${option.type.name} ${market}${zone ? ` in zone ${zone}` : ''}`;
      say(`launching ${where} as ${name}`, false);
      const vm = this.vmDefinition(name, option, authorizedPublicKey, net, spec, zone, identityId, environmentMaxAgeS);
      // Only the polling is stopped on a cancel, once the request was accepted: a request aborted
      // mid-way may still create a VM we would then not know of.
      const polling = new AbortController();
      const poller = this.o.compute.virtualMachines.createOrUpdate(this.o.resourceGroup, name, vm, { ...this.lroOptions(), abortSignal: polling.signal });
      try {
        await poller.submitted();
      } catch (e) {
        const code = armErrorCode(e);
        if (NOT_HERE.has(code)) throw new MeadowrunError(`No capacity for ${option.type.name} (${market}) in ${this.o.location}: ${code}`, 'no-capacity', { cause: e });
        if (TRY_ELSEWHERE.has(code)) {
          elsewhere(where, code, zone);
          continue;
        }
        throw quotaError(e, option, this.o.location) ?? e;
      }
      try {
        await waitOrAbort(poller, o.signal);
        return { id: name, zone: this.where(zone) };
      } catch (e) {
        // Cancelled (the creation is not followed any more), or it failed: a VM left in the Failed
        // state still holds its NIC and address.
        polling.abort();
        await this.terminate(name).catch(() => undefined);
        if (o.signal?.aborted) throw cancellation();
        const code = armErrorCode(e);
        if (TRY_ELSEWHERE.has(code)) {
          elsewhere(where, code, zone);
          continue;
        }
        if (NOT_HERE.has(code)) throw new MeadowrunError(`No capacity for ${option.type.name} (${market}) in ${this.o.location}: ${code}`, 'no-capacity', { cause: e });
        throw quotaError(e, option, this.o.location) ?? e;
      }
    }
    throw new MeadowrunError(`No capacity for ${option.type.name} (${market}) in ${this.o.location}: ${failures.join('; ')}`, 'no-capacity');
  }

  /** Where a VM runs, for the explorer's row: the location, with the zone when one was pinned ("eastus-2"). */
  private where(zone: string | undefined): string {
    return zone ? `${this.o.location}-${zone}` : this.o.location;
  }

  /** The VM as Resource Manager takes it. */
  vmDefinition(name: string, option: InstanceOption, authorizedPublicKey: string, net: AzureNetwork, spec: AzureSizeSpec | undefined, zone: string | undefined, identityId?: string, environmentMaxAgeS = DEFAULT_ENVIRONMENT_MAX_AGE_S): VirtualMachine {
    const key = authorizedPublicKey.trim();
    return {
      location: this.o.location,
      tags: { ...TAGS, 'meadowrun-size': option.type.name },
      ...(zone && { zones: [zone] }),
      hardwareProfile: { vmSize: option.type.name },
      ...(option.spot && { priority: 'Spot', evictionPolicy: 'Delete', billingProfile: { maxPrice: -1 } }),
      storageProfile: {
        imageReference: ubuntuImage(spec),
        osDisk: { createOption: 'FromImage', deleteOption: 'Delete', managedDisk: { storageAccountType: 'StandardSSD_LRS' } },
      },
      osProfile: {
        computerName: name,
        adminUsername: SSH_USER,
        // No management function reaches a VM over SSH: the VM removes its unused environments itself.
        customData: userData(key, { ...this.o.agentConfig(name), environments: { maxAgeS: environmentMaxAgeS } }, this.nodeCommand(), { known: name }, HOST_KEY_PUBLISHER),
        linuxConfiguration: { disablePasswordAuthentication: true, ssh: { publicKeys: [{ path: `/home/${SSH_USER}/.ssh/authorized_keys`, keyData: key }] } },
      },
      networkProfile: {
        networkApiVersion: '2020-11-01',
        networkInterfaceConfigurations: [
          {
            name: 'nic',
            primary: true,
            deleteOption: 'Delete',
            networkSecurityGroup: { id: net.nsgId },
            ipConfigurations: [
              {
                name: 'ip',
                primary: true,
                subnet: { id: net.subnetId },
                publicIPAddressConfiguration: { name: 'pip', sku: { name: 'Standard' }, publicIPAllocationMethod: 'Static', deleteOption: 'Delete' },
              },
            ],
          },
        ],
      },
      // Managed boot diagnostics: the serial log where cloud-init prints the host key.
      diagnosticsProfile: { bootDiagnostics: { enabled: true } },
      identity: identityId ? { type: 'UserAssigned', userAssignedIdentities: { [identityId]: {} } } : { type: 'SystemAssigned' },
    };
  }

  private lroOptions() {
    return this.o.lroIntervalMs !== undefined ? { updateIntervalInMs: this.o.lroIntervalMs } : {};
  }

  private nodeCommand(): NodeCommand {
    return this.o.nodeCommand ?? { command: ['node'], env: {} };
  }

  /** Waits for the VM's public address, its host key (in its row, else its serial log), and its sshd. */
  async waitReady(id: string, o: { signal?: AbortSignal } = {}): Promise<InstanceEndpoint> {
    const probe: BootProbe = {
      address: async () => {
        const vm = await this.o.compute.virtualMachines.get(this.o.resourceGroup, id, { expand: 'instanceView' }).catch((e) => {
          if (statusOf(e) === 404) throw new MeadowrunError(`VM ${id} is gone (deleted or evicted) while starting`, 'launch', { instanceId: id });
          throw e;
        });
        const power = vm.instanceView?.statuses?.find((s) => s.code?.startsWith('PowerState/'))?.code?.slice('PowerState/'.length);
        if (vm.provisioningState === 'Failed' || (power && ['deallocated', 'deallocating', 'stopped', 'stopping'].includes(power))) {
          throw new MeadowrunError(`VM ${id} is ${power ?? vm.provisioningState?.toLowerCase()} while starting`, 'launch', { instanceId: id });
        }
        if (vm.provisioningState !== 'Succeeded' || power !== 'running') return undefined;
        const host = await this.publicAddress(vm);
        if (!host) throw new MeadowrunError(`VM ${id} has no public address; Meadowrun reaches VMs by their public address`, 'launch', { instanceId: id });
        return { host, zone: this.where(vm.zones?.[0]) };
      },
      console: () => this.serialLog(id),
    };
    const { host, hostKey, zone } = await waitUntilReachable(id, 'VM', probe, {
      pollMs: this.o.pollMs ?? 2000,
      signal: o.signal,
      publishedHostKey: this.o.publishedHostKey,
      onPhase: this.o.onPhase,
    });
    const ssh: SshEndpoint = { host, port: 22, user: SSH_USER, hostKey };
    return { ssh, workDir: WORK_DIR, nodeCommand: this.nodeCommand(), zone };
  }

  /** The VM's public address: its NIC's public IP (both made with it). */
  private async publicAddress(vm: VirtualMachine): Promise<string | undefined> {
    const nicId = vm.networkProfile?.networkInterfaces?.[0]?.id;
    if (!nicId) return undefined;
    const nic = await this.o.network.networkInterfaces.get(resourceGroupOf(nicId), lastSegment(nicId));
    const pipId = nic.ipConfigurations?.find((c) => c.publicIPAddress?.id)?.publicIPAddress?.id;
    if (!pipId) return undefined;
    return (await this.o.network.publicIPAddresses.get(resourceGroupOf(pipId), lastSegment(pipId))).ipAddress;
  }

  /** The serial log so far, from boot diagnostics (a SAS URL Resource Manager hands out); empty until there is one. */
  private async serialLog(id: string): Promise<string> {
    const data = await this.o.compute.virtualMachines.retrieveBootDiagnosticsData(this.o.resourceGroup, id, { sasUriExpirationTimeInMinutes: 5 });
    if (!data.serialConsoleLogBlobUri) return '';
    const fetchText = this.o.fetchText ?? defaultFetchText;
    return fetchText(data.serialConsoleLogBlobUri).catch(() => '');
  }

  async terminate(id: string): Promise<void> {
    try {
      await this.o.compute.virtualMachines.delete(this.o.resourceGroup, id, this.lroOptions());
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
  }

  async listRunning(): Promise<RunningInstance[]> {
    const running: RunningInstance[] = [];
    for await (const vm of this.o.compute.virtualMachines.list(this.o.resourceGroup)) {
      if (vm.tags?.meadowrun !== 'true' || !vm.name) continue;
      // A VM whose creation failed still holds its address until deleted: listed (pending), so clean-up finds it.
      if (vm.provisioningState === 'Deleting') continue;
      running.push({
        id: vm.name,
        typeName: vm.hardwareProfile?.vmSize ?? '',
        launchedAt: vm.timeCreated ? new Date(vm.timeCreated).getTime() : 0,
        state: vm.provisioningState === 'Succeeded' ? 'running' : 'pending',
        market: vm.priority === 'Spot' ? 'spot' : 'on-demand',
      });
    }
    return running;
  }

  /**
   * Without waiting (the management Function's later runs finish its launches so): the VM's endpoint
   * once it runs and its host key is known, undefined while it boots, 'gone' once deleted or stopped.
   */
  async bootedEndpoint(id: string): Promise<InstanceEndpoint | undefined | 'gone'> {
    const vm = await this.o.compute.virtualMachines.get(this.o.resourceGroup, id, { expand: 'instanceView' }).catch((e) => {
      if (statusOf(e) === 404) return undefined;
      throw e;
    });
    const power = vm?.instanceView?.statuses?.find((s) => s.code?.startsWith('PowerState/'))?.code?.slice('PowerState/'.length);
    if (!vm || vm.provisioningState === 'Failed' || vm.provisioningState === 'Deleting' || (power && ['deallocated', 'deallocating', 'stopped', 'stopping'].includes(power))) return 'gone';
    if (vm.provisioningState !== 'Succeeded' || power !== 'running') return undefined;
    const host = await this.publicAddress(vm);
    const hostKey = host && ((await publishedEd25519Key(this.o.publishedHostKey, id)) ?? hostKeyFromConsole(await this.serialLog(id)));
    if (!host || !hostKey) return undefined;
    return { ssh: { host, port: 22, user: SSH_USER, hostKey }, workDir: WORK_DIR, nodeCommand: this.nodeCommand(), zone: this.where(vm.zones?.[0]) };
  }
}

/** The operation's end, or a rejection as soon as `signal` aborts (the operation goes on in Azure). */
function waitOrAbort<T>(poller: PromiseLike<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return Promise.resolve(poller);
  if (signal.aborted) return Promise.reject(cancellation());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancellation());
    signal.addEventListener('abort', onAbort, { once: true });
    Promise.resolve(poller).then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Resource Manager's error code: a RestError's `code` when the request itself failed, or the code
 * in a failed long-running operation's message ("The long-running operation has failed. CODE. …").
 */
export function armErrorCode(e: unknown): string {
  const err = e as { code?: string; message?: string; details?: { error?: { code?: string } } };
  if (err?.details?.error?.code) return err.details.error.code;
  if (err?.code && !/^(ECONN|ETIMEDOUT|ENOTFOUND|REQUEST_SEND_ERROR)/.test(err.code)) return err.code;
  return /has failed\. ([A-Za-z]+)\./.exec(err?.message ?? '')?.[1] ?? '';
}

function statusOf(e: unknown): number | undefined {
  return (e as { statusCode?: number })?.statusCode;
}

/** Quota errors as one message naming the quota and where to raise it; undefined for other errors. */
export function quotaError(e: unknown, option: InstanceOption, location: string): MeadowrunError | undefined {
  if (armErrorCode(e) !== 'OperationNotAllowed') return undefined;
  const message = (e as Error)?.message ?? '';
  if (!/quota/i.test(message)) return undefined;
  // "… results in exceeding approved standardDSv5Family Cores quota …" / "… LowPriorityCores quota …"
  const named = /exceeding approved (\S+) Cores quota/i.exec(message)?.[1];
  const quota = named === 'LowPriorityCores' || (!named && option.spot) ? 'Total Regional Spot vCPUs' : named ? `${named} vCPUs` : 'Total Regional vCPUs';
  return new MeadowrunError(
    `Your Azure vCPU quota "${quota}" in ${location} is used up (launching ${option.type.name}${option.spot ? ' as Spot' : ''}): request more at ${QUOTAS_PAGE}${option.spot ? ', or run pay-as-you-go' : ''}`,
    'quota',
    { cause: e },
  );
}

function resourceGroupOf(id: string): string {
  return /\/resourceGroups\/([^/]+)/i.exec(id)?.[1] ?? '';
}

function lastSegment(id: string): string {
  return id.split('/').pop() ?? '';
}

async function defaultFetchText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.text();
}
