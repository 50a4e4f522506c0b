import * as vscode from 'vscode';
import { DEFAULT_MANAGEMENT_CONFIG, ManagementConfig, validateManagementConfig } from '../core/management';
import { command, Failures } from './failures';
import { duration } from './format';
import { MeadowrunModel } from './model';
import { Services } from './services';
import { settings, updateSetting } from './settings';

/** The management configuration the settings describe; throws, saying what is wrong, when it is invalid. */
function configFromSettings(): ManagementConfig {
  const s = settings();
  return validateManagementConfig({
    ...DEFAULT_MANAGEMENT_CONFIG,
    thresholds: s.thresholds,
    idleTimeoutS: s.idleTimeoutMinutes * 60,
    intervalS: s.managementIntervalS,
    environmentMaxAgeS: s.environmentMaxAgeDays * 86400,
  });
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

export function registerManagementCommands(services: Services, model: MeadowrunModel, failures: Failures): vscode.Disposable[] {
  const install = async (): Promise<boolean> => {
    const { cloud } = await services.get();
    let config: ManagementConfig;
    try {
      config = configFromSettings();
    } catch (e) {
      // Refused when applied, with the reason, rather than failing every run after it.
      void vscode.window
        .showErrorMessage(`Meadowrun: the management settings are not valid, nothing was changed. ${(e as Error).message}`, 'Edit Thresholds and Idle Timeout')
        .then((a) => a && edit());
      return false;
    }
    const before = await cloud.management.status();
    // Each resource named as it is made (on AWS: the table item, role, function, rule, target, permission).
    const steps: string[] = [];
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Meadowrun: installing the management functions…' }, (progress) =>
      cloud.management.install(config, {
        onProgress: (line) => {
          steps.push(line);
          progress.report({ message: line });
        },
      }),
    );
    await model.refresh();
    const changed = changes(before.installed ? before.config : undefined, config);
    const made = steps.filter((l) => /^(Created|Updated)/.test(l));
    void vscode.window.showInformationMessage(
      (before.installed
        ? `Meadowrun: management functions updated (${changed.length ? changed.join('; ') : 'no change'}).`
        : `Meadowrun: management functions installed: ${describe(config)}.`) + (made.length ? ` ${made.join('; ')}.` : ''),
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
    const removed: string[] = [];
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Meadowrun: uninstalling the management functions…' }, (progress) =>
      cloud.management.uninstall({
        onProgress: (line) => {
          removed.push(line);
          progress.report({ message: line });
        },
      }),
    );
    await model.refresh();
    void vscode.window.showInformationMessage(`Meadowrun: management functions uninstalled.${removed.length ? ` ${removed.join('; ')}.` : ''}`);
    return true;
  };

  const edit = async (): Promise<void> => {
    const s = settings();
    const n = s.thresholds.length;
    const picked = await vscode.window.showQuickPick(
      [
        { label: 'Idle timeout', description: `${s.idleTimeoutMinutes} min`, detail: 'Stop an instance idle this long, unless a threshold needs it.', key: 'idle' },
        { label: 'Thresholds', description: n ? `${n} configured` : 'none', detail: 'Capacity to keep running even when idle: edited in settings.json.', key: 'thresholds' },
        { label: 'Schedule', description: `every ${s.managementIntervalS} s`, detail: 'How often the management functions run.', key: 'interval' },
      ],
      { title: 'Meadowrun: management settings' },
    );
    if (picked?.key === 'idle') {
      const value = await vscode.window.showInputBox({
        title: 'Idle timeout (minutes)',
        value: String(s.idleTimeoutMinutes),
        validateInput: (v) => (Number(v) >= 0.5 ? undefined : 'A number of minutes, at least 0.5'),
      });
      if (value !== undefined) await updateSetting('idleTimeoutMinutes', Number(value));
    } else if (picked?.key === 'interval') {
      const value = await vscode.window.showInputBox({
        title: 'Run the management functions every … seconds',
        value: String(s.managementIntervalS),
        validateInput: (v) => (Number(v) >= 1 ? undefined : 'A number of seconds, at least 1'),
      });
      if (value !== undefined) await updateSetting('management.intervalSeconds', Number(value));
    } else if (picked?.key === 'thresholds') {
      // A list of objects has no form in the Settings editor: open settings.json at the setting.
      if (!n) await updateSetting('management.thresholds', [{ name: 'warm', cpu: 1, memoryGb: 2, count: 1 }]);
      await vscode.commands.executeCommand('workbench.action.openSettingsJson', { revealSetting: { key: 'meadowrun.management.thresholds', edit: true } });
    }
  };

  // Edited settings take effect when applied: offer that as soon as they change.
  const watch = vscode.workspace.onDidChangeConfiguration(async (e) => {
    if (!e.affectsConfiguration('meadowrun.management') && !e.affectsConfiguration('meadowrun.idleTimeoutMinutes')) return;
    if (!model.management?.installed) return;
    const action = await vscode.window.showInformationMessage('Meadowrun: apply the new thresholds and idle timeout to the management functions?', 'Apply');
    if (action === 'Apply') await install();
  });

  return [
    command(failures, 'meadowrun.installManagement', install),
    command(failures, 'meadowrun.uninstallManagement', (_node?: unknown, o?: { confirmed?: boolean }) => uninstall(o)),
    command(failures, 'meadowrun.editManagement', edit),
    command(failures, 'meadowrun.showManagementLog', async () => {
      // In the cloud (AWS: the function's CloudWatch log group), opened in the browser.
      const link = model.management?.logLink;
      if (link) return void (await vscode.env.openExternal(vscode.Uri.parse(link, true)));
      const file = model.management?.logFile;
      if (!file) return void vscode.window.showInformationMessage('Meadowrun: the management functions keep no log on this machine.');
      await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
    }),
    watch,
  ];
}
