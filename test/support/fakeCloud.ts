// A cloud in memory for tests of the engine's and the adjuster's logic: the in-memory allocation
// table and a provider whose instances are entries in a map. Launches boot when the test says so
// (or at once), and can be made to fail, so that lifecycles can be driven step by step.
import { Cloud, InstanceEndpoint, InstanceProvider, RunningInstance } from '../../src/cloud/ports';
import { InstanceOption, InstanceType } from '../../src/core/instanceTypes';
import { MemoryAllocationTable } from './memoryAllocationTable';

interface FakeInstance {
  id: string;
  option: InstanceOption;
  launchedAt: number;
  booted: boolean;
}

export class FakeProvider implements InstanceProvider {
  readonly name = 'fake';
  launchGraceMs = 5_000;
  listingLagMs = 0;
  readonly instances = new Map<string, FakeInstance>();
  readonly terminated: string[] = [];
  /** Launches in progress now, and the most there were at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** Makes the nth launch (1-based) fail in waitReady with this message. */
  failBoot = new Map<number, string>();
  private launches = 0;
  private readonly boots = new Map<string, { resolve(): void; reject(e: Error): void; promise: Promise<void> }>();
  /** Whether launches wait for boot(id) (else they boot after a tick). */
  manualBoot = false;

  constructor(readonly types: InstanceType[]) {}

  async listInstanceTypes(): Promise<InstanceType[]> {
    return this.types;
  }

  async prepare(): Promise<void> {}

  /** Set for a cloud whose ids the client chooses (as Azure's VM names): launch then takes the id given. */
  newInstanceId?: () => string;

  async launch(option: InstanceOption, _key?: string, o: { id?: string } = {}): Promise<{ id: string }> {
    const n = ++this.launches;
    const id = o.id ?? `fake-${n}`;
    this.instances.set(id, { id, option, launchedAt: Date.now(), booted: false });
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    promise.catch(() => undefined);
    this.boots.set(id, { resolve, reject, promise });
    const failure = this.failBoot.get(n);
    if (failure) setImmediate(() => reject(new Error(failure)));
    else if (!this.manualBoot) setImmediate(resolve);
    return { id };
  }

  /** Lets a launch (with manualBoot) finish booting. */
  boot(id: string): void {
    this.boots.get(id)?.resolve();
  }

  async waitReady(id: string, o: { signal?: AbortSignal } = {}): Promise<InstanceEndpoint> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise<void>((resolve, reject) => {
        o.signal?.addEventListener('abort', () => reject(o.signal!.reason), { once: true });
        this.boots.get(id)!.promise.then(resolve, reject);
      });
    } finally {
      this.inFlight--;
    }
    const inst = this.instances.get(id);
    if (!inst) throw new Error(`${id} was terminated while booting`);
    inst.booted = true;
    return { ssh: { host: '127.0.0.1', port: 22, user: 'u', hostKey: `key-of-${id}` }, workDir: `/work/${id}`, nodeCommand: { command: ['node'], env: {} } };
  }

  async allowClient(): Promise<void> {}

  async terminate(id: string): Promise<void> {
    if (this.instances.delete(id)) this.terminated.push(id);
  }

  async listRunning(): Promise<RunningInstance[]> {
    return [...this.instances.values()].map((i) => ({
      id: i.id,
      typeName: i.option.type.name,
      launchedAt: i.launchedAt,
      state: i.booted ? 'running' : 'pending',
      market: i.option.spot ? 'spot' : 'on-demand',
    }));
  }

  agentTableSpec(): string {
    return 'fake:';
  }

  agentQueuesSpec(): string {
    return 'fake:';
  }
}

export function fakeCloud(types: InstanceType[]): Cloud & { provider: FakeProvider; table: MemoryAllocationTable } {
  const unused = () => {
    throw new Error('not part of the fake cloud');
  };
  return {
    location: 'in memory',
    clientDir: '/nonexistent',
    provider: new FakeProvider(types),
    table: new MemoryAllocationTable(),
    secrets: {
      getSshKeyPair: async () => ({ privateKey: 'private', publicKey: 'ssh-ed25519 AAAA test' }),
      putSecret: async () => undefined,
      getSecret: async () => undefined,
      listSecrets: async () => [],
      deleteSecret: async () => false,
    },
    queues: new Proxy({}, { get: unused }) as Cloud['queues'],
    payloads: new Proxy({}, { get: unused }) as Cloud['payloads'],
    management: new Proxy({}, { get: unused }) as Cloud['management'],
  };
}
