import { chooseInstanceTypes, describeNoFit, nextOption, optionKey } from '../core/chooseInstanceTypes';
import { cancellation, MeadowrunError, throwIfCancelled } from '../core/errors';
import { InstanceOption } from '../core/instanceTypes';
import { admits, PackableInstance, pickInstanceForJob } from '../core/packing';
import { Resources, subtract } from '../core/resources';
import { Cloud, freeCapacity, InstanceRecord, isReady, JobAllocation, ReadyInstance } from '../cloud/ports';
import { SessionPool } from '../remote/pool';
import { Logger, logFailure, SILENT } from '../core/logger';

export type AllocationEvent =
  | { kind: 'launching'; typeName: string; spot: boolean; price: number }
  | { kind: 'launched'; instanceId: string; seconds: number }
  /** The job joined an instance another client is launching, and waits for it to be ready. */
  | { kind: 'joining'; instanceId: string; typeName: string }
  /** An instance could not be reached: it takes no more jobs, and the job moves (once) elsewhere. */
  | { kind: 'retrying'; instanceId: string; reason: string }
  /** The cloud had no capacity for the type (in any zone): the next cheapest option is launched instead. */
  | { kind: 'no-capacity'; typeName: string; reason: string }
  /** A step of a launch as the provider tells it ("No capacity for m5.large (spot) in us-east-1a …, trying us-east-1b"). */
  | { kind: 'attempt'; message: string };

export interface Allocation {
  instance: ReadyInstance;
  /** True when the instance was launched for this job (and so should go if the job never runs). */
  launched: boolean;
}

export interface AllocateOptions {
  onEvent?: (e: AllocationEvent) => void;
  /** Only use instances that are ready now: neither launch nor wait for a launch; fail instead. */
  noLaunch?: boolean;
  /** Hears of each instance this call launches as soon as the provider gives it an id (before it has a row). */
  onLaunched?: (instanceId: string) => void;
  signal?: AbortSignal;
  /**
   * The ready instance this client's last job went to: tried first with one allocate-if-fits,
   * before the table is listed, when the job may run there (the warm path: one write, no listing).
   */
  preferred?: ReadyInstance;
}

const MAX_RACE_RETRIES = 50;
/** A job whose instance's launch was given up is placed again, this many times in all. */
const MAX_ROUNDS = 5;

/**
 * Puts a job on the fullest instance it fits (compare-and-swap on the table, retried on a lost
 * race), ready or being launched by another client, or launches the cheapest type that fits and
 * registers it with the job pre-allocated.
 */
export async function allocateJob(cloud: Cloud, need: Resources, jobId: string, o: AllocateOptions = {}): Promise<Allocation> {
  const [allocation] = await allocateJobs(cloud, need, [jobId], o);
  return allocation;
}

/**
 * Launches an instance and registers it as `launching` as soon as it has an id, with `jobs` already
 * allocated (none for spare capacity), so that a crash from here on leaves a row the adjuster
 * reconciles, and other clients' jobs may join it. Then waits for it and records it `ready`. A launch
 * that fails or is cancelled is given up: its row fenced, our jobs freed, the instance terminated.
 */
export async function launchAndRegister(
  cloud: Cloud,
  option: InstanceOption,
  jobs: JobAllocation[],
  o: { signal?: AbortSignal } = {},
): Promise<ReadyInstance> {
  const row = await startLaunch(cloud, option, jobs, o.signal);
  return finishLaunch(cloud, row, jobs.map((j) => j.jobId), o.signal);
}

/**
 * The first half of launchAndRegister: an id from the provider, and the instance's `launching` row.
 * A provider whose ids the client chooses (Azure: the VM's name) has the row registered before the
 * instance is created, which takes minutes there: the explorer and other clients see the launch at
 * once, and a launch that fails or is cancelled is given up (row and instance gone).
 */
export async function startLaunch(
  cloud: Cloud,
  option: InstanceOption,
  jobs: JobAllocation[],
  signal?: AbortSignal,
  onLaunched?: (id: string) => void,
  onEvent?: (e: AllocationEvent) => void,
): Promise<InstanceRecord> {
  await cloud.provider.prepare();
  const keys = await cloud.secrets.getSshKeyPair();
  const onAttempt = onEvent && ((message: string) => onEvent({ kind: 'attempt', message }));
  const chosen = cloud.provider.newInstanceId?.();
  if (chosen) {
    onLaunched?.(chosen);
    const record = launchingRecord(chosen, option, jobs);
    const row = { ...record, etag: await cloud.table.registerInstance(record) };
    try {
      await cloud.provider.launch(option, keys.publicKey, { signal, onAttempt, id: chosen });
      return row;
    } catch (e) {
      await abandonLaunch(cloud, chosen, jobs.map((j) => j.jobId)).catch(() => undefined);
      throw e;
    }
  }
  const { id, zone } = await cloud.provider.launch(option, keys.publicKey, { signal, onAttempt });
  onLaunched?.(id);
  const record = launchingRecord(id, option, jobs, zone);
  try {
    return { ...record, etag: await cloud.table.registerInstance(record) };
  } catch (e) {
    await cloud.provider.terminate(id);
    throw e;
  }
}

/** A new instance's row: launching, with `jobs` already allocated on it. */
function launchingRecord(id: string, option: InstanceOption, jobs: JobAllocation[], zone?: string): Omit<InstanceRecord, 'etag'> {
  const now = Date.now();
  return {
    id,
    state: 'launching',
    typeName: option.type.name,
    spot: option.spot,
    ...(zone && { zone }),
    price: option.price,
    total: { cpu: option.type.cpu, memoryGb: option.type.memoryGb, gpus: option.type.gpus },
    ...(option.spot && option.type.evictionRatePct !== undefined && { evictionRatePct: option.type.evictionRatePct }),
    ...(option.type.memoryPerGpuGb !== undefined && { memoryPerGpuGb: option.type.memoryPerGpuGb }),
    ...(option.type.cpuFeatures !== undefined && { cpuFeatures: [...option.type.cpuFeatures] }),
    jobs: Object.fromEntries(jobs.map((j) => [j.jobId, { ...j, allocatedAt: now }])),
    preventFurtherAllocation: false,
    registeredAt: now,
    lastJobChangeAt: now,
  };
}

/** The second half: waits for the instance, lets this client in, and records it ready (or gives the launch up). */
async function finishLaunch(cloud: Cloud, row: InstanceRecord, jobIds: string[], signal?: AbortSignal): Promise<ReadyInstance> {
  const { id } = row;
  const grace = cloud.provider.launchGraceMs;
  const timeout = AbortSignal.timeout(grace);
  try {
    const endpoint = await cloud.provider.waitReady(id, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout }).catch((e) => {
      if (timeout.aborted && !signal?.aborted) throw new MeadowrunError(`Instance ${id} did not become ready within ${grace / 1000} s`, 'launch', { instanceId: id });
      throw signal?.aborted ? cancellation() : e;
    });
    await cloud.provider.allowClient({ ...row, ...endpoint, state: 'ready' });
    if (!(await cloud.table.markReady(id, endpoint))) {
      throw new MeadowrunError(`The launch of ${id} was given up (it took too long, or its row was removed)`, 'launch', { instanceId: id });
    }
    const ready = await cloud.table.getInstance(id);
    if (!ready || !isReady(ready)) throw new MeadowrunError(`Instance ${id} left the allocation table as it became ready`, 'launch', { instanceId: id });
    return ready;
  } catch (e) {
    await abandonLaunch(cloud, id, jobIds);
    throw e;
  }
}

/**
 * Clients that found no room at the same moment each start a launch before they can see the
 * others'. Each then empties its launch into launches registered before it (an order all agree on;
 * ready instances count too) if every job on it fits there, the jobs of clients that joined it as
 * well as its own: a joined launch is never given up under a joiner, which follows its job (see
 * waitForLaunch). Otherwise it keeps them all. Only an empty launch is given up (the table removes
 * a row only while it has no jobs). So jobs only move to earlier launches, a launch that stays
 * never loses jobs, and the room left in launches before the last one that stays is less than the
 * jobs on it: the launches that stay are as few as can be. (Two races remain: a launch registered
 * just before ours that our listing does not show yet, and other clients filling the earlier
 * launches while ours is being emptied, which leaves it part-emptied.)
 * Returns the rows our moved jobs now wait on, and whether our launch is kept (for the jobs left on
 * it, ours or not).
 */
async function joinEarlierLaunches(
  cloud: Cloud,
  mine: InstanceRecord,
  need: Resources,
  ownIds: string[],
): Promise<{ moved: Map<string, InstanceRecord>; kept: boolean }> {
  const moved = new Map<string, InstanceRecord>();
  const earlier = (r: InstanceRecord) => r.registeredAt < mine.registeredAt || (r.registeredAt === mine.registeredAt && r.id < mine.id);
  // As many lost writes as placing on running instances: under contention (many clients at once on
  // a loaded machine) a few lost writes must not make a client keep a launch of its own.
  for (let lost = 0; lost < MAX_RACE_RETRIES; ) {
    const rows = await cloud.table.listInstances();
    const row = rows.find((r) => r.id === mine.id);
    if (!row) return { moved, kept: false };
    if (!Object.keys(row.jobs).length) {
      if (await cloud.table.deregisterInstance(mine.id)) {
        await cloud.provider.terminate(mine.id);
        return { moved, kept: false };
      }
      lost++; // a job joined since the listing: move it too
      continue;
    }
    const candidates = rows.filter((r) => r.id !== mine.id && earlier(r) && (r.state === 'launching' || isReady(r)));
    const plan = planMoves(row, candidates, need, ownIds);
    if (!plan) return { moved, kept: true };
    // One move, then a fresh look: the plan is made again on what others wrote meanwhile.
    const { job, to } = plan[0];
    const allocation = { ...job, allocatedAt: Date.now() };
    // Allocated there before it is freed here: a job is always on some row, so its client finds it.
    if (await cloud.table.allocateJobs(to.id, to.etag, [allocation])) {
      await cloud.table.deallocateJob(mine.id, job.jobId);
      if (ownIds.includes(job.jobId)) moved.set(job.jobId, { ...to, jobs: { ...to.jobs, [job.jobId]: allocation } });
    } else {
      await raceBackoff(lost++);
    }
  }
  return { moved, kept: true };
}

/**
 * Where each job on `row` would go among `candidates` (as pickInstanceForJob chooses, room taken
 * as it goes), other clients' jobs first; undefined if any has nowhere. Another client's job only
 * goes to an instance like this one (type, market): what it asked of an instance is not known here,
 * and this one met it.
 */
function planMoves(row: InstanceRecord, candidates: InstanceRecord[], need: Resources, ownIds: string[]): { job: JobAllocation; to: InstanceRecord }[] | undefined {
  const pool = candidates.map((r) => ({ r, p: packable(r) }));
  const own = (j: JobAllocation) => ownIds.includes(j.jobId);
  const plan: { job: JobAllocation; to: InstanceRecord }[] = [];
  for (const job of Object.values(row.jobs).sort((a, b) => Number(own(a)) - Number(own(b)))) {
    const like = pool.filter(({ r }) => own(job) || (r.typeName === row.typeName && r.spot === row.spot && r.evictionRatePct === row.evictionRatePct));
    const pick = pickInstanceForJob(
      like.map(({ p }) => p),
      own(job) ? need : { cpu: job.cpu, memoryGb: job.memoryGb, gpus: job.gpus, maxEvictionRatePct: 100 },
    );
    if (!pick) return undefined;
    pick.free = subtract(pick.free, job);
    plan.push({ job, to: like.find(({ p }) => p === pick)!.r });
  }
  return plan;
}

/**
 * A launch that will not finish: no job may join it (clients waiting on it leave), ours are freed,
 * the instance goes, and so does its row once the last waiting client has left.
 */
async function abandonLaunch(cloud: Cloud, id: string, jobIds: string[]): Promise<void> {
  await cloud.table.preventFurtherAllocation(id);
  for (const jobId of jobIds) await cloud.table.deallocateJob(id, jobId);
  await cloud.provider.terminate(id);
  await cloud.table.deregisterInstance(id);
}

/** A table row as packing sees it. */
export function packable(r: InstanceRecord): PackableInstance {
  return {
    id: r.id,
    free: freeCapacity(r),
    gpus: r.total.gpus,
    spot: r.spot,
    evictionRatePct: r.evictionRatePct,
    memoryPerGpuGb: r.memoryPerGpuGb,
    cpuFeatures: r.cpuFeatures,
    preventFurtherAllocation: r.preventFurtherAllocation,
    launching: r.state === 'launching',
  };
}

/**
 * Allocates several equal jobs (a map's workers): onto instances with room first, ready ones before
 * ones being launched, fullest first, among those whose market, GPUs and traits the job accepts (see
 * pickInstanceForJob); the rest onto the cheapest mix of new instances, several workers per instance
 * when they fit, all launched at once. A job that joined another client's launch waits for it; if
 * that launch is given up, the job is placed again. If anything fails, what this call allocated is
 * freed and what it launched is terminated before the error is reported.
 */
export async function allocateJobs(cloud: Cloud, need: Resources, jobIds: string[], o: AllocateOptions = {}): Promise<Allocation[]> {
  const types = await cloud.provider.listInstanceTypes();
  if (chooseInstanceTypes(types, need, 1).length === 0) throw new MeadowrunError(describeNoFit(types, need), 'no-fit');
  const job = (jobId: string): JobAllocation => ({ jobId, cpu: need.cpu, memoryGb: need.memoryGb, gpus: need.gpus, allocatedAt: Date.now() });
  /** Where this call's jobs are allocated, and what it launched: undone if it fails. */
  const held = new Map<string, string>();
  const launched = new Set<string>();
  const done = new Map<string, Allocation>();
  try {
    let pending = [...jobIds];
    for (let round = 1; pending.length; round++) {
      if (round > MAX_ROUNDS) throw new MeadowrunError(`The instances these jobs joined were given up ${MAX_ROUNDS} times: not trying again`, 'launch');
      const { placed, unplaced } = await placeOnRows(cloud, need, pending, job, !!o.noLaunch, round === 1 ? o.preferred : undefined);
      for (const [jobId, row] of placed) held.set(jobId, row.id);
      if (unplaced.length && o.noLaunch) throw new MeadowrunError('No running instance has room for this job (and launching was not allowed)', 'no-room');
      const launches: { option: InstanceOption; ids: string[] }[] = [];
      for (const choice of unplaced.length ? chooseInstanceTypes(types, need, unplaced.length) : []) {
        for (let i = 0; i < choice.count; i++) launches.push({ option: choice.option, ids: unplaced.splice(0, choice.workersPerInstance) });
      }
      throwIfCancelled(o.signal);
      const joining = [...placed].filter(([, row]) => !isReady(row));
      for (const [, row] of joining) o.onEvent?.({ kind: 'joining', instanceId: row.id, typeName: row.typeName });
      // No capacity for a type (in any zone): the next cheapest option that holds the same jobs.
      const startLaunchOrNext = async (first: InstanceOption, ids: string[]): Promise<InstanceRecord> => {
        const tried = new Set<string>();
        for (let option = first; ; ) {
          try {
            return await startLaunch(cloud, option, ids.map(job), o.signal, o.onLaunched, o.onEvent);
          } catch (e) {
            if (!(e instanceof MeadowrunError && e.code === 'no-capacity')) throw e;
            tried.add(optionKey(option));
            const next = nextOption(types, need, ids.length, tried);
            if (!next) throw e;
            o.onEvent?.({ kind: 'no-capacity', typeName: option.type.name, reason: e.message });
            o.onEvent?.({ kind: 'launching', typeName: next.type.name, spot: next.spot, price: next.price });
            option = next;
          }
        }
      };
      // Every launch and every wait at once; all are settled before anything is reported.
      const results = await Promise.allSettled([
        ...launches.map(async ({ option, ids }) => {
          o.onEvent?.({ kind: 'launching', typeName: option.type.name, spot: option.spot, price: option.price });
          const started = Date.now();
          const row = await startLaunchOrNext(option, ids);
          launched.add(row.id);
          for (const jobId of ids) held.set(jobId, row.id);
          const { moved, kept } = await joinEarlierLaunches(cloud, row, need, ids);
          const waits = [...moved].map(async ([jobId, to]) => {
            held.set(jobId, to.id);
            o.onEvent?.({ kind: 'joining', instanceId: to.id, typeName: to.typeName });
            const instance = await waitForLaunch(cloud, to, jobId, o.signal, (id) => held.set(jobId, id));
            if (instance) done.set(jobId, { instance, launched: false });
            else held.delete(jobId);
          });
          const stay = ids.filter((jobId) => !moved.has(jobId));
          // A launch kept is finished even when none of our jobs stayed: others' jobs wait on it.
          const finish = async () => {
            if (!kept) return;
            const instance = await finishLaunch(cloud, row, stay, o.signal);
            if (!stay.length) return;
            o.onEvent?.({ kind: 'launched', instanceId: instance.id, seconds: (Date.now() - started) / 1000 });
            for (const jobId of stay) done.set(jobId, { instance, launched: true });
          };
          const failed = (await Promise.allSettled([finish(), ...waits])).find((r): r is PromiseRejectedResult => r.status === 'rejected');
          if (failed) throw failed.reason;
        }),
        ...joining.map(async ([jobId, row]) => {
          const instance = await waitForLaunch(cloud, row, jobId, o.signal, (id) => held.set(jobId, id));
          if (instance) done.set(jobId, { instance, launched: false });
          else held.delete(jobId);
        }),
      ]);
      for (const [jobId, row] of placed) if (isReady(row)) done.set(jobId, { instance: row, launched: false });
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      pending = pending.filter((jobId) => !done.has(jobId));
    }
    return jobIds.map((jobId) => done.get(jobId)!);
  } catch (e) {
    // A launch that failed has been given up already; a launched instance that others joined meanwhile stays.
    for (const [jobId, id] of held) await cloud.table.deallocateJob(id, jobId).catch(() => undefined);
    for (const id of launched) await discardInstance(cloud, id).catch(() => undefined);
    throw o.signal?.aborted ? cancellation() : e;
  }
}

/**
 * One job at a time onto `preferred` while it has room, then onto the instance pickInstanceForJob
 * chooses; a lost race (another client wrote the instance's row first) backs off a little, at
 * random, and looks again. Returns the rows as this client saw them with its job in them, and the
 * jobs that found no room.
 */
async function placeOnRows(
  cloud: Cloud,
  need: Resources,
  jobIds: string[],
  job: (jobId: string) => JobAllocation,
  readyOnly: boolean,
  preferred?: ReadyInstance,
): Promise<{ placed: Map<string, InstanceRecord>; unplaced: string[] }> {
  const placed = new Map<string, InstanceRecord>();
  let remaining = [...jobIds];
  // The job must be one it could take if it were empty (market, traits, and no GPU idle for a job without).
  const wouldAdmit = preferred && !(need.gpus === 0 && preferred.total.gpus > 0) && admits({ ...packable(preferred), free: preferred.total, preventFurtherAllocation: false }, need);
  while (wouldAdmit && remaining.length) {
    const row = await cloud.table.allocateIfFits(preferred.id, [job(remaining[0])]);
    if (!row) break;
    placed.set(remaining[0], row);
    remaining = remaining.slice(1);
  }
  for (let attempt = 0; remaining.length && attempt < MAX_RACE_RETRIES; attempt++) {
    const records = (await cloud.table.listInstances()).filter((r) => !readyOnly || isReady(r));
    const pick = pickInstanceForJob(records.map(packable), need);
    if (!pick) break;
    const record = records.find((r) => r.id === pick.id)!;
    const allocation = job(remaining[0]);
    if (await cloud.table.allocateJobs(record.id, record.etag, [allocation])) {
      // Our view of the row with the job in it; its etag is the one read (the new one is the table's).
      placed.set(allocation.jobId, { ...record, jobs: { ...record.jobs, [allocation.jobId]: allocation } });
      remaining = remaining.slice(1);
    } else {
      await raceBackoff(attempt);
    }
  }
  return { placed, unplaced: remaining };
}

/**
 * Waits for an instance another client is launching, on which `jobId` is allocated, to be ready.
 * A launcher that gives its launch up hands the jobs on it to an earlier launch first
 * (joinEarlierLaunches): the job is followed there (`onMoved` hears where). Returns undefined, with
 * the job freed, when the launch is given up with the job still on it (it failed), or is not ready
 * long after its launcher would have given up (it may have crashed).
 */
async function waitForLaunch(
  cloud: Cloud,
  row: InstanceRecord,
  jobId: string,
  signal?: AbortSignal,
  onMoved?: (instanceId: string) => void,
): Promise<ReadyInstance | undefined> {
  const grace = cloud.provider.launchGraceMs;
  const poll = Math.min(1000, Math.max(50, grace / 600));
  for (let on = row; ; ) {
    throwIfCancelled(signal);
    const now = await cloud.table.getInstance(on.id);
    if (now && isReady(now) && now.jobs[jobId]) return now;
    if (!now?.jobs[jobId]) {
      const to = await findJob(cloud, jobId);
      if (to) {
        on = to;
        onMoved?.(to.id);
        continue;
      }
      if (now && !now.preventFurtherAllocation) throw new MeadowrunError(`The job was stopped while ${on.id} was launching`, 'cancelled', { instanceId: on.id });
      if (now) await cloud.table.deregisterInstance(on.id);
      return undefined;
    }
    if (now.preventFurtherAllocation || Date.now() > on.registeredAt + 2 * grace) {
      await cloud.table.deallocateJob(on.id, jobId);
      // The launcher frees its own jobs; the last client to leave a launch given up removes its row.
      if (now.preventFurtherAllocation) await cloud.table.deregisterInstance(on.id);
      return undefined;
    }
    await new Promise((r) => setTimeout(r, poll));
  }
}

/**
 * The row a job is on, if any. A job is moved by allocating it on its new row before freeing it on
 * the old one, so a listing begun after it left a row sees it on the next, unless it moved again
 * meanwhile: a second listing catches that.
 */
async function findJob(cloud: Cloud, jobId: string): Promise<InstanceRecord | undefined> {
  for (let i = 0; i < 2; i++) {
    const found = (await cloud.table.listInstances()).find((r) => r.jobs[jobId]);
    if (found) return found;
  }
  return undefined;
}

/**
 * Removes an instance launched for a job that never got to run: nothing is left behind. One that
 * another client's job joined meanwhile stays (the table refuses to deregister it).
 */
export async function discardInstance(cloud: Cloud, instanceId: string): Promise<void> {
  if (await cloud.table.deregisterInstance(instanceId)) await cloud.provider.terminate(instanceId);
}

/** A short random wait after a lost conditional write, growing with the tries, so racers spread out. */
function raceBackoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
}

/** Whether a job failed because its instance could not be reached (after the connection's own retries). */
export function isUnreachable(e: unknown): boolean {
  const code = (e as MeadowrunError)?.code;
  return code === 'unreachable' || code === 'host-key';
}

/**
 * An instance we cannot reach takes no more jobs; `jobIds` (ours, never started) are freed; and
 * once nothing runs on it, it is removed, so a dead instance never keeps attracting jobs.
 */
export async function fenceUnreachable(cloud: Cloud, pool: SessionPool | undefined, instanceId: string, jobIds: string[], log: Logger = SILENT): Promise<void> {
  await cloud.table.preventFurtherAllocation(instanceId);
  pool?.close(instanceId);
  for (const jobId of jobIds) await cloud.table.deallocateJob(instanceId, jobId);
  const record = await cloud.table.getInstance(instanceId);
  log.info(`Instance ${instanceId} is unreachable: it takes no more jobs`);
  if (record && Object.keys(record.jobs).length === 0) await discardInstance(cloud, instanceId).catch((e) => logFailure(log, `Could not terminate the unreachable instance ${instanceId}; it may keep running`, e));
}
