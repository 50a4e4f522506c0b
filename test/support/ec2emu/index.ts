// The EC2 emulator: moto runs the EC2 API, and this turns every instance moto reports as running
// into a real machine (machineHost.ts: a container booted from a Debian 12 image, at the private and
// public address moto reports, cloud-init running the instance's real user data, an instance
// metadata service reachable from instances only, serving the instance's role credentials and spot
// notice). stopped → powered off (its disk kept); terminated → destroyed. moto hands out addresses
// from the machine host's pools, and listens on its gateway address too, so instances reach it.
import { startMoto, type Moto } from '../moto';
import { awsQuery, items, text, type XmlNode } from './awsQuery';
import { machineHostUnavailable, startMachineHost, type EmulatedInstance, type MachineHost } from './machineHost';

export type { EmulatedInstance } from './machineHost';

export interface Ec2Emulator {
  moto: Moto;
  region: string;
  /** The host's address in every instance's routing table; moto listens on it too. */
  gateway: string;
  /** moto as instances reach it: http://GATEWAY:PORT. */
  instanceEndpoint: string;
  privateCidr: string;
  publicCidr: string;
  instances(): EmulatedInstance[];
  instance(id: string): EmulatedInstance | undefined;
  /** Resolves when the instance's container has been started (not yet when SSH answers). */
  waitForBoot(id: string, timeoutMs?: number): Promise<EmulatedInstance>;
  /** Resolves when a stopped instance's container has powered off (its disk is kept). */
  waitForOff(id: string, timeoutMs?: number): Promise<void>;
  /** Resolves when the instance's container, namespace and disk are gone. */
  waitForGone(id: string, timeoutMs?: number): Promise<void>;
  consoleOutput(id: string): string | undefined;
  /** Files written into every instance's disk as it boots, as the cloud's image brings them (MachineHost.setMachineFiles). */
  setMachineFiles(files: Record<string, string>): void;
  /** Runs a command as root inside a running instance (MachineHost.exec). */
  exec(id: string, args: string[], input?: string): { code: number | null; stdout: string; stderr: string };
  /** Switches IMDS `spot/instance-action` on (a notice that far ahead) or off. */
  setSpotAction(id: string, action: 'terminate' | 'stop' | 'hibernate' | undefined, inSeconds?: number): void;
  /** Lines the emulator logged (boots, power-offs, errors). */
  log: string[];
  stop(): Promise<void>;
}

/** Why this machine cannot run the emulator, or undefined when it can. */
export function ec2EmulatorUnavailable(): string | undefined {
  return machineHostUnavailable()?.replace('the machine emulator', 'the EC2 emulator');
}

export async function startEc2Emulator(options: { region?: string; pollMs?: number; stateDir?: string } = {}): Promise<Ec2Emulator> {
  const region = options.region ?? 'us-east-1';
  const host: MachineHost = await startMachineHost({ stateDir: options.stateDir });
  let moto: Moto | undefined;
  try {
    moto = await startMoto({ region, privateCidr: host.privateCidr, publicCidr: host.publicCidr });
    await moto.listenAlso(host.gateway);
  } catch (e) {
    if (moto) await moto.stop();
    await host.stop();
    throw e;
  }
  const m = moto;
  const say = host.say;
  let stopped = false;
  m.consoleOutput = (id) => host.consoleOutput(id);

  const roleCredentials = async (id: string, profileArnFromDescribe?: string) => {
    const given = m.instanceProfiles.get(id);
    const profileName = given?.name ?? (given?.arn ?? profileArnFromDescribe)?.split('/').pop();
    if (!profileName) return {};
    const profile = await awsQuery(m.directEndpoint, 'iam', region, 'GetInstanceProfile', { InstanceProfileName: profileName });
    const role = items(profile, 'GetInstanceProfileResponse', 'GetInstanceProfileResult', 'InstanceProfile', 'Roles')[0];
    if (!role) return {};
    const assumed = await awsQuery(m.directEndpoint, 'sts', region, 'AssumeRole', { RoleArn: text(role, 'Arn'), RoleSessionName: id });
    const c = (k: string) => text(assumed, 'AssumeRoleResponse', 'AssumeRoleResult', 'Credentials', k);
    return {
      role: text(role, 'RoleName'),
      credentials: {
        accessKeyId: c('AccessKeyId'),
        secretAccessKey: c('SecretAccessKey'),
        sessionToken: c('SessionToken'),
        expiration: c('Expiration'),
        lastUpdated: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
    };
  };

  /** What the instance boots with: its user data and metadata, asked of moto as it boots. */
  const details = (id: string, described: XmlNode) => async () => {
    const attr = await awsQuery(m.directEndpoint, 'ec2', region, 'DescribeInstanceAttribute', { InstanceId: id, Attribute: 'userData' });
    const privateIp = text(described, 'privateIpAddress')!;
    return {
      userData: text(attr, 'DescribeInstanceAttributeResponse', 'userData', 'value') ?? '',
      meta: {
        instanceId: id,
        instanceType: text(described, 'instanceType'),
        imageId: text(described, 'imageId'),
        availabilityZone: text(described, 'placement', 'availabilityZone'),
        region,
        hostname: `ip-${privateIp.replace(/\./g, '-')}`,
        ...(await roleCredentials(id, text(described, 'iamInstanceProfile', 'arn')).catch((e) => {
          say(`${id}: no role credentials: ${(e as Error).message}`);
          return {};
        })),
      },
    };
  };

  const reconcile = async () => {
    const seen = new Set<string>();
    const tree = await awsQuery(m.directEndpoint, 'ec2', region, 'DescribeInstances', {});
    for (const reservation of items(tree, 'DescribeInstancesResponse', 'reservationSet')) {
      for (const inst of items(reservation, 'instancesSet')) {
        const id = text(inst, 'instanceId')!;
        const state = text(inst, 'instanceState', 'name');
        seen.add(id);
        const wanted = host.wanted(id);
        if (state === 'running' && (wanted === undefined || wanted === 'off')) {
          const privateIp = text(inst, 'privateIpAddress');
          if (!privateIp) continue;
          host.boot(id, { privateIp, publicIp: text(inst, 'ipAddress') || undefined }, details(id, inst));
        } else if ((state === 'stopping' || state === 'stopped') && wanted === 'on') {
          host.powerOff(id);
        } else if ((state === 'shutting-down' || state === 'terminated') && wanted !== undefined && wanted !== 'gone') {
          host.destroy(id);
        }
      }
    }
    // moto was reset: its instances are gone.
    for (const vm of host.instances()) if (!seen.has(vm.id)) host.destroy(vm.id);
  };

  const pollMs = options.pollMs ?? 300;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();
  const poll = () => {
    polling = reconcile()
      .catch((e) => void say(`poll: ${(e as Error).message}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(poll, pollMs);
      });
  };
  poll();

  return {
    moto: m,
    region,
    gateway: host.gateway,
    instanceEndpoint: `http://${host.gateway}:${m.port}`,
    privateCidr: host.privateCidr,
    publicCidr: host.publicCidr,
    log: host.log,
    instances: host.instances,
    instance: host.instance,
    waitForBoot: host.waitForBoot,
    waitForOff: host.waitForOff,
    waitForGone: host.waitForGone,
    consoleOutput: host.consoleOutput,
    setMachineFiles: host.setMachineFiles,
    exec: host.exec,
    setSpotAction(id, action, inSeconds = 120) {
      host.updateMeta(id, {
        spotAction: action ? { action, time: new Date(Date.now() + inSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z') } : undefined,
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      await polling;
      await host.stop();
      await m.stop();
    },
  };
}
