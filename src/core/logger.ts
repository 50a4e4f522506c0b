import { describeError, stackOf } from './errors';

/**
 * Where the engine, the clouds, the session pool and the agent say what they did and what went
 * wrong: the extension's "Meadowrun" log channel, the CLI's stderr (all of it with --verbose), the
 * agent's log file. A VS Code LogOutputChannel is one as it is.
 *
 * Levels: `debug` and `info` are for whoever reads the log; `warn` is something the user should
 * know although the work went on (a failed terminate: an instance may keep running, and costing),
 * so the CLI prints it and the editor shows it; `error` is a failure nobody else reports.
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** For callers that were given no logger (tests, a library use). */
export const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Logs that `what` failed: one line at `level`, the stack (and its causes) at debug. */
export function logFailure(log: Logger, what: string, e: unknown, level: 'warn' | 'error' = 'warn'): void {
  log[level](`${what}: ${describeError(e)}`);
  log.debug(stackOf(e));
}

/**
 * Runs a promise nobody awaits (fire and forget) so that its failure is logged rather than lost,
 * or left to kill the process as an unhandled rejection.
 */
export function background(log: Logger, what: string, work: Promise<unknown>): void {
  work.catch((e) => logFailure(log, what, e, 'error'));
}

/** A logger writing lines through `write` (stderr, a file), each with its time and level. */
export function lineLogger(write: (line: string) => void, o: { verbose: boolean; now?: () => Date }): Logger {
  const line = (level: string) => (message: string) => write(`${(o.now?.() ?? new Date()).toISOString()} ${level} ${message}\n`);
  const quiet = () => {};
  return { debug: o.verbose ? line('debug') : quiet, info: o.verbose ? line('info') : quiet, warn: line('warn'), error: line('error') };
}
