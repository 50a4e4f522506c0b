import * as vscode from 'vscode';
import type { ManagementStatus } from '../core/management';

/**
 * Says once per session, when a job or map has launched an instance and no management functions
 * are installed, that nothing will stop that instance once it is idle — with the one action that
 * fixes it. Once: every launch would be nagging; never would be a silent bill.
 */
export class LaunchNotice {
  /** The messages shown (one at most; kept for tests). */
  readonly shown: string[] = [];
  private checking = false;

  constructor(private readonly management: () => Promise<ManagementStatus>) {}

  async launched(instanceId: string): Promise<void> {
    if (this.shown.length || this.checking) return;
    this.checking = true;
    try {
      if ((await this.management()).installed) return;
    } catch {
      return; // not knowing is no reason to interrupt the user
    } finally {
      this.checking = false;
    }
    const message =
      `Meadowrun launched an instance (${instanceId}). With no management functions installed, nothing stops it ` +
      'when it goes idle: it keeps running, and costing, until you terminate it.';
    this.shown.push(message);
    const action = await vscode.window.showWarningMessage(message, 'Install Management Functions');
    if (action) await vscode.commands.executeCommand('meadowrun.installManagement');
  }
}
