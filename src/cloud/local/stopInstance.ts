// Stopping a local instance: its sshd and everything it ran. Shared by the provider's terminate()
// and by the instance's own idle watchdog (through instanceSide.ts), which stops itself.
import * as fs from 'fs';
import * as path from 'path';

/**
 * Stops the instance's sshd and every process carrying its id in the environment (sessions, the
 * agent, jobs, the instance's watch), except the calling process, then removes its directories.
 * An instance whose state directory was deleted has no PID file left: its sshd is the process
 * started with its sshd_config (in this user's private directory).
 */
export function stopLocalInstance(id: string, instanceDir: string, sshdDir: string): void {
  const { withEnv, sshds } = instanceProcesses(localInstanceMarker(id), path.join(sshdDir, 'sshd_config'));
  const sshdPids = new Set([readPid(path.join(instanceDir, 'sshd.pid')) ?? 0, ...sshds].filter((p) => p > 0));
  for (const pid of sshdPids) kill(pid, 'SIGTERM');
  for (const pid of withEnv) kill(pid, 'SIGKILL');
  for (const pid of sshdPids) kill(pid, 'SIGKILL');
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

/**
 * Processes other than this one whose environment contains `entry`, and sshds whose command line
 * names `sshdConfig`. Linux /proc; elsewhere none are found.
 */
function instanceProcesses(entry: string, sshdConfig: string): { withEnv: number[]; sshds: number[] } {
  const found = { withEnv: [] as number[], sshds: [] as number[] };
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  } catch {
    return found;
  }
  for (const p of pids) {
    try {
      // sshd rewrites its title ("sshd: /usr/sbin/sshd -D -e -f CONFIG [listener] …"): a substring.
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(sshdConfig)) found.sshds.push(Number(p));
      else if (fs.readFileSync(`/proc/${p}/environ`, 'latin1').split('\0').includes(entry)) found.withEnv.push(Number(p));
    } catch {
      // Gone, or not ours.
    }
  }
  return found;
}
