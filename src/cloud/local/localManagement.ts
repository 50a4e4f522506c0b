import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { version } from '../../../package.json';
import { executePlan, planFor, pruneEnvironments, staleQueuePairs } from '../../management/adjuster';
import { AdjusterRun, AdjusterRunResult, DEFAULT_ENVIRONMENT_MAX_AGE_S, DEFAULT_MANAGEMENT_CONFIG, ManagementConfig, ManagementStatus, readThresholds, validateManagementConfig } from '../../core/management';
import { localNodeCommand } from '../../remote/agentBundle';
import { deleteJobQueues } from '../jobQueues';
import { Cloud, ManagementInstaller } from '../ports';
import { processAlive } from './processes';

/**
 * The local cloud's management functions: a background process (dist/management.js) that runs the
 * adjuster on a schedule, with its configuration and status in `<state>/management/`.
 */
export class LocalManagement implements ManagementInstaller {
  readonly dir: string;

  constructor(
    private readonly cloud: Cloud,
    stateDir: string,
  ) {
    this.dir = path.join(stateDir, 'management');
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  async config(): Promise<ManagementConfig> {
    return this.readConfig();
  }

  private readConfig(): ManagementConfig {
    const config = { ...DEFAULT_MANAGEMENT_CONFIG, ...readJson<ManagementConfig>(this.file('config.json')) };
    try {
      // A config written by an older version may lack the optional fields.
      return { ...config, thresholds: readThresholds(config.thresholds) };
    } catch {
      return config; // the adjuster run reports what is wrong with it
    }
  }

  async install(config: ManagementConfig): Promise<void> {
    config = validateManagementConfig(config);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeJson(this.file('config.json'), config);
    // The first look at environments is an hour from now: a fresh install's first runs stay quick.
    if (!fs.existsSync(this.file('environments-pruned.json'))) writeJson(this.file('environments-pruned.json'), { at: Date.now() });
    // A running runner keeps its old schedule: replace it.
    await this.stopRunner();
    const node = localNodeCommand();
    const log = fs.openSync(this.file('runner.log'), 'a', 0o600);
    const child = spawn(node.command, [runnerBundle(), '--state-dir', path.dirname(this.dir)], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, ...node.env },
    });
    fs.closeSync(log);
    child.unref();
    writeJson(this.file('runner.json'), { pid: child.pid, version, installedAt: Date.now() });
  }

  async uninstall(): Promise<void> {
    await this.stopRunner();
  }

  async status(): Promise<ManagementStatus> {
    const runner = readJson<{ pid: number; version: string }>(this.file('runner.json'));
    const status = readJson<{ lastRun?: AdjusterRunResult; nextRunAt?: number }>(this.file('status.json'));
    const installed = !!runner && processAlive(runner.pid);
    return {
      installed,
      version: runner?.version,
      detail: installed ? `runner pid ${runner!.pid}` : undefined,
      config: this.readConfig(),
      lastRun: status?.lastRun,
      nextRunAt: installed ? status?.nextRunAt : undefined,
      logFile: this.file('runner.log'),
    };
  }

  // Only one run at a time: a second caller skips instead of, say, launching the same missing
  // capacity twice.
  async runOnce(o: { dryRun?: boolean; now?: number } = {}): Promise<AdjusterRun> {
    const now = o.now ?? Date.now();
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const release = acquireLock(this.file('adjuster.lock'));
    if (!release) {
      return { result: { ...emptyResult(now), skipped: 'another adjuster run is in progress' } };
    }
    try {
      const config = this.readConfig();
      const plan = await planFor(this.cloud, config, now);
      const stale = await staleQueuePairs(this.cloud, config.queueMaxAgeS, now);
      if (o.dryRun) return { plan, result: { ...emptyResult(now), deletedQueues: stale } };
      const result = await executePlan(this.cloud, plan, now, config);
      for (const jobId of stale) await deleteJobQueues(this.cloud, jobId);
      result.deletedQueues = stale;
      // Environments age in days: looking (an SSH session per instance) once an hour is plenty.
      const pruned = readJson<{ at: number }>(this.file('environments-pruned.json'));
      if (!pruned || now - pruned.at >= ENVIRONMENT_PRUNE_INTERVAL_MS || pruned.at > now) {
        result.removedEnvironments = await pruneEnvironments(this.cloud, config.environmentMaxAgeS ?? DEFAULT_ENVIRONMENT_MAX_AGE_S);
        writeJson(this.file('environments-pruned.json'), { at: now });
      }
      return { plan, result };
    } finally {
      release();
    }
  }

  /** Called by the runner after each run. */
  recordRun(result: AdjusterRunResult, nextRunAt: number): void {
    writeJson(this.file('status.json'), { lastRun: result, nextRunAt });
  }

  private async stopRunner(): Promise<void> {
    const runner = readJson<{ pid: number }>(this.file('runner.json'));
    fs.rmSync(this.file('runner.json'), { force: true });
    if (!runner || !processAlive(runner.pid)) return;
    process.kill(runner.pid, 'SIGTERM');
    for (let i = 0; i < 100 && processAlive(runner.pid); i++) await new Promise((r) => setTimeout(r, 50));
  }
}

const ENVIRONMENT_PRUNE_INTERVAL_MS = 3600_000;

function runnerBundle(): string {
  const candidates = [path.join(__dirname, 'management.js')];
  for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) candidates.push(path.join(dir, 'dist', 'management.js'));
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error('The management runner is not built (dist/management.js is missing): run `npm run build`.');
  return found;
}

/**
 * Takes a lock file, breaking it when its holder died or held it implausibly long. The lock is
 * linked into place fully written, so a contender never reads a half-written holder and breaks a
 * live lock. Two contenders breaking the same stale lock may both run once; the table's
 * conditional operations keep that harmless.
 */
function acquireLock(file: string): (() => void) | undefined {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ pid: process.pid, at: Date.now() }), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.linkSync(tmp, file);
        return () => fs.rmSync(file, { force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const holder = readJson<{ pid: number; at: number }>(file);
        if (!holder) continue; // released just now: try again
        if (processAlive(holder.pid) && Date.now() - holder.at < 10 * 60_000) return undefined;
        fs.rmSync(file, { force: true });
      }
    }
    return undefined;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function emptyResult(at: number): AdjusterRunResult {
  return { at, terminated: [], deregistered: [], launched: [], kept: {}, unmet: [], deletedQueues: [] };
}
