import * as vscode from 'vscode';
import type { Cloud } from '../cloud/ports';
import type { Engine } from '../jobs/engine';
import { LaunchNotice } from './launchNotice';
import { settings } from './settings';

export interface Backend {
  cloud: Cloud;
  engine: Engine;
}

/**
 * The engine and the cloud it runs on, built on first use (so activation loads none of it) and
 * rebuilt when a setting they depend on changes.
 */
export class Services implements vscode.Disposable {
  private backend?: Promise<Backend>;
  private readonly subscription: vscode.Disposable;
  /** Told of every instance a job launches; warns once if nothing will stop it when idle. */
  readonly launchNotice = new LaunchNotice(async () => (await this.get()).cloud.management.status());

  constructor(readonly log: vscode.LogOutputChannel) {
    this.subscription = vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('meadowrun.cloud') || e.affectsConfiguration('meadowrun.local')) this.reset();
    });
  }

  get(): Promise<Backend> {
    this.backend ??= this.build();
    return this.backend;
  }

  private async build(): Promise<Backend> {
    const s = settings();
    const [{ createCloud }, { Engine }] = await Promise.all([import('../cloud/registry'), import('../jobs/engine')]);
    const cloud = await createCloud(s.cloud, { local: { stateDir: s.localStateDirectory, instanceTypes: s.localInstanceTypes } });
    this.log.info(`Using the ${s.cloud} cloud (${cloud.location})`);
    return { cloud, engine: new Engine(cloud) };
  }

  /**
   * The next job uses a backend built from the new settings. The old one is not disposed: jobs
   * may still be running on its connections, which close by themselves once idle.
   */
  private reset(): void {
    this.backend = undefined;
  }

  dispose(): void {
    this.backend?.then((b) => b.engine.dispose(), () => undefined);
    this.subscription.dispose();
  }
}
