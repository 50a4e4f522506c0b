/** Where in a job's life something failed, in the order a job goes through them. */
/**
 * 'code': the job's code fetched on the instance from a git repository (`--git`), in place of 'sync'.
 * 'environment': the job's libraries being installed on the instance (after its code is synced,
 * before its process starts); a stage of its own because its failure is the user's requirements,
 * not the instance or the agent.
 */
export type Stage = 'check' | 'allocate' | 'launch' | 'sync' | 'code' | 'environment' | 'start' | 'run' | 'result';

/** A place in a local file an error is about (a syntax error's line). */
export interface SourceLocation {
  file: string;
  /** 1-based. */
  line: number;
}

/**
 * What failed, as one word the UI and the CLI can act on (see errorActions). Every code the
 * project uses is here: the engine's, the agent's (a rejected job's code comes from the instance),
 * the preflight's.
 */
export type ErrorCode =
  /** Something went wrong that has no better name; the message says what. */
  | 'error'
  /** Not ours: a bug, reported with its stack. */
  | 'internal'
  /** The user (Ctrl-C, the Cancel button) or a closing reader stopped it. Not a failure. */
  | 'cancelled'
  // The user's input.
  | 'bad-arguments'
  | 'bad-target'
  | 'bad-resources'
  | 'bad-workers'
  | 'bad-log-cap'
  | 'bad-config'
  | 'syntax-error'
  /** A deployment that can't be read: an unknown kind, a missing or malformed lock or requirements file. */
  | 'bad-deployment'
  /** A `--git` source that is not one, or a repository the instance could not fetch or check out. */
  | 'bad-git'
  | 'git'
  /** A secret's name or value is not one a store takes, or a secret a job names is missing or malformed. */
  | 'bad-secret'
  | 'not-found'
  | 'unknown-cloud'
  // Where jobs go.
  | 'no-fit'
  | 'no-room'
  | 'busy'
  // This machine.
  | 'sshd-missing'
  | 'state-dir'
  | 'agent-missing'
  /** The cloud's credentials are missing, expired or refused (or its region is not set). */
  | 'cloud-credentials'
  // The instance and the way to it.
  | 'launch'
  /** The cloud has no capacity for the type in any zone tried. */
  | 'no-capacity'
  /** An account quota (vCPUs, spot requests) stops the launch: the message names it. */
  | 'quota'
  | 'unreachable'
  | 'host-key'
  | 'agent-lost'
  /** Its instance was terminated under it (by the user, the adjuster): stopped, not lost. */
  | 'instance-terminated'
  /** The agent refused or failed one request (the others on the channel go on). */
  | 'agent-error'
  /** The agent did not answer a request in time. */
  | 'timeout'
  /** The other end sent something that is not the protocol: the channel is closed. */
  | 'protocol'
  | 'sync'
  | 'result-lost'
  | 'interpreter'
  /** Building the job's environment on the instance failed (pip could not install the requirements). */
  | 'environment'
  | 'no-queues'
  | 'map-worker'
  // A map's queues and payloads.
  /** More or bigger messages than the queue takes at once (TaskQueues.limits). */
  | 'queue-limit'
  /** The queue (or its pair) was deleted: its map ended or was cleaned up. */
  | 'queue-gone'
  /** A payload a message refers to is gone, for the same reasons. */
  | 'payload-gone'
  /** A queue message or payload key that no Meadowrun wrote. */
  | 'bad-message';

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

  constructor(message: string, readonly code: ErrorCode = 'error', details: ErrorDetails = {}) {
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
  if (isCancellation(e)) return cancellation({ stage, instanceId, cause: e });
  return new MeadowrunError(String((e as Error)?.message ?? e), 'internal', { stage, instanceId, cause: e });
}

/**
 * Whether `e` means the work was cancelled rather than failed: ours, or a platform AbortError
 * (an aborted signal, fetch, stream) on its way to becoming ours at the boundary.
 */
export function isCancellation(e: unknown): boolean {
  return e instanceof MeadowrunError ? e.code === 'cancelled' : (e as Error)?.name === 'AbortError';
}

/** The one error cancellation comes out as, wherever it started. */
export function cancellation(details: ErrorDetails = {}): MeadowrunError {
  return new MeadowrunError('Cancelled', 'cancelled', details);
}

/** Throws our cancellation (never a bare AbortError) once `signal` is aborted. */
export function throwIfCancelled(signal?: AbortSignal): void {
  if (signal?.aborted) throw cancellation();
}

/**
 * `e` as it may leave the engine: a platform AbortError becomes our cancellation (its cause kept);
 * anything else is unchanged.
 */
export function ownCancellation(e: unknown): unknown {
  return isCancellation(e) && !(e instanceof MeadowrunError) ? cancellation({ cause: e }) : e;
}

/** "sync failed on local-3f2a: …": the one line the CLI prints and the editor shows. */
export function describeError(e: unknown): string {
  if (!(e instanceof MeadowrunError)) return restErrorLine(e) ?? String((e as Error)?.message ?? e);
  // Neither is a failure of the stage it happened at: the message says it all.
  if (!e.stage || e.code === 'cancelled' || e.code === 'instance-terminated') return e.message;
  const where = e.instanceId && !e.message.includes(e.instanceId) ? ` on ${e.instanceId}` : '';
  return `${e.stage} failed${where}: ${e.message}`;
}

/**
 * An Azure SDK RestError as one line, "HTTP 403 AuthenticationFailed: <why>": the storage services
 * put their error document (XML, or JSON for Tables) in the message, with the request id and time
 * on further lines; the reason is the authentication detail when there is one, else the message's
 * first line. Undefined for any other error.
 */
export function restErrorLine(e: unknown): string | undefined {
  const r = e as { name?: unknown; statusCode?: unknown; code?: unknown; message?: unknown } | undefined;
  if (r?.name !== 'RestError' || typeof r.statusCode !== 'number') return undefined;
  const raw = String(r.message ?? '');
  let code = typeof r.code === 'string' ? r.code : undefined;
  let why = raw;
  const tag = (name: string) => new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(raw)?.[1];
  if (raw.trimStart().startsWith('<')) {
    code = tag('Code') ?? code;
    why = tag('AuthenticationErrorDetail') ?? tag('Message') ?? '';
  } else if (raw.trimStart().startsWith('{')) {
    try {
      const body = JSON.parse(raw) as { 'odata.error'?: { code?: string; message?: { value?: string } }; error?: { code?: string; message?: string } };
      code = body['odata.error']?.code ?? body.error?.code ?? code;
      why = body['odata.error']?.message?.value ?? body.error?.message ?? raw;
    } catch {
      // Not JSON after all: its first line.
    }
  }
  const line = why.split('\n')[0].trim();
  return `HTTP ${r.statusCode}${code ? ` ${code}` : ''}${line ? `: ${line}` : ''}`;
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
export function errorActions(code: ErrorCode, location?: SourceLocation): ErrorAction[] {
  const actions: ErrorAction[] = [];
  if (code === 'no-fit' || code === 'bad-resources') actions.push('set-resources');
  if (code === 'syntax-error' && location) actions.push('go-to-line');
  if (code === 'bad-arguments') actions.push('edit-arguments');
  actions.push('show-log');
  return actions;
}
