// An Azure for a client process (the CLI, or a code-server's extension host) to run jobs on, as
// the Azure end-to-end tests use it: the fake Resource Manager (HTTPS) whose VMs boot as machines of
// the emulator, Azurite for Tables/Queues/Blob (reached by the VMs at the emulator's gateway through
// forwarders), the stand-in Key Vault, the Retail Prices stand-in, and the stand-in `az` (logged in,
// its default subscription the fake's). The VMs' metadata service (Scheduled Events, their identity's
// tokens) is the machine emulator's, at 169.254.169.254 for the machines only. `env` is what the
// client's environment needs; nothing of it reaches beyond 127.0.0.1 and the emulator's namespaces.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { startAzurite, type Azurite } from './azurite';
import { startMachineHost, type MachineHost } from './ec2emu/machineHost';
import { startFakeArm, type FakeArm } from './fakeArm';
import { fakeAz, type FakeAz } from './fakeAz';
import { startFakeKeyVault, type FakeKeyVault } from './fakeKeyVault';
import { startFakeRetailPrices, type FakeRetailPrices } from './fakeRetailPrices';
import { tempDir } from './tempDir';

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

export async function startAzureWorld(o: { spot?: Record<string, number>; sweepIntervalS?: number } = {}): Promise<AzureWorld> {
  const stops: (() => unknown)[] = [];
  try {
    const host = await startMachineHost();
    stops.push(() => host.stop());
    const arm = await startFakeArm({ machines: host });
    stops.push(() => arm.stop());
    const prices = await startFakeRetailPrices({ spot: o.spot });
    stops.push(() => prices.stop());
    const azurite = await startAzurite();
    stops.push(() => azurite.stop());
    const vault = await startFakeKeyVault();
    stops.push(() => vault.stop());
    arm.linkKeyVault(vault);
    // The VMs reach Azurite at the gateway, through forwarders.
    let instanceStorage = azurite.connectionString;
    for (const url of [azurite.blobUrl, azurite.queueUrl, azurite.tableUrl]) {
      const u = new URL(url);
      const f = await forward(host.gateway, Number(u.port));
      stops.push(() => f.close());
      instanceStorage = instanceStorage.replace(`${u.hostname}:${u.port}`, `${host.gateway}:${f.port}`);
    }
    const home = tempDir('azure-home');
    const cas = path.join(home, 'test-cas.pem');
    fs.writeFileSync(cas, `${arm.ca}\n${vault.ca}\n`, { mode: 0o600 });
    const az = fakeAz({ subscription: arm.subscription });
    const env: Record<string, string> = {
      PATH: az.path,
      HOME: home,
      NODE_EXTRA_CA_CERTS: cas,
      AWS_EC2_METADATA_DISABLED: 'true',
      MEADOWRUN_AZURE_ARM_ENDPOINT: arm.endpoint,
      MEADOWRUN_AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      MEADOWRUN_AZURE_KEY_VAULT_ENDPOINT: vault.url,
      MEADOWRUN_AZURE_INSTANCE_STORAGE_CONNECTION_STRING: instanceStorage,
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
