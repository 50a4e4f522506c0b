import * as vscode from 'vscode';
import { price } from './format';
import { MeadowrunModel } from './model';

/** Running instances and what they cost per hour; a click opens the explorer. */
export class InstancesStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('meadowrun.instances', vscode.StatusBarAlignment.Left, 10);
  private readonly subscription: vscode.Disposable;

  constructor(private readonly model: MeadowrunModel) {
    this.item.name = 'Meadowrun Instances';
    this.item.command = 'workbench.view.extension.meadowrun';
    this.subscription = model.onDidChange(() => this.update());
    this.update();
    this.item.show();
  }

  private update(): void {
    const n = this.model.instances.length;
    const perHour = this.model.instances.reduce((s, r) => s + r.price, 0);
    this.item.text = n ? `$(cloud) ${n} · ${price(perHour)}` : '$(cloud) 0';
    this.item.tooltip = n ? `Meadowrun: ${n} instance${n > 1 ? 's' : ''} running, ${price(perHour)}` : 'Meadowrun: no instances running';
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}
