import * as vscode from 'vscode';
import type { InstanceRecord } from '../cloud/ports';
import type { ManagementStatus } from '../core/management';
import type { JobOutcome } from '../remote/protocol';
import type { CachedEnvironment } from '../jobs/environments';
import { Services } from './services';
import { describeError, stackOf } from '../core/errors';

export type JobStatus = 'preparing' | 'launching' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'crashed' | 'rejected' | 'error';

/** A job started from this window, as the Jobs tree shows it. */
export interface JobView {
  /** Known once the engine has allocated it. */
  id?: string;
  key: number;
  label: string;
  status: JobStatus;
  instanceId?: string;
  logPath?: string;
  startedAt: number;
  endedAt?: number;
  detail?: string;
  cancel?: () => void;
  /** For a map: opens its progress panel. */
  map?: () => unknown;
}

const REFRESH_MS = 5_000;
const MAX_JOBS = 50;
const HISTORY_KEY = 'meadowrun.jobHistory';

/** What of a job outlives a window reload. */
type SavedJob = Omit<JobView, 'cancel' | 'map'>;

/**
 * What the views show: the allocation table's instances and this window's recent jobs. Refreshed
 * on job events and on one timer, never per tree node.
 */
export class MeadowrunModel implements vscode.Disposable {
  instances: InstanceRecord[] = [];
  /** Registered instances the provider no longer reports running (e.g. their sshd died). */
  unreachable = new Set<string>();
  management?: ManagementStatus;
  /**
   * Each instance's cached environments as last listed (an SSH session per instance, so only on
   * Show Cached Environments or after a job that used one, never on the poll).
   */
  environments = new Map<string, CachedEnvironment[]>();
  jobs: JobView[] = [];
  lastError?: string;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  /** Set while a Meadowrun view is visible: nobody looking, no polling. */
  private timer?: NodeJS.Timeout;
  private nextKey = 1;
  private refreshing?: Promise<void>;
  private refreshAgain?: Promise<void>;
  /** Counts cloud changes: a listing started before one is of the old cloud, and dropped. */
  private cloudGeneration = 0;
  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly services: Services,
    private readonly history?: vscode.Memento,
  ) {
    // The last window's jobs. One still running then was stopped with that window's connections.
    this.jobs = (history?.get<SavedJob[]>(HISTORY_KEY) ?? []).map((j) =>
      isActive(j) ? { ...j, status: 'cancelled' as const, detail: 'stopped when the window closed', endedAt: j.endedAt ?? j.startedAt } : j,
    );
    this.nextKey = Math.max(0, ...this.jobs.map((j) => j.key)) + 1;
    this.subscription = services.onDidReset(() => this.cloudChanged());
  }

  /**
   * Another cloud (or region, account…): its instances replace the old one's at once, not at the
   * next poll, which may never come while the views are hidden (the status bar would go on showing
   * the old cloud's instances and price under the new cloud's name).
   */
  private cloudChanged(): void {
    this.cloudGeneration++;
    this.instances = [];
    this.unreachable = new Set();
    this.management = undefined;
    this.environments = new Map();
    this.lastError = undefined;
    this.changed.fire();
    void this.refresh();
  }

  /**
   * Polls the cloud only while one of `views` is visible (and refreshes at once when one shows):
   * a hidden sidebar costs no listing every few seconds. Job events refresh it regardless.
   */
  pollWhileVisible(views: readonly vscode.TreeView<unknown>[]): vscode.Disposable {
    const update = () => {
      const visible = views.some((v) => v.visible);
      if (visible && !this.timer) {
        void this.refresh();
        this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
      } else if (!visible && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
    const subscriptions = views.map((v) => v.onDidChangeVisibility(update));
    update();
    return vscode.Disposable.from(...subscriptions);
  }

  /** Whether the model is polling the cloud (a view is visible). */
  get polling(): boolean {
    return this.timer !== undefined;
  }

  /** Forgets the jobs that have ended. */
  clearFinished(): void {
    this.jobs = this.jobs.filter(isActive);
    this.fireChanged();
  }

  private fireChanged(): void {
    const saved: SavedJob[] = this.jobs.map(({ cancel: _c, map: _m, ...rest }) => rest);
    void this.history?.update(HISTORY_KEY, saved);
    this.changed.fire();
  }

  /**
   * Lists the cloud again. A call while a listing runs gets one that starts after it (shared by every
   * such call): the running one may have read the table before the change the caller wants shown.
   */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain ??= this.refreshing.then(() => {
        this.refreshAgain = undefined;
        return this.refresh();
      });
      return this.refreshAgain;
    }
    this.refreshing = (async () => {
      const generation = this.cloudGeneration;
      try {
        const { cloud } = await this.services.get();
        const [instances, management, running] = await Promise.all([cloud.table.listInstances(), cloud.management.status(), cloud.provider.listRunning()]);
        if (generation !== this.cloudGeneration) return;
        const alive = new Set(running.map((r) => r.id));
        [this.instances, this.management] = [instances, management];
        // A launching instance may not be listed yet (listings lag launches): it is launching, not unreachable.
        this.unreachable = new Set(instances.filter((r) => r.state === 'ready' && !alive.has(r.id)).map((r) => r.id));
        this.lastError = undefined;
      } catch (e) {
        this.services.log.error(`Could not list instances: ${describeError(e)}\n${stackOf(e)}`);
        // Shown in the Instances view as an error row that opens this log.
        if (generation === this.cloudGeneration) this.lastError = describeError(e);
      } finally {
        this.refreshing = undefined;
      }
      this.changed.fire();
    })();
    return this.refreshing;
  }

  async refreshEnvironments(): Promise<CachedEnvironment[]> {
    const { engine } = await this.services.get();
    const list = await engine.environments();
    this.environments = new Map();
    for (const e of list) this.environments.set(e.instanceId, [...(this.environments.get(e.instanceId) ?? []), e]);
    this.changed.fire();
    return list;
  }

  addJob(label: string): JobView {
    const job: JobView = { key: this.nextKey++, label, status: 'preparing', startedAt: Date.now() };
    this.jobs.unshift(job);
    this.jobs.length = Math.min(this.jobs.length, MAX_JOBS);
    this.fireChanged();
    return job;
  }

  updateJob(job: JobView, change: Partial<JobView>): void {
    Object.assign(job, change);
    this.fireChanged();
  }

  finishJob(job: JobView, status: JobStatus, detail?: string): void {
    this.updateJob(job, { status, detail, endedAt: Date.now(), cancel: undefined });
    void this.refresh();
  }

  jobById(id: string): JobView | undefined {
    return this.jobs.find((j) => j.id === id);
  }

  dispose(): void {
    clearInterval(this.timer);
    this.subscription.dispose();
    this.changed.dispose();
  }
}

const ACTIVE: JobStatus[] = ['preparing', 'launching', 'running'];

export function isActive(job: JobView): boolean {
  return ACTIVE.includes(job.status);
}

export function statusOf(outcome: JobOutcome): JobStatus {
  switch (outcome.status) {
    case 'succeeded':
      return 'succeeded';
    case 'exited':
      return outcome.exitCode === 0 ? 'succeeded' : 'failed';
    case 'unserializable':
      return 'failed';
    default:
      return outcome.status;
  }
}
