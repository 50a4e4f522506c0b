// The instance's watch: one process per instance, started by the provider's bootstrap at launch
// (locally by LocalProvider.launch; on a VM by a systemd unit), independent of any client and of the
// agent daemon's idle exit. Every sweep interval it frees the allocations of dead jobs, fences the
// instance once a spot interruption is announced, and runs the idle watchdog, which deregisters and
// stops an instance nobody has used for the idle timeout plus a margin.
import { AgentConfig, AllocationTable, InstanceSide } from '../cloud/ports';
import { idleVerdict, IdleVerdict } from '../core/idleWatchdog';
import { sweepOnce } from './sweep';

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
      this.o.log(`sweep failed: ${(e as Error).message}`);
    }
    try {
      return await this.watchIdle();
    } catch (e) {
      // Unsure (the table out of reach): keep running; a stopped instance with a job would lose it.
      this.o.log(`idle watchdog failed: ${(e as Error).message}`);
      return false;
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
