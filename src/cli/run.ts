import { MeadowrunError } from '../core/errors';
import { bytes } from '../core/format';
import { selfStopAfter } from '../core/idleWatchdog';
import { DEFAULT_MANAGEMENT_CONFIG } from '../core/management';
import { Engine, JobEvent, JobResult } from '../jobs/engine';
import { CpuFeature, Resources } from '../core/resources';
import { JobOutcome } from '../remote/protocol';
import type { DeploymentChoice, EnvironmentEvent } from '../core/deployment';
import type { IndexSettings } from '../jobs/deployment';
import { GitSource, parseGitSource } from '../core/git';

/** The deployment flags as the engine takes them. */
export function deploymentFrom(flags: RunFlags): { deployment?: DeploymentChoice; index: IndexSettings; localPython?: string; git?: GitSource } {
  let deployment = flags.deployment;
  if (flags.image) {
    if (deployment && deployment.kind !== 'auto' && deployment.kind !== 'image') {
      throw new MeadowrunError(`--image and --deployment ${deployment.kind} name two different deployments: use one`, 'bad-deployment', { stage: 'check' });
    }
    deployment = { kind: 'image', image: flags.image };
  }
  if (flags.imageSecret) {
    if (deployment?.kind !== 'image') throw new MeadowrunError('--image-secret is for a container image: add --image REF', 'bad-deployment', { stage: 'check' });
    deployment = { ...deployment, imageSecret: flags.imageSecret };
  }
  if (flags.gitSecret && !flags.git) throw new MeadowrunError('--git-secret is for a git repository: add --git URL[@REF]', 'bad-git', { stage: 'check' });
  const git = flags.git ? atCheck(() => parseGitSource(flags.git!, flags.gitSecret)) : undefined;
  return { deployment, index: { indexUrl: flags.indexUrl, extraIndexUrls: flags.extraIndexUrl, indexSecret: flags.indexSecret }, localPython: flags.interpreterLocal, ...(git && { git }) };
}

function atCheck<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof MeadowrunError) e.stage ??= 'check';
    throw e;
  }
}

export interface RunFlags {
  cpu?: number;
  memory?: number;
  gpus?: number;
  maxEvictionRate?: number;
  gpuMemory?: number;
  cpuFeature?: CpuFeature[];
  project?: string;
  interpreter?: string;
  deployment?: DeploymentChoice;
  image?: string;
  imageSecret?: string;
  git?: string;
  gitSecret?: string;
  interpreterLocal?: string;
  indexUrl?: string;
  extraIndexUrl?: string[];
  indexSecret?: string;
  json?: boolean;
  logCapMb?: number;
}

/** Thrown when whoever reads our stdout has gone (`meadowrun … | head`): the job is stopped, quietly. */
export class StdoutClosed extends Error {}

let stdoutClosed = false;
const onStdoutClosed = new Set<() => void>();

/**
 * A reader that goes away (EPIPE) ends the command the way SIGPIPE ends a Unix tool: no stack
 * trace, exit status 141, and the remote job cancelled since nobody reads its output.
 */
export function watchStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    if (stdoutClosed) return;
    stdoutClosed = true;
    process.exitCode = 141;
    for (const listener of onStdoutClosed) listener();
  });
}

export function isStdoutClosed(): boolean {
  return stdoutClosed;
}

export function resourcesFrom(flags: RunFlags): Partial<Resources> {
  const r: Partial<Resources> = {};
  if (flags.cpu !== undefined) r.cpu = flags.cpu;
  if (flags.memory !== undefined) r.memoryGb = flags.memory;
  if (flags.gpus !== undefined) r.gpus = flags.gpus;
  if (flags.maxEvictionRate !== undefined) r.maxEvictionRatePct = flags.maxEvictionRate;
  if (flags.gpuMemory !== undefined) r.gpuMemoryGb = flags.gpuMemory;
  if (flags.cpuFeature !== undefined) r.cpuFeatures = flags.cpuFeature;
  return r;
}

/** Progress for people on stderr, so that stdout carries only the job's output and result. */
export function describeEvent(e: JobEvent): string | undefined {
  switch (e.kind) {
    case 'launching':
      return `Launching a ${e.typeName} instance (${e.spot ? 'spot' : 'on-demand'}, $${e.price.toFixed(4)}/h)…`;
    case 'launched':
      return `Launched ${e.instanceId} in ${e.seconds.toFixed(2)} s`;
    case 'joining':
      return `Waiting for ${e.instanceId} (${e.typeName}), which another client is launching…`;
    case 'no-capacity':
      return `${e.reason}; trying the next cheapest type…`;
    case 'attempt':
      return e.message;
    case 'retrying':
      return `${e.instanceId} is unreachable (${e.reason}); it takes no more jobs. Retrying on another instance…`;
    case 'allocated':
      return e.reused ? `Running on ${e.instanceId} (${e.typeName}, warm)` : undefined;
    case 'synced':
      return e.sent ? `Synced ${e.sent} of ${e.files} project files (${bytes(e.bytes)})` : undefined;
    case 'started':
      return undefined;
    case 'deployment':
      return `Libraries from ${e.source}`;
    case 'environment':
      return describeEnvironment(e.event);
  }
}

/** Several workers waiting for one build each report it: it is said once per environment. */
const announced = new Set<string>();

function describeEnvironment(e: EnvironmentEvent): string | undefined {
  switch (e.kind) {
    case 'building':
      if (announced.has(`b${e.hash}`)) return undefined;
      announced.add(`b${e.hash}`);
      return `Building environment ${e.hash.slice(0, 4)}… from ${e.source} (first time on this instance)`;
    case 'log':
      return `  | ${e.line}`;
    case 'built':
      if (announced.has(`d${e.hash}`)) return undefined;
      announced.add(`d${e.hash}`);
      return `Environment ${e.hash.slice(0, 4)}… built in ${e.seconds.toFixed(1)} s`;
    case 'reused':
      return undefined;
    case 'pulling':
      if (announced.has(`p${e.image}`)) return undefined;
      announced.add(`p${e.image}`);
      return `Pulling image ${e.image} (first time on this instance)`;
    case 'pulled':
      if (announced.has(`P${e.image}`)) return undefined;
      announced.add(`P${e.image}`);
      return `Image ${e.image} pulled in ${e.seconds.toFixed(1)} s`;
    case 'installing-docker':
      if (announced.has('docker')) return undefined;
      announced.add('docker');
      return 'Installing Docker on this instance (first time)';
    case 'docker-installed':
      if (announced.has('docker-installed')) return undefined;
      announced.add('docker-installed');
      return `Docker installed in ${e.seconds.toFixed(1)} s`;
  }
}

export function skippedWarning(links: string[]): string {
  return `Warning: not synced, symlinks pointing outside the project: ${links.join(', ')}`;
}

/**
 * One line on stderr, once per command, when it launched an instance with no management functions
 * installed: only its idle watchdog will stop it. Returns the event handler and a promise to await
 * before exiting.
 */
export function warnUnmanagedLaunch(
  management: () => Promise<{ installed: boolean; config?: { idleTimeoutS: number } }>,
): { onEvent(e: JobEvent): void; done(): Promise<void> } {
  let checked: Promise<void> | undefined;
  return {
    onEvent(e) {
      if (e.kind !== 'launched' || checked) return;
      checked = management().then(
        (s) => {
          if (s.installed) return;
          const after = selfStopAfter(s.config?.idleTimeoutS ?? DEFAULT_MANAGEMENT_CONFIG.idleTimeoutS);
          process.stderr.write(
            `Note: ${e.instanceId} stops itself once idle for ${after}: no management functions are installed to stop it sooner ` +
              'or keep capacity warm (meadowrun manage install).\n',
          );
        },
        () => undefined,
      );
    },
    done: async () => checked,
  };
}

/**
 * Runs `work` with a signal that Ctrl-C aborts; a second Ctrl-C gives up waiting, after `abandon`
 * (which frees what the work holds without waiting for it); a third leaves at once.
 */
export async function cancellableBySigint<T>(work: (signal: AbortSignal) => Promise<T>, abandon?: () => Promise<void>): Promise<T> {
  const controller = new AbortController();
  let presses = 0;
  const onSigint = () => {
    presses++;
    if (presses === 1) {
      process.stderr.write('\nCancelling… (Ctrl-C again to stop waiting)\n');
      controller.abort();
    } else if (presses === 2 && abandon) {
      process.stderr.write('Freeing what this run holds without waiting… (Ctrl-C again to leave it for the next command to clean up)\n');
      void abandon().finally(() => process.exit(130));
    } else {
      process.exit(130);
    }
  };
  const onClosed = () => controller.abort();
  process.on('SIGINT', onSigint);
  onStdoutClosed.add(onClosed);
  try {
    const result = await work(controller.signal);
    if (stdoutClosed) throw new StdoutClosed();
    return result;
  } catch (e) {
    throw stdoutClosed ? new StdoutClosed() : e;
  } finally {
    process.off('SIGINT', onSigint);
    onStdoutClosed.delete(onClosed);
  }
}

/** Runs one job from the CLI: progress on stderr, output streamed, Ctrl-C cancels it. */
export async function runJob(
  flags: RunFlags,
  management: () => Promise<{ installed: boolean }>,
  start: (o: Parameters<Engine['runCommand']>[2] & object) => Promise<JobResult>,
): Promise<{ result: JobResult; seconds: number }> {
  const began = Date.now();
  const unmanaged = warnUnmanagedLaunch(management);
  const result = await cancellableBySigint((signal) =>
    start({
      resources: resourcesFrom(flags),
      projectDir: flags.project,
      interpreter: flags.interpreter,
      ...deploymentFrom(flags),
      logCapMb: flags.logCapMb,
      signal,
      onEvent: (e) => {
        // A warning, unlike progress, shows even with --json: the job may miss files it expects.
        if (e.kind === 'synced' && e.skipped.length > 0) process.stderr.write(`${skippedWarning(e.skipped)}\n`);
        const line = describeEvent(e);
        if (line && !flags.json) process.stderr.write(`${line}\n`);
        unmanaged.onEvent(e);
      },
      onOutput: (stream, data) => {
        const out = stream === 'stdout' && !flags.json ? process.stdout : process.stderr;
        if (out === process.stdout && stdoutClosed) return;
        // A slow reader of our output slows the job down instead of filling our memory.
        if (!out.write(data)) return drained(out);
      },
    }),
  );
  await unmanaged.done();
  return { result, seconds: (Date.now() - began) / 1000 };
}

/** The process exit code for an outcome, and the line (if any) that explains a failure. */
export function exitFor(outcome: JobOutcome): { code: number; message?: string } {
  switch (outcome.status) {
    case 'succeeded':
      return { code: 0 };
    case 'exited':
      return { code: outcome.exitCode };
    case 'failed':
      return { code: 1, message: `the function raised ${outcome.error.type}: ${outcome.error.message}` };
    case 'unserializable':
      return { code: 1, message: `the function returned, but its result could not be serialised: ${outcome.message}` };
    case 'rejected':
      return { code: 2, message: outcome.message };
    case 'crashed':
      return { code: 1, message: `the job crashed: ${outcome.message}` };
    case 'cancelled':
      return { code: 130, message: 'cancelled' };
  }
}

/** Settles once `out` has written what it buffered, or can write no more. */
function drained(out: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done).off('close', done).off('error', done);
      resolve();
    };
    out.on('drain', done).on('close', done).on('error', done);
  });
}
