import * as vscode from 'vscode';
import { selfStopAfter } from '../core/idleWatchdog';
import { DEFAULT_MANAGEMENT_CONFIG, ManagementStatus } from '../core/management';

/**
 * Says once per session, when a job or map has launched an instance and no management functions
 * are installed, that only the instance's idle watchdog will stop it — with the action that installs
 * them. Once: every launch would be nagging.
 */
export class LaunchNotice {
  /** The messages shown (one at most; kept for tests). */
  readonly shown: string[] = [];
  private checking = false;

  constructor(private readonly management: () => Promise<ManagementStatus>) {}

  async launched(instanceId: string): Promise<void> {
    if (this.shown.length || this.checking) return;
    this.checking = true;
    let idleTimeoutS = DEFAULT_MANAGEMENT_CONFIG.idleTimeoutS;
    try {
      const status = await this.management();
      if (status.installed) return;
      idleTimeoutS = status.config?.idleTimeoutS ?? idleTimeoutS;
    } catch {
      return; // not knowing is no reason to interrupt the user
    } finally {
      this.checking = false;
    }
    const message =
      `Meadowrun launched an instance (${instanceId}). With no management functions installed, it stops itself once ` +
      `idle for ${selfStopAfter(idleTimeoutS)}; install them to stop idle instances sooner or keep capacity warm.`;
    this.shown.push(message);
    const action = await vscode.window.showWarningMessage(message, 'Install Management Functions');
    if (action) await vscode.commands.executeCommand('meadowrun.installManagement');
  }
}
