import * as crypto from 'crypto';
import * as path from 'path';
import { Logger, logFailure, SILENT } from '../core/logger';
import { MeadowrunError, Stage, atStage, ownCancellation, throwIfCancelled, withStage } from '../core/errors';
import { DEFAULT_RESOURCES, Resources, validateResources } from '../core/resources';
import { Cloud, isReady, ReadyInstance } from '../cloud/ports';
import { JobOutcome, JobSpec, RunRequest, StreamName } from '../remote/protocol';
import { SessionPool } from '../remote/pool';
import { AllocationEvent, allocateJob, discardInstance, fenceUnreachable, isUnreachable } from './allocate';
import { reapLeases } from './clientLeases';
import { stoppedByTermination } from './instances';
import { syncProject } from './codeSync';
import { preflight, preflightExpression, PreflightInput } from './preflight';
import { remoteProjectName } from './projectFiles';
import { pidFilePath, remoteProjectDir } from './remotePaths';
import { shellQuote } from '../remote/shellQuote';
import { parseFunctionTarget, projectPath, repositoryFile, repositoryTarget } from './target';
import type { GitSource } from '../core/git';
import { MapArguments, MapResult, MapRun } from './runMap';
import type { MapEvent } from '../core/mapProgress';
import { checkImageRef, ImageSpec } from '../core/containers';
import { DeploymentChoice, EnvironmentEvent, EnvironmentSpec } from '../core/deployment';
import { checkSecretName } from '../core/secrets';
import { IndexSettings, resolveDeployment } from './deployment';
import { CachedEnvironment, instanceEnvironments } from './environments';

export type JobEvent =
  | AllocationEvent
  | { kind: 'allocated'; jobId: string; instanceId: string; typeName: string; reused: boolean }
  | { kind: 'synced'; files: number; sent: number; bytes: number; skipped: string[] }
  /** The job's libraries: which file they come from (before allocation), then the instance building or reusing their environment. */
  | { kind: 'deployment'; source: string }
  | { kind: 'environment'; event: EnvironmentEvent }
  /** `projectDir`: the project's folder on the instance, as paths in tracebacks name it. */
  | { kind: 'started'; pid: number; logPath: string; projectDir: string };

export interface JobOptions {
  resources?: Partial<Resources>;
  /** The folder synced to the instance and used as the working directory; default: the current one. */
  projectDir?: string;
  /** Python on the instance. */
  interpreter?: string;
  /** Where the job's libraries come from (default: none, the instance's interpreter as it is). */
  deployment?: DeploymentChoice;
  /** The package index (and extra ones) the instance installs them from. */
  index?: IndexSettings;
  /**
   * Code from a git repository (core/git.ts), fetched on the instance, in place of syncing
   * `projectDir`; its libraries are read from the repository's files there (`mirror`: from here).
   */
  git?: GitSource;
  /** Python on this machine, for checking input before anything is allocated (default: python3). */
  localPython?: string;
  env?: Record<string, string>;
  /** The job log on the instance is kept under this many MB, its newest half kept (default 100). */
  logCapMb?: number;
  /** Where a result too large to travel inline is saved as a pickle file, which the caller then owns. */
  resultDir?: string;
  signal?: AbortSignal;
  onEvent?(e: JobEvent): void;
  onOutput?(stream: StreamName, data: Buffer): void;
}

export interface JobResult {
  jobId: string;
  instanceId: string;
  outcome: JobOutcome;
  /** Whether an instance was launched for this job (rather than a warm one reused). */
  launched: boolean;
  logPath?: string;
}

export interface MapOptions {
  /** How many workers (default 4); several share an instance when they fit. */
  workers?: number;
  /** Attempts per task before it counts as failed (default 3). */
  maxAttempts?: number;
  /** How long a claimed batch of tasks stays hidden from other workers without a sign of life. */
  visibilityS?: number;
  onMapEvent?(e: MapEvent): void;
}

export interface EngineOptions {
  /** Close an instance's connection after it has been unused this long. */
  connectionIdleMs?: number;
  /**
   * Where map runs record what they hold, so that what a killed client left behind is freed by
   * the next one (see clientLeases.ts). Without it, a killed client's leftovers wait for management.
   */
  leaseDir?: string;
  /** Where the engine says what it did, and what failed without failing the job (default: nowhere). */
  log?: Logger;
}

/** Runs jobs on a cloud: the one engine behind the CLI, the extension and the tests. */
export class Engine {
  private readonly pool: SessionPool;
  /** Where this client's last job went: the next one tries it first (allocateJob's `preferred`). */
  private lastInstance?: ReadyInstance;
  readonly log: Logger;

  constructor(readonly cloud: Cloud, private readonly options: EngineOptions = {}) {
    this.log = options.log ?? SILENT;
    this.pool = new SessionPool(
      async () => (await cloud.secrets.getSshKeyPair()).privateKey,
      options.connectionIdleMs,
      this.log,
      cloud.provider.name,
    );
  }

  /**
   * Calls `target` (`file.py:function`, the file relative to the project or absolute, or
   * `package.module:function`) with arguments given as a Python literal or JSON.
   */
  async runFunction(target: string, args = '[]', o: JobOptions & { kwargs?: string } = {}): Promise<JobResult> {
    const projectDir = path.resolve(o.projectDir ?? process.cwd());
    // The code is the repository's, on the instance: nothing here to check it against.
    if (o.git) {
      const t = await atStage('check', undefined, () => repositoryTarget(target, projectDir));
      return this.run({ kind: 'function', target: t, args, kwargs: o.kwargs }, undefined, projectDir, o);
    }
    const t = await atStage('check', undefined, () => parseFunctionTarget(target, projectDir));
    const check: PreflightInput | undefined = t.localFile
      ? { kind: 'function', localFile: t.localFile, displayName: path.relative(projectDir, t.localFile), function: t.function, args, kwargs: o.kwargs }
      : undefined;
    return this.run({ kind: 'function', target: `${t.module}:${t.function}`, args, kwargs: o.kwargs }, check, projectDir, o);
  }

  /** Runs a Python file of the project (a path relative to it, or absolute) as a script, like `python FILE ARGS…`. */
  async runCommand(file: string, args: string[] = [], o: JobOptions = {}): Promise<JobResult> {
    const projectDir = path.resolve(o.projectDir ?? process.cwd());
    if (o.git) {
      const rel = await atStage('check', undefined, () => repositoryFile(file, projectDir));
      return this.run({ kind: 'command', file: rel, args }, undefined, projectDir, o);
    }
    const rel = await atStage('check', undefined, () => projectPath(file, projectDir));
    const check: PreflightInput = { kind: 'command', localFile: path.resolve(projectDir, file), displayName: rel };
    return this.run({ kind: 'command', file: rel, args }, check, projectDir, o);
  }

  /**
   * Runs `target` over many arguments on several workers (run_map); results come back in order.
   * Each worker runs task after task in one warm Python; nothing is lost when a worker dies.
   */
  async runMap(target: string, args: MapArguments, o: JobOptions & MapOptions = {}): Promise<MapResult> {
    const projectDir = path.resolve(o.projectDir ?? process.cwd());
    const workers = o.workers ?? 4;
    const t = await atStage('check', undefined, async () => {
      let t: { target: string; function: string };
      if (o.git) {
        // The code is the repository's, on the instance: nothing here to check it against.
        const inRepository = repositoryTarget(target, projectDir);
        t = { target: inRepository, function: inRepository.slice(inRepository.lastIndexOf(':') + 1) };
      } else {
        const parsed = parseFunctionTarget(target, projectDir);
        if (parsed.localFile) {
          await preflight({ kind: 'function', localFile: parsed.localFile, displayName: path.relative(projectDir, parsed.localFile), function: parsed.function }, o.localPython);
        }
        t = { target: `${parsed.module}:${parsed.function}`, function: parsed.function };
      }
      if (args.kind === 'expression') await preflightExpression(args.expr, o.localPython);
      if (!Number.isInteger(workers) || workers < 1) throw new MeadowrunError(`Workers must be a whole number ≥ 1 (got ${workers})`, 'bad-workers');
      return t;
    });
    const { environment, image } = await atStage('check', undefined, () => this.deploymentFor(projectDir, o));
    await this.reapOrphans();
    const run = new MapRun(this.cloud, this.pool, {
      target: t.target,
      projectDir,
      project: remoteProjectName(projectDir),
      need: validateResources({ ...DEFAULT_RESOURCES, ...o.resources }),
      workers,
      maxAttempts: o.maxAttempts ?? 3,
      visibilityS: o.visibilityS ?? 30,
      interpreter: o.interpreter ?? 'python3',
      environment,
      image,
      code: repositoryCode(o, environment, image),
      onEnvironment: (event) => o.onEvent?.({ kind: 'environment', event }),
      env: o.env ?? {},
      title: `${t.function} over ${args.kind === 'expression' ? args.expr : `${args.values.length} arguments`}`,
      signal: o.signal,
      log: this.log,
      leaseDir: this.options.leaseDir,
      onEvent: o.onMapEvent,
      onAllocationEvent: o.onEvent,
    });
    // A map spans stages and instances: its errors keep their own, but cancellation is ours.
    return run.run(args).catch((e) => {
      throw ownCancellation(e);
    });
  }

  /**
   * The environment a job of `projectDir` needs, from its deployment files, or the container image
   * it runs in (read and checked before anything is allocated).
   */
  private async deploymentFor(projectDir: string, o: JobOptions): Promise<{ environment?: EnvironmentSpec; image?: ImageSpec }> {
    const choice = o.deployment ?? { kind: 'none' };
    if (choice.kind === 'image') {
      const image: ImageSpec = { ref: checkImageRef(choice.image ?? '') };
      if (choice.imageSecret) image.secret = checkSecretName(choice.imageSecret);
      o.onEvent?.({ kind: 'deployment', source: `image ${image.ref}` });
      return { image };
    }
    // The repository's files are on the instance, read there; only `mirror` describes this machine.
    if (o.git && choice.kind !== 'mirror') return {};
    const localPython = o.localPython || process.env.MEADOWRUN_LOCAL_PYTHON || 'python3';
    const environment = await resolveDeployment(projectDir, choice, o.index, localPython);
    if (environment) o.onEvent?.({ kind: 'deployment', source: environment.source });
    return { environment };
  }

  /**
   * A job's log as the instance has it (the agent writes one per job), from byte `from` on, so a
   * log being followed is fetched a piece at a time.
   */
  async readJobLog(instanceId: string, file: string, from = 0): Promise<Buffer> {
    const instance = await this.cloud.table.getInstance(instanceId);
    if (!instance) throw new MeadowrunError(`Instance ${instanceId} is gone, and its logs with it`, 'not-found', { instanceId });
    if (!isReady(instance)) throw new MeadowrunError(`Instance ${instanceId} is still launching: no job has run there yet`, 'not-found', { instanceId });
    return this.pool.with(instance, async (session) => {
      const sftp = await session.connection.sftp();
      return new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        sftp
          .createReadStream(file, { start: from })
          .on('data', (c: Buffer) => chunks.push(c))
          .on('end', () => resolve(Buffer.concat(chunks)))
          .on('error', (e: Error) => reject(new MeadowrunError(`Cannot read ${file} on ${instanceId}: ${e.message}`, 'error', { instanceId })));
      });
    });
  }

  /**
   * Stops a job, whoever started it; returns whether it ended within `timeoutMs` (its allocation
   * freed). A resident agent runs every job on its instance and stops it; a job on another
   * client's private agent is sent Ctrl-C (then SIGKILL) through its PID file.
   */
  async stopJob(instanceId: string, jobId: string, timeoutMs = 10_000): Promise<boolean> {
    const instance = await this.cloud.table.getInstance(instanceId);
    if (!instance?.jobs[jobId]) return true;
    // On an instance still launching, the job has not started: freeing it stops it.
    if (!isReady(instance)) return this.cloud.table.deallocateJob(instanceId, jobId).then(() => true);
    const running = async () => !!(await this.cloud.table.getInstance(instanceId))?.jobs[jobId];
    const deadline = Date.now() + timeoutMs;
    const endedBy = async (ms: number) => {
      for (const until = Math.min(deadline, Date.now() + ms); await running(); ) {
        if (Date.now() > until) return false;
        await new Promise((r) => setTimeout(r, 100));
      }
      return true;
    };
    return this.pool.with(instance, async (session) => {
      session.cancel(jobId);
      if (await endedBy(1500)) return true;
      // Only a process forked by the agent's Python starter is a job: before the job starts, its
      // PID file names the agent itself, which must live on.
      const signal = (name: string) => {
        const file = shellQuote(pidFilePath(instance.workDir, jobId));
        return session.connection.exec(
          `pid=$(sed -n 's/.*"pid": *\\([0-9][0-9]*\\).*/\\1/p' ${file}) && [ -n "$pid" ] && grep -q forkserver- /proc/$pid/cmdline && kill -${name} -- -$pid`,
        );
      };
      await signal('INT');
      if (await endedBy(3000)) return true;
      await signal('KILL');
      return endedBy(timeoutMs);
    });
  }

  /**
   * The environments cached on every ready instance; with `pruneOlderThanS`, those unused for longer
   * (and not in use or being built) are removed, and marked so.
   */
  async environments(pruneOlderThanS?: number): Promise<CachedEnvironment[]> {
    const ready = (await this.cloud.table.listInstances()).filter(isReady);
    return instanceEnvironments(this.pool, ready, pruneOlderThanS);
  }

  /** Frees what map clients that were killed left behind (their queues, allocations and launched instances). */
  async reapOrphans(): Promise<string[]> {
    return this.options.leaseDir ? reapLeases(this.cloud, this.options.leaseDir, { log: this.log }) : [];
  }

  /** Gives up this process's running maps: frees what they hold now, without waiting for their workers. */
  async abandonMaps(): Promise<void> {
    if (this.options.leaseDir) await reapLeases(this.cloud, this.options.leaseDir, { mine: true, log: this.log });
  }

  /** Closes every kept-open connection (the CLI does this before it exits). */
  dispose(): void {
    this.pool.closeAll();
  }

  /** One job, each failure named by the stage it happened at and the instance it happened on. */
  private async run(spec: JobSpec, check: PreflightInput | undefined, projectDir: string, o: JobOptions): Promise<JobResult> {
    let stage: Stage = 'check';
    let instanceId: string | undefined;
    try {
      return await this.runStages(spec, check, projectDir, o, (s, id) => {
        stage = s;
        if (id) instanceId = id;
      });
    } catch (e) {
      throw withStage(e, stage, instanceId);
    }
  }

  private async runStages(
    spec: JobSpec,
    check: PreflightInput | undefined,
    projectDir: string,
    o: JobOptions,
    at: (stage: Stage, instanceId?: string) => void,
  ): Promise<JobResult> {
    const need = validateResources({ ...DEFAULT_RESOURCES, ...o.resources });
    if (o.logCapMb !== undefined && !(o.logCapMb >= 0.01)) throw new MeadowrunError(`The log cap must be at least 0.01 MB (got ${o.logCapMb})`, 'bad-log-cap');
    if (check) await preflight(check, o.localPython);
    const { environment, image } = await this.deploymentFor(projectDir, o);
    throwIfCancelled(o.signal);
    const jobId = `${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`;
    for (let attempt = 1; ; attempt++) {
      at('allocate');
      const { instance, launched } = await allocateJob(this.cloud, need, jobId, {
        onEvent: (e) => {
          if (e.kind === 'launching') at('launch');
          if (e.kind === 'launched' || e.kind === 'joining') at('launch', e.instanceId);
          o.onEvent?.(e);
        },
        signal: o.signal,
        preferred: this.lastInstance,
      });
      this.lastInstance = instance;
      at(o.git ? 'code' : 'sync', instance.id);
      o.onEvent?.({ kind: 'allocated', jobId, instanceId: instance.id, typeName: instance.typeName, reused: !launched });
      let started = false;
      let logPath: string | undefined;
      let outcome: JobOutcome;
      try {
        throwIfCancelled(o.signal);
        outcome = await this.pool.with(instance, async (session) => {
          const project = remoteProjectName(projectDir);
          if (!o.git) {
            const synced = await syncProject(session, projectDir, project, jobId);
            o.onEvent?.({ kind: 'synced', ...synced });
            throwIfCancelled(o.signal);
            at('start');
          }
          const cancel = () => session.cancel(jobId);
          o.signal?.addEventListener('abort', cancel);
          try {
            return await session.runJob(
              {
                t: 'run',
                jobId,
                spec,
                project,
                interpreter: o.interpreter ?? 'python3',
                environment,
                image,
                ...repositoryCode(o, environment, image),
                env: { ...o.env, MEADOWRUN_JOB_ID: jobId },
                logCapBytes: o.logCapMb === undefined ? undefined : Math.round(o.logCapMb * 1024 * 1024),
              },
              {
                resultDir: o.resultDir,
                onEnvironment: (event) => {
                  if (event.kind === 'building' || event.kind === 'reused') at('environment');
                  o.onEvent?.({ kind: 'environment', event });
                },
                onStarted: (pid, log) => {
                  started = true;
                  logPath = log;
                  at('run');
                  o.onEvent?.({ kind: 'started', pid, logPath: log, projectDir: remoteProjectDir(instance.workDir, project) });
                },
                onOutput: o.onOutput,
              },
            );
          } finally {
            o.signal?.removeEventListener('abort', cancel);
          }
        });
      } catch (e) {
        if (!started && attempt === 1 && isUnreachable(e)) {
          // A dead instance must not keep attracting jobs: fence it, and try once elsewhere.
          await fenceUnreachable(this.cloud, this.pool, instance.id, [jobId], this.log);
          o.onEvent?.({ kind: 'retrying', instanceId: instance.id, reason: (e as Error).message });
          continue;
        }
        // A job that never started has nothing on the instance to clean up after it: free its
        // allocation here. One that started and lost its agent is the sweep's to judge.
        if (!started) await this.release(instance.id, jobId, launched);
        throw (started && (await stoppedByTermination(this.cloud, instance.id, jobId, e))) || e;
      }
      if (outcome.status === 'rejected' && outcome.code === 'git') {
        await this.release(instance.id, jobId, launched);
        throw new MeadowrunError(outcome.message, 'git', { stage: 'code', instanceId: instance.id });
      }
      if (outcome.status === 'rejected' && outcome.code === 'environment') {
        // The agent freed the job's allocation; an instance launched for it goes too.
        await this.release(instance.id, jobId, launched);
        throw new MeadowrunError(outcome.message, 'environment', { stage: 'environment', instanceId: instance.id });
      }
      at('result');
      if (launched && (outcome.status === 'rejected' || outcome.status === 'cancelled')) {
        await this.release(instance.id, jobId, launched);
      }
      return { jobId, instanceId: instance.id, outcome, launched, logPath };
    }
  }

  private async release(instanceId: string, jobId: string, launched: boolean): Promise<void> {
    await this.cloud.table.deallocateJob(instanceId, jobId);
    if (launched) {
      this.pool.close(instanceId);
      // The job's own error (or cancellation) is what the caller hears of; an instance that would
      // not go is a warning beside it, not a replacement for it.
      await discardInstance(this.cloud, instanceId).catch((e) =>
        logFailure(this.log, `Could not terminate ${instanceId}, launched for job ${jobId}; it may keep running (meadowrun instances terminate ${instanceId})`, e),
      );
    }
  }
}

/**
 * The code from a git repository a job's request names, and where its libraries come from when the
 * client resolved none: the repository's own files, read on the instance.
 */
function repositoryCode(o: JobOptions, environment?: EnvironmentSpec, image?: ImageSpec): Pick<RunRequest, 'git' | 'deployment'> {
  if (!o.git) return {};
  const fromRepository = !environment && !image && o.deployment && o.deployment.kind !== 'none';
  return { git: o.git, ...(fromRepository && { deployment: { choice: o.deployment!, index: o.index ?? {} } }) };
}
