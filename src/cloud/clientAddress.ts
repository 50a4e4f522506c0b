// Where this client's SSH comes from, for the firewall rule that lets it reach instances (an EC2
// security group, an Azure network security group): a setting, or this machine's public address /32.
import { MeadowrunError } from '../core/errors';

/**
 * Where SSH may come from: the override (from `setting`, named in the messages), or this machine's
 * public address as checkip.amazonaws.com sees it.
 */
export async function clientCidr(override: string | undefined, lookup?: () => Promise<string>, setting = 'meadowrun.aws.sshFrom (--ssh-from)'): Promise<string> {
  if (override) {
    if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(override)) {
      throw new MeadowrunError(`${setting} must be an IPv4 CIDR such as 203.0.113.7/32 (got "${override}")`, 'bad-config');
    }
    return override;
  }
  return `${await (lookup ?? (() => publicAddress(setting)))()}/32`;
}

async function publicAddress(setting: string): Promise<string> {
  try {
    const res = await fetch('https://checkip.amazonaws.com/', { signal: AbortSignal.timeout(10_000) });
    const ip = (await res.text()).trim();
    if (res.ok && /^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return ip;
    throw new Error(`HTTP ${res.status}`);
  } catch (e) {
    throw new MeadowrunError(
      `Could not find this machine's public address (checkip.amazonaws.com: ${(e as Error).message}); ` +
        `set ${setting} to the address range SSH comes from, e.g. your VPN or VPC`,
      'launch',
    );
  }
}

