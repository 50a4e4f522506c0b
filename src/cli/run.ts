import { bytes } from '../core/format';
import { Engine, JobEvent, JobResult } from '../jobs/engine';
import { Resources } from '../core/resources';
import { JobOutcome } from '../remote/protocol';

export interface RunFlags {
  cpu?: number;
  memory?: number;
  gpus?: number;
  maxEvictionRate?: number;
  project?: string;
  interpreter?: string;
  json?: boolean;
}

export function resourcesFrom(flags: RunFlags): Partial<Resources> {
  const r: Partial<Resources> = {};
  if (flags.cpu !== undefined) r.cpu = flags.cpu;
  if (flags.memory !== undefined) r.memoryGb = flags.memory;
  if (flags.gpus !== undefined) r.gpus = flags.gpus;
  if (flags.maxEvictionRate !== undefined) r.maxEvictionRatePct = flags.maxEvictionRate;
  return r;
}

/** Progress for people on stderr, so that stdout carries only the job's output and result. */
export function describeEvent(e: JobEvent): string | undefined {
  switch (e.kind) {
    case 'launching':
      return `Launching a ${e.typeName} instance (${e.spot ? 'spot' : 'on-demand'}, $${e.price.toFixed(4)}/h)…`;
    case 'launched':
      return `Launched ${e.instanceId} in ${e.seconds.toFixed(2)} s`;
    case 'allocated':
      return e.reused ? `Running on ${e.instanceId} (${e.typeName}, warm)` : undefined;
    case 'synced':
      return e.sent ? `Synced ${e.sent} of ${e.files} project files (${bytes(e.bytes)})` : undefined;
    case 'started':
      return undefined;
  }
}

/**
 * One line on stderr, once per command, when it launched an instance that nothing will stop once
 * idle (no management functions). Returns the event handler and a promise to await before exiting.
 */
export function warnUnmanagedLaunch(management: () => Promise<{ installed: boolean }>): { onEvent(e: JobEvent): void; done(): Promise<void> } {
  let checked: Promise<void> | undefined;
  return {
    onEvent(e) {
      if (e.kind !== 'launched' || checked) return;
      checked = management().then(
        (s) => {
          if (!s.installed) process.stderr.write(`Note: ${e.instanceId} keeps running (and costing) when idle: no management functions are installed to stop it (meadowrun manage install).\n`);
        },
        () => undefined,
      );
    },
    done: async () => checked,
  };
}

/** Runs `work` with a signal that Ctrl-C aborts; a second Ctrl-C gives up waiting. */
export async function cancellableBySigint<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nCancelling… (Ctrl-C again to stop waiting)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
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
      signal,
      onEvent: (e) => {
        const line = describeEvent(e);
        if (line && !flags.json) process.stderr.write(`${line}\n`);
        unmanaged.onEvent(e);
      },
      onOutput: (stream, data) => (stream === 'stdout' && !flags.json ? process.stdout : process.stderr).write(data),
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
    case 'rejected':
      return { code: 2, message: outcome.message };
    case 'crashed':
      return { code: 1, message: `the job crashed: ${outcome.message}` };
    case 'cancelled':
      return { code: 130, message: 'cancelled' };
  }
}
