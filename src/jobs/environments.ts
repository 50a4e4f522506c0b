import * as path from 'path';
import { MeadowrunError } from '../core/errors';
import { ReadyInstance } from '../cloud/ports';
import { SessionPool } from '../remote/pool';
import { shellCommand } from '../remote/shellQuote';
import environmentsSource from './environments.py';

/** A virtual environment an instance built for jobs (agent/environments.ts). */
export interface CachedEnvironment {
  instanceId: string;
  hash: string;
  source: string;
  builtAt: string;
  lastUsedAt: string;
  bytes: number;
  /** A job, or the agent's warm Python, runs it: it is never pruned. */
  inUse: boolean;
  removed?: boolean;
}

/**
 * The environments on each ready instance, read (or, with `pruneOlderThanS`, pruned of those unused
 * for longer) by a small Python script over SSH, so that no agent has to be running.
 */
export async function instanceEnvironments(pool: SessionPool, instances: ReadyInstance[], pruneOlderThanS?: number): Promise<CachedEnvironment[]> {
  const lists = await Promise.all(
    instances.map((instance) =>
      pool.with(instance, async (session) => {
        const args = [path.posix.join(instance.workDir, 'envs'), ...(pruneOlderThanS === undefined ? ['list'] : ['prune', String(pruneOlderThanS)])];
        const r = await session.connection.exec(`python3 -c ${shellCommand([environmentsSource, ...args])}`);
        if (r.exitCode !== 0) {
          throw new MeadowrunError(`Cannot list the environments on ${instance.id}: ${r.stderr.toString().trim().split('\n').pop()}`, 'error', { instanceId: instance.id });
        }
        return (JSON.parse(r.stdout.toString()) as Omit<CachedEnvironment, 'instanceId'>[]).map((e) => ({ instanceId: instance.id, ...e }));
      }),
    ),
  );
  return lists.flat();
}

