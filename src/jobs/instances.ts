import { MeadowrunError } from '../core/errors';
import { Cloud, InstanceRecord, isReady } from '../cloud/ports';
import { SshConnection } from '../remote/connection';

/**
 * Stops an instance and removes it from the table. Refuses while jobs run on it unless forced;
 * forcing frees their allocations first (their processes go with the instance).
 */
export async function terminateInstance(cloud: Cloud, id: string, o: { force?: boolean } = {}): Promise<void> {
  const record = await cloud.table.getInstance(id);
  const running = (await cloud.provider.listRunning()).some((r) => r.id === id);
  if (!record && !running) throw new MeadowrunError(`No instance ${id}`, 'not-found');
  const jobs = Object.keys(record?.jobs ?? {});
  if (jobs.length && !o.force) {
    throw new MeadowrunError(`Instance ${id} is running ${jobs.length} job(s); use --force to terminate it anyway`, 'busy');
  }
  for (const jobId of jobs) await cloud.table.deallocateJob(id, jobId);
  await cloud.table.deregisterInstance(id);
  await cloud.provider.terminate(id);
}

/**
 * When a running job loses its agent, whether that is because its instance was terminated
 * (deregistered, or no longer run by the provider) rather than because something crashed: then
 * the job was stopped, as `instances terminate --force` or the editor's Terminate Instance says —
 * or, for a Spot instance that had fenced itself (its watch saw the cloud announce the eviction),
 * interrupted by the cloud. No sweep runs on an instance that is gone: the job's allocation is freed
 * here, and the row goes once no job is left on it.
 */
export async function stoppedByTermination(cloud: Cloud, instanceId: string, jobId: string, lost: unknown): Promise<MeadowrunError | undefined> {
  if ((lost as MeadowrunError)?.code !== 'agent-lost') return undefined;
  const seen = await Promise.all([cloud.table.getInstance(instanceId), cloud.provider.listRunning()]).then(
    ([record, running]) => ({ record, gone: !record || !running.some((r) => r.id === instanceId) }),
    () => undefined, // can't tell: the agent-lost error stands
  );
  if (!seen?.gone) return undefined;
  const { record } = seen;
  if (record) {
    await cloud.table.deallocateJob(instanceId, jobId).catch(() => undefined);
    await cloud.table.deregisterInstance(instanceId).catch(() => undefined);
  }
  if (record?.spot && record.preventFurtherAllocation) {
    return new MeadowrunError(`Job ${jobId} was interrupted: its Spot instance ${instanceId} was evicted by the cloud (the eviction was announced, and the instance took no new jobs)`, 'instance-terminated', { instanceId, cause: lost });
  }
  return new MeadowrunError(`Job ${jobId} was stopped because its instance ${instanceId} was terminated`, 'instance-terminated', { instanceId, cause: lost });
}

export type InstanceHealth = 'ready' | 'unreachable' | 'fenced' | 'launching';

/**
 * Whether an instance can take jobs: fenced ones can't, launching ones will; the others are tried with one SSH
 * handshake against the host key pinned at launch (so a dead sshd or a changed key both show).
 */
export async function probeInstance(cloud: Cloud, r: InstanceRecord, timeoutMs = 5_000): Promise<InstanceHealth> {
  if (r.preventFurtherAllocation) return 'fenced';
  if (!isReady(r)) return 'launching';
  try {
    const { privateKey } = await cloud.secrets.getSshKeyPair();
    (await SshConnection.open({ instanceId: r.id, endpoint: r.ssh, privateKey, attempts: 1, timeoutMs })).close();
    return 'ready';
  } catch {
    return 'unreachable';
  }
}
