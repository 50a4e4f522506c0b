import * as vscode from 'vscode';
import type { InstanceRecord } from '../cloud/ports';
import type { ManagementStatus } from '../core/management';
import { describeFree, describeInstance, duration, elapsed, minutes, price } from './format';
import { MeadowrunModel } from './model';
import { bytes } from '../core/format';
import type { CachedEnvironment } from '../jobs/environments';

export type InstancesNode =
  | { kind: 'management' }
  | { kind: 'managementError'; message: string }
  /** The table could not be listed: said in the view, rather than an empty view that looks like no instances. */
  | { kind: 'listError'; message: string }
  | { kind: 'instance'; record: InstanceRecord }
  | { kind: 'job'; instanceId: string; jobId: string; allocatedAt: number }
  /** An environment the instance built for jobs' libraries (as last listed: MeadowrunModel.environments). */
  | { kind: 'environment'; env: CachedEnvironment };

function keyOf(node: InstancesNode): string {
  switch (node.kind) {
    case 'management':
      return 'management';
    case 'managementError':
      return 'management-error';
    case 'listError':
      return 'list-error';
    case 'instance':
      return `instance:${node.record.id}`;
    case 'job':
      return `instance-job:${node.instanceId}:${node.jobId}`;
    case 'environment':
      return `instance-env:${node.env.instanceId}:${node.env.hash}`;
  }
}

/**
 * Instances and the jobs running on each: a thin view over the model. The model refreshes every
 * few seconds; the tree hears only of rows whose text changed, so an open tooltip stays open.
 */
export class InstancesTreeProvider implements vscode.TreeDataProvider<InstancesNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<InstancesNode[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;
  /** The node objects handed to VS Code, by key: an update must name the same objects. */
  private readonly nodes = new Map<string, InstancesNode>();
  /** What each row showed, by key, and the rows under it. */
  private shown = new Map<string, string>();

  constructor(private readonly model: MeadowrunModel) {
    this.subscription = model.onDidChange(() => this.update());
  }

  getChildren(node?: InstancesNode): InstancesNode[] {
    return this.childrenOf(node).map((fresh) => {
      const key = keyOf(fresh);
      const known = this.nodes.get(key);
      if (!known) {
        this.nodes.set(key, fresh);
        return fresh;
      }
      return Object.assign(known, fresh);
    });
  }

  private childrenOf(node?: InstancesNode): InstancesNode[] {
    if (!node) {
      if (this.model.lastError) return [{ kind: 'listError', message: this.model.lastError }];
      // Nothing to show at all: the welcome view explains what to do instead.
      if (!this.model.instances.length && !this.model.management?.installed) return [];
      return [{ kind: 'management' }, ...this.model.instances.map((record): InstancesNode => ({ kind: 'instance', record }))];
    }
    if (node.kind === 'management') {
      const error = this.model.management?.installed ? this.model.management.lastRun?.error : undefined;
      return error ? [{ kind: 'managementError', message: error }] : [];
    }
    if (node.kind === 'instance') {
      return [
        ...Object.values(node.record.jobs).map((j): InstancesNode => ({ kind: 'job', instanceId: node.record.id, jobId: j.jobId, allocatedAt: j.allocatedAt })),
        ...(this.model.environments.get(node.record.id) ?? []).map((env): InstancesNode => ({ kind: 'environment', env })),
      ];
    }
    return [];
  }

  /** Tells VS Code which rows changed: all of them when rows came or went, else just those, else nothing. */
  private update(): void {
    const shown = new Map<string, string>();
    const walk = (parent?: InstancesNode): string[] =>
      this.getChildren(parent).map((node) => {
        const key = keyOf(node);
        const item = this.getTreeItem(node);
        const tooltip = item.tooltip instanceof vscode.MarkdownString ? item.tooltip.value : item.tooltip;
        shown.set(key, JSON.stringify([item.label, item.description, tooltip, item.contextValue, item.iconPath, walk(node)]));
        return key;
      });
    const roots = JSON.stringify(walk());
    const sameRows = roots === this.shown.get('') && shown.size === this.shown.size - 1 && [...shown.keys()].every((k) => this.shown.has(k));
    shown.set('', roots);
    const before = this.shown;
    this.shown = shown;
    for (const key of this.nodes.keys()) if (!shown.has(key)) this.nodes.delete(key);
    if (!sameRows) return this.changed.fire(undefined);
    const changed = [...shown].filter(([key, text]) => key && before.get(key) !== text).map(([key]) => this.nodes.get(key)!);
    if (changed.length) this.changed.fire(changed);
  }

  getTreeItem(node: InstancesNode): vscode.TreeItem {
    if (node.kind === 'management') return managementItem(this.model.management);
    if (node.kind === 'listError') {
      const item = new vscode.TreeItem('Could not list instances');
      item.id = 'list-error';
      item.description = node.message;
      item.tooltip = `${node.message}\n\nClick to show the Meadowrun log.`;
      item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground'));
      item.contextValue = 'instances.error';
      item.command = { command: 'meadowrun.showLog', title: 'Show Log' };
      return item;
    }
    if (node.kind === 'managementError') {
      const item = new vscode.TreeItem(`Last run failed: ${node.message}`);
      item.id = 'management-error';
      item.tooltip = node.message;
      item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground'));
      item.contextValue = 'management.error';
      item.command = { command: 'meadowrun.showManagementLog', title: 'Show Log' };
      return item;
    }
    if (node.kind === 'instance') {
      const r = node.record;
      const busy = Object.keys(r.jobs).length > 0;
      const envs = this.model.environments.get(r.id)?.length ?? 0;
      const item = new vscode.TreeItem(
        r.typeName,
        busy ? vscode.TreeItemCollapsibleState.Expanded : envs ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None,
      );
      item.id = `instance:${r.id}`;
      const unreachable = this.model.unreachable.has(r.id);
      const launching = r.state === 'launching';
      const state = unreachable ? 'unreachable' : r.preventFurtherAllocation && !launching ? 'takes no new jobs' : undefined;
      item.description = [state, describeInstance(r, this.model.management)].filter(Boolean).join(' · ');
      item.iconPath = unreachable
        ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsForeground'))
        : launching
          ? new vscode.ThemeIcon('loading~spin')
          : new vscode.ThemeIcon(busy ? 'vm-running' : 'vm', busy ? new vscode.ThemeColor('charts.green') : undefined);
      item.contextValue = busy ? 'instance.busy' : 'instance.idle';
      item.tooltip = new vscode.MarkdownString(
        [
          `**${r.id}** — ${r.typeName} (${[r.spot ? 'spot' : 'on-demand', r.zone].filter(Boolean).join(', ')}), ${price(r.price)}`,
          describeFree(r),
          busy ? `Running ${Object.keys(r.jobs).length} job(s)` : `Idle for ${minutes(Date.now() - r.lastJobChangeAt)}`,
          r.ssh ? `SSH ${r.ssh.user}@${r.ssh.host}:${r.ssh.port}` : 'Launching: booting, not reachable yet',
          `Up for ${minutes(Date.now() - r.registeredAt)}`,
          unreachable ? 'Unreachable: the provider no longer reports it running' : '',
          r.preventFurtherAllocation ? 'Takes no new jobs' : '',
        ]
          .filter(Boolean)
          .join('\n\n'),
      );
      return item;
    }
    if (node.kind === 'environment') return environmentItem(node.env);
    // A job of this window is shown by its label and state; another's (a map worker, the CLI's)
    // by its id. Either can be stopped and its log opened from here.
    const job = this.model.jobById(node.jobId);
    // A job on an instance still launching has not started: it waits for the instance.
    const waiting = this.model.instances.find((r) => r.id === node.instanceId)?.state === 'launching';
    const item = new vscode.TreeItem(job?.label ?? node.jobId);
    item.id = `instance-job:${node.instanceId}:${node.jobId}`;
    item.description = `${waiting ? 'waiting for the instance' : (job?.status ?? 'running')} · ${elapsed(Date.now() - (job?.startedAt ?? node.allocatedAt))}`;
    item.tooltip = `${job?.label ?? 'A job started elsewhere'}\njob ${node.jobId} on ${node.instanceId}${waiting ? ', which is still launching' : ''}`;
    item.iconPath = new vscode.ThemeIcon(waiting ? 'watch' : 'sync~spin');
    item.contextValue = 'job.running';
    item.command = { command: 'meadowrun.openJobLog', title: 'Open Job Log', arguments: [node] };
    return item;
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

/** "3f2a9c1e  requirements.txt · 48.2 MiB · used 2h 5m ago". */
function environmentItem(env: CachedEnvironment): vscode.TreeItem {
  const item = new vscode.TreeItem(env.hash.slice(0, 8));
  item.id = `instance-env:${env.instanceId}:${env.hash}`;
  const used = Date.now() - Date.parse(env.lastUsedAt);
  item.description = [env.source, bytes(env.bytes), env.inUse ? 'in use' : `used ${duration(Math.max(0, used))} ago`].join(' · ');
  item.tooltip = `Environment ${env.hash} from ${env.source}\nBuilt ${env.builtAt}, last used ${env.lastUsedAt}\n${bytes(env.bytes)} on ${env.instanceId}${env.inUse ? '\nIn use (never pruned)' : ''}`;
  item.iconPath = new vscode.ThemeIcon('package');
  item.contextValue = 'environment';
  return item;
}

/** Whether management runs, its last and next run: what stops idle instances. */
function managementItem(status?: ManagementStatus): vscode.TreeItem {
  const failed = status?.installed && status.lastRun?.error;
  const item = new vscode.TreeItem('Management', failed ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
  item.id = failed ? 'management:failed' : 'management'; // a new id, so the tree expands it
  if (!status?.installed) {
    item.description = 'not installed: idle instances keep running';
    item.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'));
    item.contextValue = 'management.notInstalled';
    item.tooltip = 'Install the management functions to stop idle instances and keep threshold capacity running.';
    return item;
  }
  const c = status.config!;
  const last = status.lastRun;
  item.description = [
    `idle timeout ${duration(c.idleTimeoutS * 1000)}`,
    c.thresholds.length ? `${c.thresholds.length} threshold${c.thresholds.length > 1 ? 's' : ''}` : undefined,
    last ? `last run ${duration(Date.now() - last.at)} ago` : 'not run yet',
    status.nextRunAt ? `next in ${duration(Math.max(0, status.nextRunAt - Date.now()))}` : undefined,
    status.version ? `v${status.version}` : undefined,
  ]
    .filter(Boolean)
    .join(' · ');
  item.iconPath = new vscode.ThemeIcon(last?.error ? 'error' : 'shield', last?.error ? new vscode.ThemeColor('list.errorForeground') : undefined);
  item.contextValue = 'management.installed';
  const result = last?.error
    ? `Last run failed: ${last.error}`
    : last?.skipped
      ? `Last run skipped: ${last.skipped}`
      : last
        ? `Last run: stopped ${last.terminated.length}, deregistered ${last.deregistered.length}, launched ${last.launched.length}${last.unmet.length ? `; unmet: ${last.unmet.join(', ')}` : ''}`
        : 'Installed, not run yet';
  const tooltip = new vscode.MarkdownString();
  tooltip.appendText([status.detail, status.version ? `version ${status.version}` : undefined].filter(Boolean).join(' · ') + '\n\n');
  tooltip.appendText(result);
  // Where it logs in the cloud: a link to the log group in the console.
  if (status.logLink) tooltip.appendMarkdown(`\n\n[Log group ${status.logGroup ?? ''}](${status.logLink})`);
  item.tooltip = tooltip;
  return item;
}
