import * as fs from 'fs';
import * as path from 'path';
import { PidFile, processPidFile } from '../system/processes';

export function pidDir(workDir: string): string {
  return path.join(workDir, 'pids');
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
