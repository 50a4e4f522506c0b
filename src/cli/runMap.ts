import { Command, InvalidArgumentError, Option } from 'commander';
import * as fs from 'fs';
import { emptyMapState, etaSeconds, reduceMap, resultFigures, summarizeMap } from '../core/mapProgress';
import { Engine } from '../jobs/engine';
import { MapArguments, MapTaskResult, parseMapArguments } from '../jobs/runMap';
import { absoluteTarget } from '../jobs/target';
import { cancellableBySigint, deploymentFrom, describeEvent, resourcesFrom, RunFlags, warnUnmanagedLaunch } from './run';

interface MapFlags extends RunFlags {
  args?: string;
  argsFile?: string;
  workers: number;
  maxAttempts: number;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

/** `--args` as a JSON list (values known here) or a Python expression (evaluated on the instance). */
export function mapArguments(flags: { args?: string; argsFile?: string }): MapArguments {
  if (flags.argsFile) {
    const text = fs.readFileSync(flags.argsFile, 'utf8');
    if (flags.argsFile.endsWith('.jsonl')) {
      return { kind: 'values', values: text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)) };
    }
    const values = JSON.parse(text);
    if (!Array.isArray(values)) throw new InvalidArgumentError(`${flags.argsFile} must hold a JSON list`);
    return { kind: 'values', values };
  }
  if (!flags.args) throw new InvalidArgumentError('give the arguments: --args EXPRESSION or --args-file FILE');
  return parseMapArguments(flags.args);
}

function display(r: MapTaskResult | undefined): string {
  if (!r) return 'null';
  if (!r.ok) return `ERROR ${r.error.type}: ${r.error.message}`;
  return r.value.json ?? r.value.repr ?? '<unserialisable>';
}

export function addRunMapCommand(
  program: Command,
  engine: () => Promise<Engine>,
  management: () => Promise<{ installed: boolean }>,
  options: (cmd: Command) => Command,
  printJson: (v: unknown) => void,
): void {
  options(
    program
      .command('run-map')
      .description('call a function on every argument, on several workers; prints the results in order')
      .argument('<target>', 'FILE.py:FUNCTION or package.module:FUNCTION')
      .option('--args <expr>', 'the arguments: a Python expression evaluated on the instance (e.g. "range(1000)") or a JSON list')
      .option('--args-file <file>', 'the arguments from a JSON list (.json) or one JSON value per line (.jsonl)')
      .addOption(new Option('--workers <n>', 'how many workers').default(4).argParser(positiveInteger))
      .addOption(new Option('--max-attempts <n>', 'attempts per task before it counts as failed').default(3).argParser(positiveInteger)),
  ).action(async (target: string, flags: MapFlags) => {
    const args = mapArguments(flags);
    const state = emptyMapState();
    const bar = process.stderr.isTTY && !flags.json;
    let drawn = 0;
    const draw = (force = false) => {
      if (!bar || (!force && Date.now() - drawn < 100)) return;
      drawn = Date.now();
      const c = state.counts;
      const finished = c.done + c.failed;
      const width = 30;
      const filled = state.taskCount ? Math.round((finished / state.taskCount) * width) : 0;
      const elapsed = (Date.now() - state.startedAt) / 1000;
      const eta = etaSeconds(state, Date.now());
      const workers = Object.values(state.workers).filter((w) => w.state === 'running').length;
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${finished}/${state.taskCount} · ${c.failed} failed · ${c.retried} retried · ` +
          `${workers} workers · ${elapsed > 0 ? Math.round(finished / elapsed) : 0} tasks/s${eta !== undefined ? ` · ETA ${Math.ceil(eta)}s` : ''}   `,
      );
    };
    const e = await engine();
    const began = Date.now();
    const unmanaged = warnUnmanagedLaunch(management);
    const result = await cancellableBySigint((signal) =>
      e.runMap(absoluteTarget(target), args, {
        resources: resourcesFrom(flags),
        projectDir: flags.project,
        interpreter: flags.interpreter,
        ...deploymentFrom(flags),
        workers: flags.workers,
        maxAttempts: flags.maxAttempts,
        signal,
        onEvent: (e) => {
          const line = describeEvent(e);
          if (line && !flags.json) process.stderr.write(`${line}\n`);
          unmanaged.onEvent(e);
        },
        onMapEvent: (e) => {
          reduceMap(state, e);
          draw(e.kind === 'finished');
        },
      }),
      () => e.abandonMaps(),
    );
    await unmanaged.done();
    if (bar) process.stderr.write('\n');
    const seconds = (Date.now() - began) / 1000;
    const failures = result.results.flatMap((r, task) => (r && !r.ok ? [{ task, attempts: r.attempts, ...r.error }] : []));
    if (flags.json) {
      printJson({
        jobId: result.jobId,
        status: result.status,
        seconds,
        results: result.results.map((r) => (r?.ok ? (r.value.json !== undefined ? JSON.parse(r.value.json) : r.value.repr ?? null) : null)),
        failures,
      });
    } else {
      process.stdout.write(result.results.map(display).join('\n') + (result.results.length ? '\n' : ''));
      for (const f of failures.slice(0, 3)) process.stderr.write(`Task ${f.task} failed after ${f.attempts} attempts:\n${f.traceback || `${f.type}: ${f.message}\n`}`);
      process.stderr.write(`${summarizeMap(resultFigures(result)).text} (${seconds.toFixed(2)} s)\n`);
    }
    process.exitCode = result.status === 'succeeded' ? 0 : result.status === 'cancelled' ? 130 : 1;
  });
}
