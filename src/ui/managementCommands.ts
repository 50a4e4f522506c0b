import * as vscode from 'vscode';
import { DEFAULT_MANAGEMENT_CONFIG, ManagementConfig } from '../management/config';
import { duration } from './format';
import { MeadowrunModel } from './model';
import { Services } from './services';
import { settings } from './settings';

/** The management configuration the settings describe. */
function configFromSettings(): ManagementConfig {
  const s = settings();
  return { ...DEFAULT_MANAGEMENT_CONFIG, thresholds: s.thresholds, idleTimeoutS: s.idleTimeoutMinutes * 60, intervalS: s.managementIntervalS };
}

function describe(c: ManagementConfig): string {
  const n = c.thresholds.length;
  return `runs every ${duration(c.intervalS * 1000)}, idle timeout ${duration(c.idleTimeoutS * 1000)}, ${n} threshold${n === 1 ? '' : 's'}`;
}

/** What an update changes, in words: "idle timeout 5m 0s → 10m 0s; thresholds 0 → 1". */
function changes(before: ManagementConfig | undefined, after: ManagementConfig): string[] {
  if (!before) return [];
  const out: string[] = [];
  if (before.idleTimeoutS !== after.idleTimeoutS) out.push(`idle timeout ${duration(before.idleTimeoutS * 1000)} → ${duration(after.idleTimeoutS * 1000)}`);
  if (before.intervalS !== after.intervalS) out.push(`schedule ${duration(before.intervalS * 1000)} → ${duration(after.intervalS * 1000)}`);
  if (JSON.stringify(before.thresholds) !== JSON.stringify(after.thresholds)) out.push(`thresholds ${before.thresholds.length} → ${after.thresholds.length}`);
  return out;
}

export function registerManagementCommands(services: Services, model: MeadowrunModel): vscode.Disposable[] {
  const install = async (): Promise<boolean> => {
    const { cloud } = await services.get();
    const config = configFromSettings();
    const before = await cloud.management.status();
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Meadowrun: installing the management functions…' }, () =>
      cloud.management.install(config),
    );
    await model.refresh();
    const changed = changes(before.installed ? before.config : undefined, config);
    void vscode.window.showInformationMessage(
      before.installed
        ? `Meadowrun: management functions updated (${changed.length ? changed.join('; ') : 'no change'}).`
        : `Meadowrun: management functions installed: ${describe(config)}.`,
    );
    return true;
  };

  const uninstall = async (o: { confirmed?: boolean } = {}): Promise<boolean> => {
    const { cloud } = await services.get();
    const answer =
      o.confirmed ||
      (await vscode.window.showWarningMessage(
        'Uninstall the management functions?',
        { modal: true, detail: 'Idle instances will then keep running (and costing) until you stop them.' },
        'Uninstall',
      )) === 'Uninstall';
    if (!answer) return false;
    await cloud.management.uninstall();
    await model.refresh();
    void vscode.window.showInformationMessage('Meadowrun: management functions uninstalled.');
    return true;
  };

  const edit = async (): Promise<void> => {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'meadowrun.management meadowrun.idleTimeoutMinutes');
  };

  // Edited settings take effect when applied: offer that as soon as they change.
  const watch = vscode.workspace.onDidChangeConfiguration(async (e) => {
    if (!e.affectsConfiguration('meadowrun.management') && !e.affectsConfiguration('meadowrun.idleTimeoutMinutes')) return;
    if (!model.management?.installed) return;
    const action = await vscode.window.showInformationMessage('Meadowrun: apply the new thresholds and idle timeout to the management functions?', 'Apply');
    if (action === 'Apply') await install();
  });

  return [
    vscode.commands.registerCommand('meadowrun.installManagement', install),
    vscode.commands.registerCommand('meadowrun.uninstallManagement', (_node?: unknown, o?: { confirmed?: boolean }) => uninstall(o)),
    vscode.commands.registerCommand('meadowrun.editManagement', edit),
    watch,
  ];
}
