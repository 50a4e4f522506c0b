import * as vscode from 'vscode';
import { duration, minutes } from './format';
import { isActive, JobStatus, JobView, MeadowrunModel } from './model';

const ICONS: Record<JobStatus, [string, string?]> = {
  preparing: ['loading~spin'],
  launching: ['rocket', 'charts.yellow'],
  running: ['sync~spin'],
  succeeded: ['pass', 'testing.iconPassed'],
  failed: ['error', 'testing.iconFailed'],
  crashed: ['flame', 'testing.iconFailed'],
  rejected: ['warning', 'list.warningForeground'],
  error: ['warning', 'list.warningForeground'],
  cancelled: ['circle-slash'],
};


/** This window's recent jobs, newest first; only rows whose text changed are redrawn. */
export class JobsTreeProvider implements vscode.TreeDataProvider<JobView>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<JobView[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;
  private shown = new Map<JobView, string>();

  constructor(private readonly model: MeadowrunModel) {
    this.subscription = model.onDidChange(() => this.update());
  }

  private update(): void {
    const shown = new Map(this.model.jobs.map((job) => {
      const item = this.getTreeItem(job);
      return [job, JSON.stringify([item.label, item.description, item.tooltip, item.iconPath, item.contextValue, item.command?.command])] as const;
    }));
    const before = this.shown;
    this.shown = shown;
    const order = [...before.keys()];
    if (shown.size !== order.length || [...shown.keys()].some((job, i) => order[i] !== job)) return this.changed.fire(undefined);
    const changed = [...shown].filter(([job, text]) => before.get(job) !== text).map(([job]) => job);
    if (changed.length) this.changed.fire(changed);
  }

  getChildren(job?: JobView): JobView[] {
    return job ? [] : this.model.jobs;
  }

  getTreeItem(job: JobView): vscode.TreeItem {
    const item = new vscode.TreeItem(job.label);
    item.id = `job:${job.key}`;
    const [icon, color] = ICONS[job.status];
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    // The icon says the state; the row keeps to what fits a narrow sidebar.
    const took = isActive(job) ? minutes(Date.now() - job.startedAt) : duration(job.endedAt! - job.startedAt);
    item.description = [job.detail !== job.status ? job.detail : undefined, took].filter(Boolean).join(' · ');
    item.tooltip = [
      job.label,
      `${job.status}${job.detail && job.detail !== job.status ? `: ${job.detail}` : ''} · ${took}`,
      job.instanceId ? `on ${job.instanceId}` : '',
      job.id ? `job ${job.id}` : '',
    ]
      .filter(Boolean)
      .join('\n');
    item.contextValue = isActive(job) ? 'job.running' : 'job.done';
    if (job.map) item.command = { command: 'meadowrun.openMapPanel', title: 'Open Map Progress', arguments: [job] };
    else if (job.logPath) item.command = { command: 'meadowrun.openJobLog', title: 'Open Job Log', arguments: [job] };
    return item;
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
