// Instances on EC2. A launch is RunInstances with Meadowrun's user data (see ../cloudInit.ts) in the
// cheapest zone for the type, falling back to the next zone when one has no capacity; the instance
// is then ready when EC2 says it runs, it has published its SSH host key (the client pins that key:
// it came through AWS — the instance's row of the allocation table, written with the instance
// role's credentials, or else the console cloud-init printed it to — not over the network from
// the instance), and its sshd answers.
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypeOfferingsCommand,
  EC2Client,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  RunInstancesCommandInput,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { PricingClient } from '@aws-sdk/client-pricing';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { cancellation, MeadowrunError } from '../../core/errors';
import { InstanceOption, InstanceType } from '../../core/instanceTypes';
import { InstanceEndpoint, InstanceProvider, NodeCommand, RunningInstance, SshEndpoint } from '../ports';
import { DEFAULT_IDLE_MARGIN_S } from '../../core/idleWatchdog';
import { DEFAULT_ENVIRONMENT_MAX_AGE_S, DEFAULT_MANAGEMENT_CONFIG } from '../../core/management';
import { AwsAgentConfig } from './agentConfig';
import { loadCatalog } from './catalog';
import { clientCidr } from '../clientAddress';
import { memoizeSuccess } from '../memoizeSuccess';
import { BootProbe, publishedEd25519Key, sleep, waitUntilReachable } from '../readiness';
import { allowSsh, ensureInstanceProfile, ensureSecurityGroup, TAGS } from './prepare';
import { hostKeyFromConsole, SSH_USER, userData, WORK_DIR } from '../cloudInit';
import publishHostKeySource from './publishHostKey.py';

/** EC2 instance ids, which cloud-init reads from the metadata service as the instance boots. */
const EC2_INSTANCE_ID = { fromCloudInit: { pattern: 'i-[0-9a-f]*' } };

/** Ubuntu 24.04 LTS, published by Canonical as an SSM public parameter in every region. */
export const DEFAULT_AMI_PARAMETER = '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id';

export interface Ec2ProviderOptions {
  ec2: EC2Client;
  ssm: SSMClient;
  iam: IAMClient;
  pricing: PricingClient;
  region: string;
  /** Where the catalog is cached (a private directory). */
  cacheDir: string;
  /** The allocation table the agent on each instance opens (and the instance role may update). */
  tableName: string;
  /** An AMI id, or an SSM parameter naming one; Ubuntu 24.04 on x86_64 by default. */
  ami?: { id?: string; parameter?: string };
  allowBurstable?: boolean;
  /** Where SSH comes from, as a CIDR; this machine's public address /32 when absent. */
  sshFrom?: string;
  /** The AWS endpoint instances use (an emulator in tests, or a VPC endpoint), given to the agent. */
  instanceEndpoint?: string;
  /** The bucket of map payloads too big for a queue message (its name needs the account id, hence
   * asked, once, as the provider prepares); prepareAlso creates it. */
  payloadBucket?: () => Promise<string>;
  /** The instance's deallocation sweep and idle watchdog (seconds); defaults as on every cloud. */
  sweep?: { intervalS: number; graceS: number };
  idle?: { timeoutS: number; marginS: number };
  /** How long an instance keeps an environment no job uses (the management config's); DEFAULT_ENVIRONMENT_MAX_AGE_S when absent or unreadable. */
  environmentMaxAgeS?: () => Promise<number | undefined>;
  /** What else every launch needs created first (the allocation table); idempotent. */
  prepareAlso?: () => Promise<unknown>;
  /**
   * Finds what prepare made instead of making it (and lets no client in): for the management
   * function, whose role may launch into the account as prepared but not change it.
   */
  findPrepared?: () => Promise<{ securityGroup: string; instanceProfile: string }>;
  /** How often a launching instance is looked at (ms). */
  pollMs?: number;
  /** Each launch attempt, for the progress and the log. */
  onAttempt?: (line: string) => void;
  /** The host key the instance wrote to its row of the allocation table (base64), if it has yet. */
  publishedHostKey?: (id: string) => Promise<string | undefined>;
  /** Each step of waitReady as it is reached (for the progress and the cold-start benchmark); a host key says where it was read. */
  onPhase?: (id: string, phase: 'launched' | 'running' | 'host-key' | 'ssh', detail?: 'row' | 'console') => void;
}

export interface LaunchOptions {
  signal?: AbortSignal;
  /** Each attempt of this launch (a zone without capacity, the next one tried), for its job's progress. */
  onAttempt?: (line: string) => void;
}

// A (type, zone) without capacity, or that does not offer what was asked: the next one may.
const TRY_ELSEWHERE = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'UnfulfillableCapacity',
  'InsufficientFreeAddressesInSubnet',
  'Unsupported',
  'InsufficientHostCapacity',
]);
const QUOTAS_PAGE = 'https://console.aws.amazon.com/servicequotas/home/services/ec2/quotas';

export class Ec2Provider implements InstanceProvider {
  readonly name = 'aws';
  /** EC2 boots in 20–40 s; cloud-init may then install Node and Python before SSH shows the key. */
  readonly launchGraceMs = 10 * 60_000;
  /** DescribeInstances is eventually consistent: a new instance may be missing from it for a while. */
  readonly listingLagMs = 60_000;
  /** The payload bucket's name, once prepared. */
  private bucket?: string;

  constructor(private readonly o: Ec2ProviderOptions) {}

  async listInstanceTypes(): Promise<InstanceType[]> {
    return (await this.loadCatalog()).types;
  }

  private readonly loadCatalog = memoizeSuccess(() =>
    this.resolveImage().then(({ architecture }) =>
      loadCatalog({ ec2: this.o.ec2, pricing: this.o.pricing, region: this.o.region, cacheDir: this.o.cacheDir, architecture, allowBurstable: this.o.allowBurstable }),
    ),
  );

  /** The AMI to launch and its architecture (the catalog offers only types that run it). */
  resolveImage(): Promise<{ id: string; architecture: string }> {
    return this.image();
  }

  private readonly image = memoizeSuccess(async () => {
    let id = this.o.ami?.id;
    const parameter = this.o.ami?.parameter ?? DEFAULT_AMI_PARAMETER;
    if (!id) {
      const r = await this.o.ssm.send(new GetParameterCommand({ Name: parameter })).catch((e) => {
        if ((e as Error).name === 'ParameterNotFound') {
          throw new MeadowrunError(`No AMI: the SSM parameter ${parameter} does not exist in ${this.o.region}; set meadowrun.aws.ami to an AMI id or another parameter`, 'bad-config');
        }
        throw e;
      });
      id = r.Parameter?.Value;
    }
    const images = await this.o.ec2.send(new DescribeImagesCommand({ ImageIds: [id!] }));
    const architecture = images.Images?.[0]?.Architecture;
    if (!architecture) throw new MeadowrunError(`The AMI ${id} was not found in ${this.o.region}`, 'bad-config');
    return { id: id!, architecture };
  });

  /** The instance profile and security group, once per process; lets this client's address in. */
  prepare(): Promise<void> {
    return this.prepared().then(() => undefined);
  }

  private readonly prepared = memoizeSuccess(async (): Promise<{ securityGroup: string; instanceProfile: string }> => {
    if (this.o.findPrepared) {
      const [found, bucket] = await Promise.all([this.o.findPrepared(), this.o.payloadBucket?.()]);
      this.bucket = bucket;
      return found;
    }
    const [instanceProfile, securityGroup, cidr, bucket] = await Promise.all([
      ensureInstanceProfile(this.o.iam, this.o.tableName),
      ensureSecurityGroup(this.o.ec2),
      clientCidr(this.o.sshFrom),
      this.o.payloadBucket?.(),
      this.o.prepareAlso?.(),
    ]);
    this.bucket = bucket;
    await allowSsh(this.o.ec2, securityGroup, cidr);
    return { instanceProfile, securityGroup };
  });

  /**
   * RunInstances in the cheapest zone that has capacity; returns the id (and the zone) as soon as EC2
   * has one: the engine registers it as launching, then waits with waitReady.
   */
  async launch(option: InstanceOption, authorizedPublicKey: string, o: LaunchOptions = {}): Promise<{ id: string; zone?: string }> {
    return this.runInCheapestZone(option, authorizedPublicKey, o);
  }

  /** The security group lets this client's address in (prepare does it once per process). */
  async allowClient(): Promise<void> {
    await this.prepare();
  }

  /** launch(), for the tests that need only the id. */
  async start(option: InstanceOption, authorizedPublicKey: string, o: LaunchOptions = {}): Promise<string> {
    return (await this.launch(option, authorizedPublicKey, o)).id;
  }

  private async runInCheapestZone(option: InstanceOption, authorizedPublicKey: string, o: LaunchOptions): Promise<{ id: string; zone?: string }> {
    // Every attempt to the provider's listener (the log); a zone without capacity also to the
    // launch's (the job's progress, which already says what is launching).
    const say = (line: string, toJob: boolean) => {
      this.o.onAttempt?.(line);
      if (toJob) o.onAttempt?.(line);
    };
    const { securityGroup, instanceProfile } = await this.prepared();
    const [image, catalog, environmentMaxAgeS] = await Promise.all([this.resolveImage(), this.loadCatalog(), this.environmentMaxAgeS()]);
    const type = option.type.name;
    const zones: (string | undefined)[] = option.spot ? catalog.spotZones(type) : [undefined, ...(await this.zonesOffering(type))];
    if (!zones.length) zones.push(undefined);
    const market = option.spot ? 'spot' : 'on-demand';
    const failures: string[] = [];
    const input = (zone: string | undefined): RunInstancesCommandInput => ({
      ImageId: image.id,
      InstanceType: type as RunInstancesCommandInput['InstanceType'],
      MinCount: 1,
      MaxCount: 1,
      UserData: userData(authorizedPublicKey, this.agentConfig(environmentMaxAgeS), this.nodeCommand(), EC2_INSTANCE_ID, publishHostKeySource),
      IamInstanceProfile: { Name: instanceProfile },
      SecurityGroupIds: [securityGroup],
      ...(zone && { Placement: { AvailabilityZone: zone } }),
      ...(option.spot && {
        InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' } },
      }),
      // IMDSv2 only, and not reachable from containers one hop further.
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
      // The idle watchdog powers the instance off: that ends it, it does not keep a stopped disk.
      InstanceInitiatedShutdownBehavior: 'terminate',
      TagSpecifications: [
        { ResourceType: 'instance', Tags: [...TAGS, { Key: 'Name', Value: `meadowrun-${type}` }] },
        { ResourceType: 'volume', Tags: TAGS },
      ],
    });
    for (const [i, zone] of zones.entries()) {
      if (o.signal?.aborted) throw cancellation();
      const where = `${type} ${market}${zone ? ` in ${zone}` : ''}`;
      say(`launching ${where}`, false);
      try {
        const r = await this.runWithProfileRetry(input(zone), o.signal);
        const id = r.Instances?.[0]?.InstanceId;
        if (!id) throw new MeadowrunError(`RunInstances returned no instance for ${where}`, 'launch');
        this.o.onPhase?.(id, 'launched');
        // Cancelled while RunInstances was on its way: the instance must not outlive the call.
        if (o.signal?.aborted) {
          await this.terminate(id).catch(() => undefined);
          throw cancellation();
        }
        return { id, zone: r.Instances?.[0]?.Placement?.AvailabilityZone ?? zone };
      } catch (e) {
        const name = (e as Error).name;
        if (TRY_ELSEWHERE.has(name)) {
          failures.push(`${where}: ${name}`);
          const next = zones[i + 1];
          say(`No capacity for ${type} (${market})${zone ? ` in ${zone}` : ''} (${name}), ${next ? `trying ${next}` : 'no zone left to try'}`, true);
          continue;
        }
        throw quotaError(e, option) ?? e;
      }
    }
    throw new MeadowrunError(`No capacity for ${type} (${market}) in ${this.o.region}: ${failures.join('; ')}`, 'no-capacity');
  }

  /** The management config's environment age; a launch does not fail for want of it. */
  private async environmentMaxAgeS(): Promise<number> {
    return (await this.o.environmentMaxAgeS?.().catch(() => undefined)) ?? DEFAULT_ENVIRONMENT_MAX_AGE_S;
  }

  /** The instance's AgentConfig, but for its id (the instance fills that in as it boots). */
  agentConfig(environmentMaxAgeS = DEFAULT_ENVIRONMENT_MAX_AGE_S): Omit<AwsAgentConfig, 'instanceId'> {
    return {
      provider: 'aws',
      region: this.o.region,
      ...(this.o.instanceEndpoint && { endpoint: this.o.instanceEndpoint }),
      workDir: WORK_DIR,
      table: { tableName: this.o.tableName },
      queues: { queuePrefix: 'meadowrun-' },
      payloads: { ...(this.bucket && { bucket: this.bucket }) },
      interruption: { imdsEndpoint: 'http://169.254.169.254' },
      sweep: this.o.sweep ?? { intervalS: 30, graceS: 120 },
      idle: this.o.idle ?? { timeoutS: DEFAULT_MANAGEMENT_CONFIG.idleTimeoutS, marginS: DEFAULT_IDLE_MARGIN_S },
      // The management function has no SSH: the instance removes its unused environments itself.
      environments: { maxAgeS: environmentMaxAgeS },
    };
  }

  /** IAM is eventually consistent: a profile made moments ago may not be usable by EC2 yet. */
  private async runWithProfileRetry(input: RunInstancesCommandInput, signal?: AbortSignal) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        // Never aborted mid-request: EC2 may launch an instance whose id we would then not know.
        // A cancelled launch is terminated once RunInstances has answered.
        return await this.o.ec2.send(new RunInstancesCommand(input));
      } catch (e) {
        const profileNotReady = (e as Error).name === 'InvalidParameterValue' && /iamInstanceProfile/i.test((e as Error).message);
        if (!profileNotReady || Date.now() > deadline) throw e;
        await sleep(2000, signal);
      }
    }
  }

  private async zonesOffering(type: string): Promise<string[]> {
    const r = await this.o.ec2.send(
      new DescribeInstanceTypeOfferingsCommand({ LocationType: 'availability-zone', Filters: [{ Name: 'instance-type', Values: [type] }] }),
    );
    return (r.InstanceTypeOfferings ?? []).map((x) => x.Location!).filter(Boolean).sort();
  }

  /**
   * Waits until the instance runs, has published its host key (in its row, else on its console:
   * both read through AWS, so it is the instance's own), and its sshd answers.
   */
  async waitReady(id: string, o: { signal?: AbortSignal } = {}): Promise<InstanceEndpoint> {
    let latest = true;
    const probe: BootProbe = {
      address: async () => {
        const r = await this.o.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })).catch((e) => {
          // Just launched: EC2 may not list it yet.
          if ((e as Error).name === 'InvalidInstanceID.NotFound') return undefined;
          throw e;
        });
        const inst = r?.Reservations?.[0]?.Instances?.[0];
        const state = inst?.State?.Name;
        if (state === 'shutting-down' || state === 'terminated' || state === 'stopped' || state === 'stopping') {
          throw new MeadowrunError(`Instance ${id} ${state} while starting${inst?.StateReason?.Message ? `: ${inst.StateReason.Message}` : ''}`, 'launch', { instanceId: id });
        }
        if (state !== 'running') return undefined;
        const host = inst?.PublicIpAddress;
        if (!host) throw new MeadowrunError(`Instance ${id} has no public address (its subnet gives none); Meadowrun reaches instances by their public address`, 'launch', { instanceId: id });
        return { host };
      },
      console: async () => {
        const out = await this.o.ec2.send(new GetConsoleOutputCommand({ InstanceId: id, Latest: latest })).catch((e) => {
          // Only Nitro instances have the latest output on demand; others show it a little later.
          if (latest && /Unsupported/.test((e as Error).name)) {
            latest = false;
            return undefined;
          }
          throw e;
        });
        return out?.Output ? Buffer.from(out.Output, 'base64').toString('utf8') : '';
      },
    };
    const { host, hostKey } = await waitUntilReachable(id, 'Instance', probe, {
      pollMs: this.o.pollMs ?? 1000,
      signal: o.signal,
      publishedHostKey: this.o.publishedHostKey,
      onPhase: this.o.onPhase,
    });
    const ssh: SshEndpoint = { host, port: 22, user: SSH_USER, hostKey };
    return { ssh, workDir: WORK_DIR, nodeCommand: this.nodeCommand() };
  }

  private rowHostKey(id: string): Promise<string | undefined> {
    return publishedEd25519Key(this.o.publishedHostKey, id);
  }

  /**
   * One look at a launching instance, without waiting or connecting: its endpoint once EC2 says it
   * runs and it has published its host key (in its row, else on its console; sshd starts with it);
   * undefined before; 'gone' when it ended. For the management function, which cannot reach SSH
   * (the security group lets clients in).
   */
  async bootedEndpoint(id: string): Promise<InstanceEndpoint | undefined | 'gone'> {
    const r = await this.o.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })).catch((e) => {
      if ((e as Error).name === 'InvalidInstanceID.NotFound') return undefined;
      throw e;
    });
    const inst = r?.Reservations?.[0]?.Instances?.[0];
    const state = inst?.State?.Name;
    if (state === 'shutting-down' || state === 'terminated' || state === 'stopped' || state === 'stopping') return 'gone';
    if (state !== 'running' || !inst?.PublicIpAddress) return undefined;
    let hostKey = await this.rowHostKey(id);
    if (!hostKey) {
      const out = await this.o.ec2.send(new GetConsoleOutputCommand({ InstanceId: id, Latest: true })).catch((e) => {
        if (/Unsupported/.test((e as Error).name)) return this.o.ec2.send(new GetConsoleOutputCommand({ InstanceId: id }));
        throw e;
      });
      hostKey = hostKeyFromConsole(out?.Output ? Buffer.from(out.Output, 'base64').toString('utf8') : '');
    }
    if (!hostKey) return undefined;
    return { ssh: { host: inst.PublicIpAddress, port: 22, user: SSH_USER, hostKey }, workDir: WORK_DIR, nodeCommand: this.nodeCommand() };
  }

  /** The agent's Node, with the region and (emulators, VPC endpoints) the endpoint it reaches AWS at. */
  private nodeCommand(): NodeCommand {
    return { command: ['node'], env: { AWS_REGION: this.o.region, ...(this.o.instanceEndpoint && { AWS_ENDPOINT_URL: this.o.instanceEndpoint }) } };
  }

  async terminate(id: string): Promise<void> {
    await this.o.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })).catch((e) => {
      if ((e as Error).name !== 'InvalidInstanceID.NotFound') throw e;
    });
  }

  async listRunning(): Promise<RunningInstance[]> {
    const running: RunningInstance[] = [];
    let NextToken: string | undefined;
    do {
      const r = await this.o.ec2.send(
        new DescribeInstancesCommand({
          Filters: [{ Name: 'tag:meadowrun', Values: ['true'] }, { Name: 'instance-state-name', Values: ['pending', 'running'] }],
          NextToken,
        }),
      );
      for (const inst of (r.Reservations ?? []).flatMap((x) => x.Instances ?? [])) {
        running.push({
          id: inst.InstanceId!,
          typeName: inst.InstanceType ?? '',
          launchedAt: inst.LaunchTime?.getTime() ?? 0,
          state: inst.State?.Name === 'running' ? 'running' : 'pending',
          market: inst.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
          ...(inst.Placement?.AvailabilityZone && { zone: inst.Placement.AvailabilityZone }),
        });
      }
      NextToken = r.NextToken;
    } while (NextToken);
    return running;
  }
}

/** Quota errors as one message naming the quota and where to raise it; undefined for other errors. */
function quotaError(e: unknown, option: InstanceOption): MeadowrunError | undefined {
  const name = (e as Error).name;
  const type = option.type.name;
  if (name === 'MaxSpotInstanceCountExceeded') {
    return new MeadowrunError(
      `Your spot vCPU quota in this region is used up ("All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests" or the one for ${type}'s family): raise it at ${QUOTAS_PAGE}, or run on-demand`,
      'quota',
      { cause: e },
    );
  }
  if (name === 'VcpuLimitExceeded' || name === 'InstanceLimitExceeded') {
    return new MeadowrunError(
      `Your on-demand vCPU quota for ${type}'s family is used up ("Running On-Demand … instances" in Service Quotas): raise it at ${QUOTAS_PAGE}`,
      'quota',
      { cause: e },
    );
  }
  return undefined;
}
