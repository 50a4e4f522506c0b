import { ChildProcess, spawn } from 'child_process';
import * as readline from 'readline';

export type ForkServerEvent =
  | { started: string; pid: number }
  | { exited: string; code?: number; signal?: string };

/**
 * One warm Python per interpreter (python/forkserver.py) that forks a fresh process for each job,
 * so a job pays for a fork, not for Python's start-up.
 */
export class ForkServer {
  private readonly process: ChildProcess;
  private readonly ready: Promise<void>;
  private alive = true;

  /** `process`: one started already (a `docker run` of the same script, for a job in a container). */
  constructor(interpreter: string, scriptPath: string, socketPath: string, cwd: string, onEvent: (e: ForkServerEvent) => void, onDeath: (why: string) => void, process?: ChildProcess) {
    this.process = process ?? spawn(interpreter, ['-u', scriptPath, socketPath], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    // A starter that died is reported through 'exit'; a write to its closed stdin must not crash the agent.
    this.process.stdin!.on('error', () => undefined);
    let stderr = '';
    this.process.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    const lines = readline.createInterface({ input: this.process.stdout! });
    this.ready = new Promise((resolve, reject) => {
      lines.on('line', (line) => {
        let event: ForkServerEvent | { ready: number };
        try {
          event = JSON.parse(line);
        } catch {
          return; // not ours: the starter only ever writes JSON lines
        }
        if ('ready' in event) resolve();
        else onEvent(event);
      });
      const die = (why: string) => {
        if (!this.alive) return;
        this.alive = false;
        const message = `${why}${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`;
        reject(new Error(message));
        onDeath(message);
      };
      this.process.on('error', (e) => die(`could not start ${interpreter} (${e.message})`));
      this.process.on('exit', (code, signal) => die(`${interpreter} job starter exited (${signal ?? code})`));
    });
    this.ready.catch(() => undefined);
  }

  /** The starter's pid on this machine (for a container, that of `docker run`, which lives as long as it). */
  get pid(): number | undefined {
    return this.process.pid;
  }

  get isAlive(): boolean {
    return this.alive;
  }

  async start(request: object): Promise<void> {
    await this.ready;
    this.process.stdin!.write(JSON.stringify(request) + '\n');
  }

  /** The starter stops its jobs and exits when its stdin closes (as it does when this process dies). */
  stop(): void {
    this.alive = false;
    this.process.stdin!.end();
  }
}
