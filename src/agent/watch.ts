// The instance's watch: one process per instance, started by the provider's bootstrap at launch
// (locally by LocalProvider.launch; on a VM by a systemd unit), independent of any client and of the
// agent daemon's idle exit. Every sweep interval it frees the allocations of dead jobs, fences the
// instance once a spot interruption is announced, and runs the idle watchdog, which deregisters and
// stops an instance nobody has used for the idle timeout plus a margin. Where its config asks, it
// also removes cached environments unused for their maximum age (at most hourly).
import { AgentConfig, AllocationTable, InstanceSide } from '../cloud/ports';
import { describeError } from '../core/errors';
import { idleVerdict, IdleVerdict } from '../core/idleWatchdog';
import { pruneEnvironments } from './environments';
import { sweepOnce } from './sweep';

/** How often the environments are looked at, at most (each look sizes every environment). */
const PRUNE_INTERVAL_S = 3600;

export interface WatchOptions {
  config: AgentConfig;
  side: InstanceSide;
  table: AllocationTable;
  log(line: string): void;
  now?: () => number;
}

export class InstanceWatch {
  private readonly startedAt: number;
  private lastSaid = '';
  private prunedAt = -Infinity;

  constructor(private readonly o: WatchOptions) {
    this.startedAt = this.now();
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** One round; returns true once the instance has deregistered and stopped itself. */
  async tick(): Promise<boolean> {
    const { config, side, table } = this.o;
    try {
      const freed = await sweepOnce({
        instanceId: config.instanceId,
        workDir: config.workDir,
        table,
        graceMs: config.sweep.graceS * 1000,
        interruptionAnnounced: () => side.interruptionAnnounced(config),
      });
      if (freed.length) this.o.log(`freed ${freed.join(', ')}`);
    } catch (e) {
      this.o.log(`sweep failed: ${describeError(e)}`);
    }
    await this.pruneEnvironments();
    try {
      return await this.watchIdle();
    } catch (e) {
      // Unsure (the table out of reach): keep running; a stopped instance with a job would lose it.
      this.o.log(`idle watchdog failed: ${describeError(e)}`);
      return false;
    }
  }

  private async pruneEnvironments(): Promise<void> {
    const { config } = this.o;
    const maxAgeS = config.environments?.maxAgeS;
    if (maxAgeS === undefined || this.now() - this.prunedAt < Math.min(PRUNE_INTERVAL_S, maxAgeS) * 1000) return;
    this.prunedAt = this.now();
    try {
      const removed = await pruneEnvironments(config.workDir, maxAgeS);
      if (removed.length) this.o.log(`removed environments unused for ${maxAgeS} s: ${removed.join(', ')}`);
    } catch (e) {
      this.o.log(`pruning environments failed: ${describeError(e)}`);
    }
  }

  private async watchIdle(): Promise<boolean> {
    const { config, side, table } = this.o;
    const record = await table.getInstance(config.instanceId);
    const now = this.now();
    const verdict = idleVerdict({
      now,
      startedAt: this.startedAt,
      record: record && { jobCount: Object.keys(record.jobs).length, lastJobChangeAt: record.lastJobChangeAt, managed: record.managed },
      timeoutS: config.idle.timeoutS,
      marginS: config.idle.marginS,
    });
    this.say(verdict);
    if (verdict.kind !== 'stop') return false;
    // Conditional on the table showing no jobs: a job allocated since the read keeps the instance,
    // and once the row is gone no client can allocate here (its compare-and-swap fails).
    if (record && !(await table.deregisterInstance(config.instanceId))) {
      this.o.log('idle watchdog: got a job while stopping; kept');
      return false;
    }
    this.o.log(`idle for ${Math.round(verdict.idleForMs / 1000)} s with no management run: deregistered; stopping the instance`);
    await side.shutdown(config);
    return true;
  }

  /** Logs the watchdog's state when it changes (not every tick). */
  private say(v: IdleVerdict): void {
    const line =
      v.kind === 'managed'
        ? 'idle watchdog: management runs; postponed'
        : v.kind === 'idle'
          ? `idle watchdog: idle; stopping at ${new Date(v.stopAt).toISOString()} unless used`
          : v.kind === 'busy'
            ? 'idle watchdog: busy'
            : '';
    if (line && line !== this.lastSaid) this.o.log(line);
    this.lastSaid = line;
  }
}
