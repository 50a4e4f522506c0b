import * as vscode from 'vscode';
import { whereJobsRun } from './awsCommands';
import { price } from './format';
import { MeadowrunModel } from './model';

/** Where jobs run ("aws · eu-west-1"), the instances running and what they cost per hour; a click opens the explorer. */
export class InstancesStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('meadowrun.instances', vscode.StatusBarAlignment.Left, 10);
  private readonly subscriptions: vscode.Disposable[];
  private where = whereJobsRun();

  constructor(private readonly model: MeadowrunModel) {
    this.item.name = 'Meadowrun Instances';
    this.item.command = 'workbench.view.extension.meadowrun';
    // Where jobs run is read (AWS config files included) when the settings change, not at every refresh.
    this.subscriptions = [
      model.onDidChange(() => this.update()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration('meadowrun')) return;
        this.where = whereJobsRun();
        this.update();
      }),
    ];
    this.update();
    this.item.show();
  }

  /** What the item shows (for tests). */
  get text(): string {
    return this.item.text;
  }

  get tooltip(): string {
    return String(this.item.tooltip ?? '');
  }

  private update(): void {
    const n = this.model.instances.length;
    const perHour = this.model.instances.reduce((s, r) => s + r.price, 0);
    const where = this.where;
    const place = where.cloud === 'aws' ? `aws · ${where.region ?? 'no region'}` : where.cloud === 'azure' ? `azure · ${where.region ?? 'no location'}` : where.cloud;
    this.item.text = `$(cloud) ${place}${n ? ` · ${n} · ${price(perHour)}` : ''}`;
    const cloud =
      where.cloud === 'aws'
        ? `Meadowrun: jobs run on AWS ${where.region ?? '(no region set: Meadowrun: Select Cloud)'}${where.profile ? ` with the profile ${where.profile}` : ''}`
        : where.cloud === 'azure'
          ? `Meadowrun: jobs run on Azure ${where.region ?? '(no location set: Meadowrun: Select Cloud)'}, resource group ${where.resourceGroup}`
          : `Meadowrun: jobs run on the ${where.cloud} cloud`;
    const running = n ? `${n} instance${n > 1 ? 's' : ''} running, ${price(perHour)}` : 'no instances running';
    this.item.tooltip = `${cloud}; ${running}. Change it with Meadowrun: Select Cloud.`;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.item.dispose();
  }
}
