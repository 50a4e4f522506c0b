/** Where in a job's life something failed, in the order a job goes through them. */
export type Stage = 'check' | 'allocate' | 'launch' | 'sync' | 'start' | 'run' | 'result';

/** A place in a local file an error is about (a syntax error's line). */
export interface SourceLocation {
  file: string;
  /** 1-based. */
  line: number;
}

export interface ErrorDetails {
  stage?: Stage;
  instanceId?: string;
  location?: SourceLocation;
  cause?: unknown;
}

/**
 * An error whose message is fit to show a user as one line, in the editor or the CLI, with what
 * failed (its code), at which stage and on which instance, when known.
 * Anything else that escapes the engine is a bug and is reported with its stack.
 */
export class MeadowrunError extends Error {
  /** Set where the engine learns them, as the error passes through (see atStage). */
  stage?: Stage;
  instanceId?: string;
  readonly location?: SourceLocation;

  constructor(message: string, readonly code: string = 'error', details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'MeadowrunError';
    this.stage = details.stage;
    this.instanceId = details.instanceId;
    this.location = details.location;
  }
}

/**
 * Runs `work` as stage `stage` of a job: whatever it throws comes out as a MeadowrunError that
 * says so (the same error, its code and stack kept). A stage already named by an
 * inner call is kept; an error that isn't ours becomes code 'internal', its stack kept in the cause.
 */
export async function atStage<T>(stage: Stage, instanceId: string | undefined, work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (e) {
    throw withStage(e, stage, instanceId);
  }
}

export function withStage(e: unknown, stage: Stage, instanceId?: string): MeadowrunError {
  if (e instanceof MeadowrunError) {
    e.stage ??= stage;
    e.instanceId ??= instanceId;
    return e;
  }
  const cancelled = (e as Error)?.name === 'AbortError';
  return new MeadowrunError(cancelled ? 'Cancelled' : String((e as Error)?.message ?? e), cancelled ? 'cancelled' : 'internal', { stage, instanceId, cause: e });
}

/** "sync failed on local-3f2a: …": the one line the CLI prints and the editor shows. */
export function describeError(e: unknown): string {
  if (!(e instanceof MeadowrunError)) return String((e as Error)?.message ?? e);
  // Neither is a failure of the stage it happened at: the message says it all.
  if (!e.stage || e.code === 'cancelled' || e.code === 'instance-terminated') return e.message;
  const where = e.instanceId && !e.message.includes(e.instanceId) ? ` on ${e.instanceId}` : '';
  return `${e.stage} failed${where}: ${e.message}`;
}

/** The stack of an error and of what caused it: for the log, never for the one-line message. */
export function stackOf(e: unknown): string {
  const stack = (e as Error)?.stack ?? String(e);
  const cause = (e as { cause?: unknown })?.cause;
  return cause ? `${stack}\nCaused by: ${stackOf(cause)}` : stack;
}

/** What the user can do about a failure, besides reading the log. */
export type ErrorAction = 'set-resources' | 'go-to-line' | 'edit-arguments' | 'show-log';

export const ERROR_ACTION_LABELS: Record<ErrorAction, string> = {
  'set-resources': 'Set Default Resources…',
  'go-to-line': 'Go to Line',
  'edit-arguments': 'Edit Arguments',
  'show-log': 'Show Log',
};

/** The actions a failure with this code (and maybe a source location) offers, most useful first. */
export function errorActions(code: string, location?: SourceLocation): ErrorAction[] {
  const actions: ErrorAction[] = [];
  if (code === 'no-fit' || code === 'bad-resources') actions.push('set-resources');
  if (code === 'syntax-error' && location) actions.push('go-to-line');
  if (code === 'bad-arguments') actions.push('edit-arguments');
  actions.push('show-log');
  return actions;
}
