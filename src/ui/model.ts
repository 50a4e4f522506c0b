import * as vscode from 'vscode';
import type { InstanceRecord } from '../cloud/ports';
import type { ManagementStatus } from '../management/config';
import type { JobOutcome } from '../remote/protocol';
import { Services } from './services';

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

/**
 * What the views show: the allocation table's instances and this window's recent jobs. Refreshed
 * on job events and on one timer, never per tree node.
 */
export class MeadowrunModel implements vscode.Disposable {
  instances: InstanceRecord[] = [];
  management?: ManagementStatus;
  jobs: JobView[] = [];
  lastError?: string;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly timer: NodeJS.Timeout;
  private nextKey = 1;
  private refreshing?: Promise<void>;

  constructor(private readonly services: Services) {
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
  }

  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const { cloud } = await this.services.get();
        [this.instances, this.management] = await Promise.all([cloud.table.listInstances(), cloud.management.status()]);
        this.lastError = undefined;
      } catch (e) {
        this.lastError = (e as Error).message;
        this.services.log.warn(`Could not list instances: ${this.lastError}`);
      } finally {
        this.refreshing = undefined;
      }
      this.changed.fire();
    })();
    return this.refreshing;
  }

  addJob(label: string): JobView {
    const job: JobView = { key: this.nextKey++, label, status: 'preparing', startedAt: Date.now() };
    this.jobs.unshift(job);
    this.jobs.length = Math.min(this.jobs.length, MAX_JOBS);
    this.changed.fire();
    return job;
  }

  updateJob(job: JobView, change: Partial<JobView>): void {
    Object.assign(job, change);
    this.changed.fire();
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
    this.changed.dispose();
  }
}

export function statusOf(outcome: JobOutcome): JobStatus {
  switch (outcome.status) {
    case 'succeeded':
      return 'succeeded';
    case 'exited':
      return outcome.exitCode === 0 ? 'succeeded' : 'failed';
    default:
      return outcome.status;
  }
}
