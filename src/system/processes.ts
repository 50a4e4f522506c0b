// Which process is which, robust to pid reuse: shared by the agent's PID files and the client's leases.
import * as fs from 'fs';

/**
 * A job's PID file: the pid and the process's start time, so that a pid reused by an unrelated
 * process after the job died is not mistaken for the job.
 */
export interface PidFile {
  pid: number;
  startTime?: string;
}

/** State (field 3) and start time (field 22) from /proc/PID/stat; fields counted after the command name, which may hold spaces. */
function procStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], startTime: fields[19] };
  } catch {
    return undefined;
  }
}

/** A process's pid and start time, as a PID file holds them. */
export function processPidFile(pid: number): PidFile {
  return { pid, startTime: procStat(pid)?.startTime };
}

/** Whether the process a PID file names is still the one that wrote it. */
export function isAlive(p: PidFile): boolean {
  try {
    process.kill(p.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(p.pid);
  // Without /proc (or a start time to compare), the signal test is all there is.
  if (!stat || !p.startTime) return true;
  // A zombie has exited; a different start time means the pid was reused by another process.
  return stat.state !== 'Z' && stat.startTime === p.startTime;
}
