import * as fs from 'fs';
import * as path from 'path';

/**
 * A job's PID file: the pid and the process's start time, so that a pid reused by an unrelated
 * process after the job died is not mistaken for the job.
 */
export interface PidFile {
  pid: number;
  startTime?: string;
}

export function pidDir(workDir: string): string {
  return path.join(workDir, 'pids');
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

/** Written atomically (temporary file + rename): the sweep never reads half a PID file. */
export function writePidFile(workDir: string, jobId: string, pid: number): void {
  const dir = pidDir(workDir);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${jobId}.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  const content: PidFile = processPidFile(pid);
  fs.writeFileSync(tmp, JSON.stringify(content));
  fs.renameSync(tmp, file);
}

/** A process's pid and start time, as a PID file holds them. */
export function processPidFile(pid: number): PidFile {
  return { pid, startTime: procStat(pid)?.startTime };
}

export function readPidFile(workDir: string, jobId: string): PidFile | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(pidDir(workDir), `${jobId}.json`), 'utf8')) as PidFile;
  } catch {
    return undefined;
  }
}

export function removePidFile(workDir: string, jobId: string): void {
  fs.rmSync(path.join(pidDir(workDir), `${jobId}.json`), { force: true });
}

export function listPidFiles(workDir: string): string[] {
  try {
    return fs.readdirSync(pidDir(workDir)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
  } catch {
    return [];
  }
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
