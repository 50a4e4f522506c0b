import { MeadowrunError } from '../core/errors';
import { Cloud } from '../cloud/ports';

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
