// An Azure for a client process (the CLI, or a code-server's extension host) to run jobs on, as
// the Azure end-to-end tests use it: the fake Resource Manager (HTTPS) whose VMs boot as machines of
// the emulator, Azurite for Tables/Queues/Blob (reached by the VMs at the emulator's gateway through
// forwarders), the stand-in Key Vault (also at the gateway, its CA trusted by the machines), the Retail Prices stand-in, and the stand-in `az` (logged in,
// its default subscription the fake's). The VMs' metadata service (Scheduled Events, their identity's
// tokens) is the machine emulator's, at 169.254.169.254 for the machines only. `env` is what the
// client's environment needs; nothing of it reaches beyond 127.0.0.1 and the emulator's namespaces.
//
// With `storageTokens`, storage is reached as on Azure: Azurite serves https with `--oauth basic`,
// the client and the VMs are given its endpoints (no key) and use their tokens (the stand-in az's,
// the VM identity's from the emulator's metadata service), and the machines trust its test CA as
// they trust Azure's: in OpenSSL's certificate directory (Python) and NODE_EXTRA_CA_CERTS for every
// service and SSH session (Node). This process trusts it too (its own checks use the connection string).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { StorageEndpoints } from '../../src/cloud/azure/storage';
import { startAzurite, type Azurite } from './azurite';
import { startMachineHost, type MachineHost } from './ec2emu/machineHost';
import { startFakeArm, type FakeArm } from './fakeArm';
import { fakeAz, type FakeAz } from './fakeAz';
import { startFakeKeyVault, type FakeKeyVault } from './fakeKeyVault';
import { startFakeRetailPrices, type FakeRetailPrices } from './fakeRetailPrices';
import { tempDir } from './tempDir';
import { trustCaInThisProcess } from './trustCa';

export { machineHostUnavailable } from './ec2emu/machineHost';

/** Forwards ADDRESS:(new port) to 127.0.0.1:`port`, so machines reach a server that listens on loopback only. */
export async function forward(address: string, port: number): Promise<{ port: number; close(): void }> {
  const server = net.createServer((inbound) => {
    const outbound = net.connect(port, '127.0.0.1');
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  await new Promise<void>((r) => server.listen(0, address, r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

export interface AzureWorld {
  host: MachineHost;
  arm: FakeArm;
  prices: FakeRetailPrices;
  azurite: Azurite;
  vault: FakeKeyVault;
  az: FakeAz;
  /** A private temp dir: HOME for the client, the CA bundle, Meadowrun's Azure dir. */
  home: string;
  /** The client's environment: PATH with the stand-in az first, the CAs, every endpoint. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startAzureWorld(o: { spot?: Record<string, number>; sweepIntervalS?: number; storageTokens?: boolean } = {}): Promise<AzureWorld> {
  const stops: (() => unknown)[] = [];
  try {
    const host = await startMachineHost();
    stops.push(() => host.stop());
    const arm = await startFakeArm({ machines: host });
    stops.push(() => arm.stop());
    const prices = await startFakeRetailPrices({ spot: o.spot });
    stops.push(() => prices.stop());
    const azurite = await startAzurite(o.storageTokens ? { oauth: true, addresses: [host.gateway] } : {});
    stops.push(() => azurite.stop());
    const vault = await startFakeKeyVault({ addresses: [host.gateway] });
    stops.push(() => vault.stop());
    arm.linkKeyVault(vault);
    // The VMs' agents read named secrets (a registry's password, a git token) from it at the gateway.
    const vaultForwarder = await forward(host.gateway, Number(new URL(vault.url).port));
    stops.push(() => vaultForwarder.close());
    // The VMs reach Azurite at the gateway, through forwarders.
    let instanceStorage = azurite.connectionString;
    const instanceEndpoints = { ...azurite.endpoints };
    for (const service of ['blob', 'queue', 'table'] as const) {
      const u = new URL(azurite.endpoints[service]);
      const f = await forward(host.gateway, Number(u.port));
      stops.push(() => f.close());
      instanceStorage = instanceStorage.replace(`${u.hostname}:${u.port}`, `${host.gateway}:${f.port}`);
      instanceEndpoints[service] = instanceEndpoints[service].replace(`${u.hostname}:${u.port}`, `${host.gateway}:${f.port}`);
    }
    if (azurite.ca) trustCaInThisProcess(azurite.ca);
    host.setMachineFiles(machineTrust([vault.ca, ...(azurite.ca ? [azurite.ca] : [])]));
    const home = tempDir('azure-home');
    const cas = path.join(home, 'test-cas.pem');
    fs.writeFileSync(cas, `${arm.ca}\n${vault.ca}\n${azurite.ca ?? ''}\n`, { mode: 0o600 });
    const az = fakeAz({ subscription: arm.subscription });
    const env: Record<string, string> = {
      PATH: az.path,
      HOME: home,
      NODE_EXTRA_CA_CERTS: cas,
      AWS_EC2_METADATA_DISABLED: 'true',
      MEADOWRUN_AZURE_ARM_ENDPOINT: arm.endpoint,
      ...(o.storageTokens
        ? { MEADOWRUN_AZURE_STORAGE_ENDPOINTS: JSON.stringify(azurite.endpoints), MEADOWRUN_AZURE_INSTANCE_STORAGE_ENDPOINTS: JSON.stringify(instanceEndpoints satisfies StorageEndpoints) }
        : { MEADOWRUN_AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString, MEADOWRUN_AZURE_INSTANCE_STORAGE_CONNECTION_STRING: instanceStorage }),
      MEADOWRUN_AZURE_KEY_VAULT_ENDPOINT: vault.url,
      MEADOWRUN_AZURE_INSTANCE_KEY_VAULT: `https://${host.gateway}:${vaultForwarder.port}`,
      MEADOWRUN_AZURE_PRICES_URL: prices.url,
      MEADOWRUN_AZURE_SSH_FROM: '127.0.0.1/32',
      MEADOWRUN_AZURE_DIR: path.join(home, 'azure'),
      ...(o.sweepIntervalS && { MEADOWRUN_SWEEP_INTERVAL: String(o.sweepIntervalS) }),
      // No Azure identity but the stand-in az's.
      ...Object.fromEntries(['AZURE_SUBSCRIPTION_ID', 'AZURE_LOCATION', 'AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET'].map((k) => [k, ''])),
    };
    const stop = async () => {
      for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => undefined);
    };
    return { host, arm, prices, azurite, vault, az, home, env, stop };
  } catch (e) {
    for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => undefined);
    throw e;
  }
}

/** Files that make a machine trust test CAs: OpenSSL's hashed directory, and NODE_EXTRA_CA_CERTS for systemd's services and SSH sessions (pam_env). */
function machineTrust(cas: string[]): Record<string, string> {
  const hashed = cas.map((ca) => [`/etc/ssl/certs/${execFileSync('openssl', ['x509', '-subject_hash', '-noout'], { input: ca, encoding: 'utf8' }).trim()}.0`, ca]);
  const file = '/etc/meadowrun-test-ca.pem';
  return {
    ...Object.fromEntries(hashed),
    [file]: cas.join('\n'),
    '/etc/environment': `NODE_EXTRA_CA_CERTS=${file}\n`,
    '/etc/systemd/system.conf.d/meadowrun-test-ca.conf': `[Manager]\nDefaultEnvironment=NODE_EXTRA_CA_CERTS=${file}\n`,
  };
}
