import * as vscode from 'vscode';
import { duration } from './format';
import { JobStatus, JobView, MeadowrunModel } from './model';

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

const ACTIVE: JobStatus[] = ['preparing', 'launching', 'running'];

export function isActive(job: JobView): boolean {
  return ACTIVE.includes(job.status);
}

/** This window's recent jobs, newest first. */
export class JobsTreeProvider implements vscode.TreeDataProvider<JobView>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly model: MeadowrunModel) {
    this.subscription = model.onDidChange(() => this.changed.fire());
  }

  getChildren(job?: JobView): JobView[] {
    return job ? [] : this.model.jobs;
  }

  getTreeItem(job: JobView): vscode.TreeItem {
    const item = new vscode.TreeItem(job.label);
    item.id = `job:${job.key}`;
    const [icon, color] = ICONS[job.status];
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    const took = duration((job.endedAt ?? Date.now()) - job.startedAt);
    item.description = [job.status, job.detail, took, job.instanceId].filter(Boolean).join(' · ');
    item.tooltip = `${job.label}\n${job.status}${job.detail ? `: ${job.detail}` : ''}\n${job.id ?? ''}`;
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
