// Stopping a local instance: its sshd and everything it ran. Shared by the provider's terminate()
// and by the instance's own idle watchdog (through instanceSide.ts), which stops itself.
import * as fs from 'fs';
import * as path from 'path';

/**
 * Stops the instance's sshd and every process carrying its id in the environment (sessions, the
 * agent, jobs, the instance's watch), except the calling process, then removes its directories.
 */
export function stopLocalInstance(id: string, instanceDir: string, sshdDir: string): void {
  const sshdPid = readPid(path.join(instanceDir, 'sshd.pid'));
  if (sshdPid) kill(sshdPid, 'SIGTERM');
  for (const pid of processesWithEnv(localInstanceMarker(id))) kill(pid, 'SIGKILL');
  if (sshdPid) kill(sshdPid, 'SIGKILL');
  // A process just signalled may still write a last line (sshd's log) while the tree is removed.
  fs.rmSync(instanceDir, { recursive: true, force: true, maxRetries: 5 });
  fs.rmSync(sshdDir, { recursive: true, force: true, maxRetries: 5 });
}

/** The environment entry that marks every process of a local instance (sshd's SetEnv, the watch's spawn). */
export function localInstanceMarker(id: string): string {
  return `MEADOWRUN_LOCAL_INSTANCE=${id}`;
}

export function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** Processes (of this user) whose environment contains `entry`. Linux /proc; elsewhere none are found. */
function processesWithEnv(entry: string): number[] {
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const p of pids) {
    try {
      const env = fs.readFileSync(`/proc/${p}/environ`, 'latin1').split('\0');
      if (env.includes(entry) && Number(p) !== process.pid) found.push(Number(p));
    } catch {
      // Gone, or not ours.
    }
  }
  return found;
}
