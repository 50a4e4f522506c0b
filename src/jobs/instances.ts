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
 * the job was stopped, as `instances terminate --force` or the editor's Terminate Instance says.
 */
export async function stoppedByTermination(cloud: Cloud, instanceId: string, jobId: string, lost: unknown): Promise<MeadowrunError | undefined> {
  if ((lost as MeadowrunError)?.code !== 'agent-lost') return undefined;
  const gone = await Promise.all([cloud.table.getInstance(instanceId), cloud.provider.listRunning()]).then(
    ([record, running]) => !record || !running.some((r) => r.id === instanceId),
    () => false, // can't tell: the agent-lost error stands
  );
  if (!gone) return undefined;
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
