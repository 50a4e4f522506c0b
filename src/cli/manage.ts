import { Command, InvalidArgumentError } from 'commander';
import * as fs from 'fs';
import { AdjusterPlan, ManagementConfig, readThresholds, Threshold } from '../core/management';
import { Cloud } from '../cloud/ports';
import { table } from './table';

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number of seconds above 0');
  return n;
}

/** Thresholds as JSON, inline or `@file.json`: [{"cpu": 2, "memoryGb": 4, "count": 1}, …]. */
function thresholds(value: string): Threshold[] {
  const text = value.startsWith('@') ? fs.readFileSync(value.slice(1), 'utf8') : value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`not JSON: ${(e as Error).message}`);
  }
  try {
    return readThresholds(parsed);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

export function describeConfig(c: ManagementConfig): string {
  const n = c.thresholds.length;
  return `runs every ${c.intervalS} s; idle timeout ${c.idleTimeoutS} s; ${n} threshold${n === 1 ? '' : 's'}`;
}

export function planTable(plan: AdjusterPlan): string {
  const rows = plan.actions.map((a) => {
    switch (a.kind) {
      case 'launch':
        return ['launch', `${a.count} × ${a.option.type.name}${a.option.spot ? ' (spot)' : ''}`, `threshold ${a.threshold}`];
      case 'keep':
        return ['keep', a.id, a.reason === 'threshold' ? `threshold ${a.threshold}` : a.reason === 'idle-within-timeout' ? `idle ${Math.round((a.idleForMs ?? 0) / 1000)} s` : a.reason];
      default:
        return [a.kind, a.id, a.reason];
    }
  });
  const thresholdRows = plan.thresholds.map((t) => [t.name, `${t.unitsBefore}/${t.required}`, `${t.unitsAfter}/${t.required}`, t.assigned.join(' ') || '-']);
  return (
    (rows.length ? table(['ACTION', 'TARGET', 'WHY'], rows) : 'Nothing to do: no instances and no thresholds.\n') +
    (thresholdRows.length ? `\n${table(['THRESHOLD', 'NOW', 'AFTER', 'INSTANCES'], thresholdRows)}` : '')
  );
}

/** `meadowrun manage …`: the management functions of the chosen cloud. */
export function addManageCommands(program: Command, getCloud: () => Promise<Cloud>, printJson: (v: unknown) => void): void {
  const manage = program.command('manage').description('management functions: stop idle instances, keep thresholds of capacity, clean up');
  manage
    .command('install')
    .description('install (or update) the management functions; options not given keep their current values')
    .option('--idle-timeout <s>', 'stop instances idle longer than this, in seconds (default: 300)', seconds)
    .option('--interval <s>', 'run the adjuster this often, in seconds (default: 60)', seconds)
    .option('--thresholds <json>', 'thresholds as JSON (or @file.json), e.g. [{"cpu": 2, "memoryGb": 4, "count": 1}]', thresholds)
    .option('--queue-max-age <s>', 'delete map queues unused this long, in seconds (default: 3600)', seconds)
    .option('--environment-max-age <days>', "remove instances' environments unused this many days (default: 7; checked hourly)", (v: string) => seconds(v) * 86400)
    .option('--json', 'print JSON')
    .action(async (o: { idleTimeout?: number; interval?: number; thresholds?: Threshold[]; queueMaxAge?: number; environmentMaxAge?: number; json?: boolean }) => {
      const { management } = await getCloud();
      const before = await management.status();
      const config: ManagementConfig = {
        ...(await management.config()),
        ...(o.idleTimeout !== undefined && { idleTimeoutS: o.idleTimeout }),
        ...(o.interval !== undefined && { intervalS: o.interval }),
        ...(o.thresholds !== undefined && { thresholds: o.thresholds }),
        ...(o.queueMaxAge !== undefined && { queueMaxAgeS: o.queueMaxAge }),
        ...(o.environmentMaxAge !== undefined && { environmentMaxAgeS: o.environmentMaxAge }),
      };
      await management.install(config, { onProgress: o.json ? undefined : (line) => process.stdout.write(`${line}\n`) });
      if (o.json) return printJson(await management.status());
      const verb = before.installed ? 'Updated' : 'Installed';
      process.stdout.write(`${verb} the management functions (${describeConfig(config)}).\n`);
    });
  manage
    .command('uninstall')
    .description('stop the management functions (instances then stay until you stop them)')
    .action(async () => {
      const { management } = await getCloud();
      const was = (await management.status()).installed;
      await management.uninstall({ onProgress: (line) => process.stdout.write(`${line}\n`) });
      process.stdout.write(was ? 'Uninstalled the management functions.\n' : 'The management functions were not installed.\n');
    });
  manage
    .command('status')
    .description('whether the management functions are installed, and their last and next run')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const s = await (await getCloud()).management.status();
      if (o.json) return printJson(s);
      const ago = (t: number) => `${Math.round((Date.now() - t) / 1000)} s ago`;
      const lines = [
        s.installed ? `Installed (${[`version ${s.version}`, s.detail].filter(Boolean).join(', ')}): ${describeConfig(s.config!)}` : 'Not installed.',
        s.lastRun
          ? `Last run ${ago(s.lastRun.at)}: ${s.lastRun.error ?? s.lastRun.skipped ?? `terminated ${s.lastRun.terminated.length}, deregistered ${s.lastRun.deregistered.length}, launched ${s.lastRun.launched.length}${s.lastRun.unmet.length ? `; unmet: ${s.lastRun.unmet.join(', ')}` : ''}`}`
          : 'No run yet.',
        ...(s.nextRunAt ? [`Next run in ${Math.max(0, Math.round((s.nextRunAt - Date.now()) / 1000))} s`] : []),
        ...(s.logLink ? [`Logs: ${s.logGroup} — ${s.logLink}`] : []),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
  manage
    .command('run-once')
    .description('run the adjuster now')
    .option('--dry-run', 'only print the plan')
    .option('--json', 'print JSON')
    .action(async (o: { dryRun?: boolean; json?: boolean }) => {
      const run = await (await getCloud()).management.runOnce({ dryRun: o.dryRun });
      if (o.json) return printJson(run);
      if (run.result.skipped) return void process.stdout.write(`Skipped: ${run.result.skipped}\n`);
      process.stdout.write(planTable(run.plan!));
      const r = run.result;
      if (r.deletedQueues.length) process.stdout.write(`\n${o.dryRun ? 'Would delete' : 'Deleted'} the stale queues of ${r.deletedQueues.join(', ')}\n`);
      if (!o.dryRun) process.stdout.write(`\nTerminated ${r.terminated.length}, deregistered ${r.deregistered.length}, launched ${r.launched.length}.\n`);
    });
}
