// The ports every provider implements. A provider is one folder under cloud/ exporting these.
import { Capacity, MachineTraits } from '../core/resources';
import { InstanceOption, InstanceType } from '../core/instanceTypes';
import type { AdjusterRun, ManagementConfig, ManagementStatus } from '../core/management';

/** How to reach an instance over SSH; the host key is recorded at launch and pinned on every connection. */
export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
  /** The host's public key, OpenSSH wire format, base64. */
  hostKey: string;
}

export interface JobAllocation {
  jobId: string;
  cpu: number;
  memoryGb: number;
  gpus: number;
  /** ms since epoch; the sweep gives a job without a PID file a grace period counted from here. */
  allocatedAt: number;
}

/** How a client reaches an instance once it is ready: recorded in its row by the client that launched it. */
export interface InstanceEndpoint {
  ssh: SshEndpoint;
  /** Where the agent, code and logs live on the instance. */
  workDir: string;
  /** The Node.js the agent runs with on the instance. */
  nodeCommand: NodeCommand;
  /** Where it runs, for its row, when that is known only once it runs (Azure: the zone its VM got). */
  zone?: string;
}

/**
 * `launching` from the moment the provider gave the instance an id (jobs may already be allocated
 * to it, and other clients' jobs may join it and wait) until it can be reached; then `ready`.
 */
export type InstanceState = 'launching' | 'ready';

/**
 * One row of the instance allocation table. Its type's traits (GPU memory, CPU features) are copied
 * from the catalog at launch, so packing needs no catalog; rows written before they were recorded lack
 * them, which meets no requirement.
 */
export interface InstanceRecord extends MachineTraits, Partial<InstanceEndpoint> {
  id: string;
  /**
   * A launching row with `preventFurtherAllocation` is a launch given up: its jobs never started
   * (nothing could reach the instance), and they leave it.
   */
  state: InstanceState;
  typeName: string;
  spot: boolean;
  /** Where in the region it runs (an AWS availability zone), when the provider has zones. */
  zone?: string;
  /** The type's spot eviction rate (%) from the catalog at launch, when spot. A spot row without it admits only jobs that accept any rate (100 %). */
  evictionRatePct?: number;
  /** USD per hour. */
  price: number;
  total: Capacity;
  jobs: Record<string, JobAllocation>;
  preventFurtherAllocation: boolean;
  /** ms since epoch, when the row was written as `launching`: the adjuster's grace periods count from here. */
  registeredAt: number;
  /** Last time a job was allocated or deallocated: the idle clock starts here when `jobs` is empty. */
  lastJobChangeAt: number;
  /** The last management run that kept this instance: while it is recent, the idle watchdog leaves the instance to management. */
  managed?: ManagementTouch;
  /**
   * Changes with every write; the compare in compare-and-swap. Opaque: only ever compared for
   * equality by the table itself (a version number in DynamoDB, an ETag in Azure Tables).
   */
  etag: string;
}

/** A row a client can connect to. */
export type ReadyInstance = InstanceRecord & InstanceEndpoint & { state: 'ready' };

export function isReady(r: InstanceRecord): r is ReadyInstance {
  return r.state === 'ready' && r.ssh !== undefined && r.workDir !== undefined && r.nodeCommand !== undefined;
}

/** What jobs need together. */
export function jobsNeed(jobs: JobAllocation[]): Capacity {
  return jobs.reduce((s, j) => ({ cpu: s.cpu + j.cpu, memoryGb: s.memoryGb + j.memoryGb, gpus: s.gpus + j.gpus }), { cpu: 0, memoryGb: 0, gpus: 0 });
}

export function freeCapacity(r: Pick<InstanceRecord, 'total' | 'jobs'>): Capacity {
  let { cpu, memoryGb, gpus } = r.total;
  for (const j of Object.values(r.jobs)) {
    cpu -= j.cpu;
    memoryGb -= j.memoryGb;
    gpus -= j.gpus;
  }
  return { cpu, memoryGb, gpus };
}

export interface AllocationTable {
  /** Adds a new instance, optionally with jobs already allocated to it; returns its etag. Fails if the id exists. */
  registerInstance(record: Omit<InstanceRecord, 'etag'>): Promise<string>;
  listInstances(): Promise<InstanceRecord[]>;
  getInstance(id: string): Promise<InstanceRecord | undefined>;
  /**
   * Allocates jobs to the instance as it was at `etag`. Returns false when the record changed
   * since (a lost race: re-read and retry), the jobs do not fit, or the instance takes no more
   * allocations. A write that returns false never took effect.
   */
  allocateJobs(id: string, etag: string, jobs: JobAllocation[]): Promise<boolean>;
  /**
   * Allocates jobs to the instance as it is now, for a client that knows which instance it wants
   * (the one its last job ran on) and has not read it: where the table can check room in the write
   * itself (DynamoDB) this is one conditional write instead of a read and a write. Returns the
   * record with the jobs in it, at its new etag, or undefined, having changed nothing, when the
   * instance is gone, takes no more allocations, or the jobs do not fit.
   */
  allocateIfFits(id: string, jobs: JobAllocation[]): Promise<InstanceRecord | undefined>;
  /** Frees a job's allocation; freeing one that is already gone is not an error. Returns whether it was there. */
  deallocateJob(id: string, jobId: string): Promise<boolean>;
  preventFurtherAllocation(id: string): Promise<void>;
  /**
   * Records that a `launching` instance can be reached, and how. The jobs on it could not start
   * before: their `allocatedAt` becomes now, so the sweep's grace counts from here (a launch may
   * take longer than the grace). Returns false (and changes nothing) when the row is gone, not
   * launching, or its launch was given up (`preventFurtherAllocation`).
   */
  markReady(id: string, endpoint: InstanceEndpoint): Promise<boolean>;
  /** Removes an instance only when it has no jobs. Returns whether it was removed. */
  deregisterInstance(id: string): Promise<boolean>;
  /** Records that a management run kept the instance (nothing else changes); a missing instance is no error. */
  recordManagement(id: string, touch: ManagementTouch): Promise<void>;
}

/** A management run's mark on an instance it kept, and the settings the idle watchdog should honour. */
export interface ManagementTouch {
  /** ms since epoch. */
  at: number;
  /** The management's idle timeout, which the watchdog uses in place of its default. */
  idleTimeoutS: number;
  /** How often management runs: it counts as gone after two intervals (plus the watchdog's margin) without a touch. */
  intervalS: number;
}

export interface RunningInstance {
  id: string;
  typeName: string;
  launchedAt: number;
  /** `pending` while it boots; `running` once up (not necessarily reachable yet). */
  state: 'pending' | 'running';
  market: 'spot' | 'on-demand';
  /** Where in the region it runs (an AWS availability zone), when the provider has zones. */
  zone?: string;
}

/** A Node.js on an instance: its command words and environment, each quoted when sent to a shell. */
export interface NodeCommand {
  command: string[];
  env: Record<string, string>;
}

/**
 * A provider's instances, in the phases a real cloud has: one-time account resources, a launch that
 * returns an id at once (so the instance can be registered before it boots), the wait for it to
 * boot, and opening the way for this client. Terminate and list work on instances in any phase.
 */
export interface InstanceProvider {
  /** Short name shown to users: "local", "aws", "azure". */
  readonly name: string;
  /**
   * How long a launch may take to become ready (EC2 boots in 20–40 s, more under load): the launching
   * client gives up after this, and the adjuster leaves an instance that runs but is not registered
   * alone this long after its launch, and removes a row still launching after twice this.
   */
  readonly launchGraceMs: number;
  /**
   * How long the provider's listing may lag a launch (cloud APIs are eventually consistent): the
   * adjuster leaves a registered instance the listing does not show alone this long after its
   * registration.
   */
  readonly listingLagMs: number;
  listInstanceTypes(): Promise<InstanceType[]>;
  /** Creates what every launch needs (on AWS: a security group, roles, the table). Idempotent; cheap when done. */
  prepare(): Promise<void>;
  /**
   * Starts an instance that will accept `authorizedPublicKey`, and returns its id (and the zone it
   * is in, when the cloud has zones) without waiting for it to boot. `onAttempt` hears each try (a
   * zone without capacity, the next one tried), for the job's progress.
   */
  launch(
    option: InstanceOption,
    authorizedPublicKey: string,
    o?: { signal?: AbortSignal; onAttempt?: (line: string) => void; id?: string },
  ): Promise<{ id: string; zone?: string }>;
  /**
   * For a cloud whose instance ids the client chooses (Azure: the VM's name): a new one, passed to
   * `launch` as `id`. The client then registers the instance's row before launching, since the
   * launch itself takes minutes there (it ends when the VM is created).
   */
  newInstanceId?(): string;
  /**
   * Waits until the instance can be reached over SSH and says how. The host key comes from a channel
   * the client already trusts, never from the instance over the network (no trust on first use):
   * locally, the key file the provider generated in its private directory.
   */
  waitReady(id: string, o?: { signal?: AbortSignal }): Promise<InstanceEndpoint>;
  /** Lets this client reach the instance (a firewall rule for its address); nothing to do locally. */
  allowClient(instance: ReadyInstance): Promise<void>;
  terminate(id: string): Promise<void>;
  listRunning(): Promise<RunningInstance[]>;
}

/**
 * What the agent on an instance is told about it, written there by the provider at launch (locally
 * `<instance>/agent.json`, 0600; the agent finds it through $MEADOWRUN_AGENT_CONFIG, else at
 * /etc/meadowrun/agent.json), so it never depends on what a client passes. `table`, `queues`,
 * `payloads` and `interruption` are the provider's own: its InstanceSide (below) reads them.
 */
export interface AgentConfig<Table = unknown, Queues = unknown, Interruption = unknown, Payloads = unknown> {
  /** Which InstanceSide the agent loads (src/agent/instanceSides.ts). */
  provider: string;
  instanceId: string;
  /** Where the agent, code, logs and PID files live. */
  workDir: string;
  table: Table;
  queues: Queues;
  /** Where map jobs' arguments and results too big for a queue message are kept. */
  payloads: Payloads;
  /** Where a spot interruption notice appears. */
  interruption: Interruption;
  /** The deallocation sweep: every `intervalS`; a job without a PID file is freed after `graceS`. */
  sweep: { intervalS: number; graceS: number };
  /**
   * The idle watchdog (core/idleWatchdog.ts): the instance stops itself once idle `timeoutS` +
   * `marginS` with no management run touching it. A management run's touch overrides `timeoutS`.
   */
  idle: { timeoutS: number; marginS: number };
  /**
   * The instance's Docker engine for jobs in containers: its address (DOCKER_HOST) when not the
   * default socket, and the root-owned script that installs it when a job needs it (a VM's, run
   * through `sudo -n`; cloud/cloudInit.ts).
   */
  docker?: { host?: string; install?: string };
  /**
   * The watch removes the environments jobs have not used for `maxAgeS` (never one in use or being
   * built), on clouds whose management cannot reach instances itself (AWS, Azure: their functions
   * have no SSH). Absent: the watch leaves them (the local cloud's management prunes over SSH).
   */
  environments?: { maxAgeS: number };
}

/** A provider's adapters on its instances, loaded by the agent for the provider its AgentConfig names. */
export interface InstanceSide<C extends AgentConfig = AgentConfig> {
  table(config: C): AllocationTable;
  queues(config: C): TaskQueues;
  payloads(config: C): PayloadStore;
  /** Whether the provider has announced that this (spot) instance is about to be interrupted. */
  interruptionAnnounced(config: C): Promise<boolean>;
  /**
   * Stops this instance for good, once it is deregistered: its SSH server, agent and jobs (locally),
   * or the machine, set to terminate on shutdown (a VM). The calling process may not survive it.
   */
  shutdown(config: C): Promise<void>;
  /**
   * A user secret a job names (an index's credentials, a git key), read with the instance's own
   * identity (its role, its managed identity; locally the user's files); undefined when there is none.
   */
  secret(config: C, name: string): Promise<string | undefined>;
}

export interface SshKeyPair {
  /** OpenSSH private key. Never log it. */
  privateKey: string;
  /** "ssh-ed25519 AAAA… meadowrun" */
  publicKey: string;
}

export interface SecretStore {
  /** The client's SSH key pair, generated and stored on first use. */
  getSshKeyPair(): Promise<SshKeyPair>;
  /**
   * The user's secrets (core/secrets.ts), by name, kept apart from the SSH key: no user secret
   * name reaches it, and listing never shows it. Names are checked by the caller's checkSecretName.
   * `put` creates or replaces; `delete` says whether there was one.
   */
  putSecret(name: string, value: string): Promise<void>;
  getSecret(name: string): Promise<string | undefined>;
  /** The names, sorted. */
  listSecrets(): Promise<string[]>;
  deleteSecret(name: string): Promise<boolean>;
}

/** What a cloud is: its ports, built once and shared by every job. */
export interface Cloud {
  /** Where it keeps its state, in words for logs: "state in ~/.meadowrun/local", a region and account. */
  readonly location: string;
  /** A private directory on this machine for a client's own records of this cloud (leases of running maps). */
  readonly clientDir: string;
  provider: InstanceProvider;
  table: AllocationTable;
  secrets: SecretStore;
  queues: TaskQueues;
  payloads: PayloadStore;
  management: ManagementInstaller;
}

/**
 * Installs the management functions that run the adjuster on a schedule: an AWS Lambda, an
 * Azure Function, or on the local cloud a background process.
 */
export interface ManagementInstaller {
  /** The configuration installed (or last installed), with defaults for what was never set. */
  config(): Promise<ManagementConfig>;
  /** Idempotent: what exists and matches is left as it is; each resource created or changed is told. */
  install(config: ManagementConfig, o?: ManagementProgress): Promise<void>;
  /** Removes what install made, telling each. */
  uninstall(o?: ManagementProgress): Promise<void>;
  status(): Promise<ManagementStatus>;
  /**
   * Plans and, unless a dry run, carries out one adjustment now, as the scheduled run would. At
   * most one runs at a time per cloud: a second caller gets a result saying it was skipped.
   */
  runOnce(o?: { dryRun?: boolean; now?: number }): Promise<AdjusterRun>;
}

export interface ManagementProgress {
  /** Each step as it is done, in words: "Created the Lambda function meadowrun-adjuster". */
  onProgress?: (line: string) => void;
}

export interface QueueMessage {
  /** Identifies this delivery: pass it to extendVisibility and acknowledge. */
  receipt: string;
  body: string;
  /** 1 on the first delivery, more when a consumer died holding it. */
  receiveCount: number;
}

/** What one implementation of TaskQueues accepts (SQS: 256 KiB, 10, 10, 20 s; Azure Queues: 64 KiB before base64, 1, 32, none). */
export interface QueueLimits {
  /** The largest body, in UTF-8 bytes; also the most one send's bodies may total. */
  maxMessageBytes: number;
  /** The most bodies one send takes. */
  maxBatch: number;
  /** The most messages one receive asks for. */
  maxReceive: number;
  /** The longest a receive may wait for a message. */
  maxWaitS: number;
}

export interface ReceiveOptions {
  /** Wait up to this long (at most limits.maxWaitS) for a message instead of returning none at once. */
  waitS?: number;
  /** Aborting ends the wait: the receive rejects with a MeadowrunError coded 'cancelled'. */
  signal?: AbortSignal;
}

/**
 * A map job's request and result queues (SQS, Azure Queues, or files on the local cloud). Delivery is
 * at least once and in no promised order. Sending to or receiving from a deleted queue rejects.
 */
export interface TaskQueues {
  readonly limits: QueueLimits;
  /** Creates the job's pair; returns the names of its request and result queues. */
  createPair(jobId: string): Promise<{ request: string; result: string }>;
  /** Refuses more than limits.maxBatch bodies, or bodies over limits.maxMessageBytes in all. */
  send(queue: string, bodies: string[]): Promise<void>;
  /**
   * Up to `max` (at most limits.maxReceive) messages, each hidden from other consumers for
   * `visibilityS` unless acknowledged. Long-polls when asked to wait.
   */
  receive(queue: string, max: number, visibilityS: number, options?: ReceiveOptions): Promise<QueueMessage[]>;
  /**
   * Hides a received message for `visibilityS` more from now (0 hands it back at once, as another
   * delivery). Returns the receipt to use from now on (Azure changes it on every update), or
   * undefined when the message is no longer held under this receipt (acknowledged, or its
   * visibility ran out and it went back).
   */
  extendVisibility(queue: string, receipt: string, visibilityS: number): Promise<string | undefined>;
  /** Deletes received messages; a receipt no longer valid is not an error. */
  acknowledge(queue: string, receipts: string[]): Promise<void>;
  deletePair(jobId: string): Promise<void>;
  /**
   * Every pair with when it was last sent to or received from, for clean-up. Kept where a cloud can
   * keep it (a file here, a table row or queue tags elsewhere), so it is written at most once per
   * PAIR_USE_RESOLUTION_S and may lag by that much.
   */
  listPairs(): Promise<{ jobId: string; lastUsedAt: number }[]>;
}

export const PAIR_USE_RESOLUTION_S = 60;

/**
 * Blobs too big for a queue message (a map's large arguments or results): a directory on the local
 * cloud, S3 or Blob storage elsewhere. Keys are `jobId/…`, so a job's payloads go with it.
 */
export interface PayloadStore {
  /** Stores `data` under `key`; returns the reference that `get` takes. */
  put(key: string, data: Buffer | NodeJS.ReadableStream): Promise<string>;
  get(ref: string): Promise<Buffer>;
  /** Deletes every payload of the job (every key under `jobId/`); none is not an error. */
  deleteJob(jobId: string): Promise<void>;
}

/** What Meadowrun keeps in a cloud account, for prepare / status / uninstall in the editor and the CLI. */
export interface AccountResource {
  kind: string;
  name: string;
}

/** A cloud with account resources made ahead of launches (AWS, Azure). */
export interface AccountCloud {
  /** Where, in words, e.g. "AWS us-east-1". */
  location: string;
  prepareAccount(say?: (line: string) => void): Promise<AccountResource[]>;
  describeAccount(): Promise<AccountResource[]>;
  /** Removes it all; resolves with what could not be removed, each with why (none: everything went). */
  uninstallAccount(say: (line: string) => void): Promise<string[] | void>;
}
