// Where the agent keeps things on an instance, for the client to name them.
import * as path from 'path';

/** The project's folder (its jobs' working directory): the paths its tracebacks name. */
export function remoteProjectDir(workDir: string, project: string): string {
  return path.posix.join(workDir, 'projects', project);
}

/** Where the agent writes a job's log. */
export function jobLogPath(workDir: string, jobId: string): string {
  return path.posix.join(workDir, 'logs', `${jobId}.log`);
}

/** Where the agent keeps a job's PID file (pidFiles.ts). */
export function pidFilePath(workDir: string, jobId: string): string {
  return path.posix.join(workDir, 'pids', `${jobId}.json`);
}
