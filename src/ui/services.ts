import * as vscode from 'vscode';
import type { Cloud } from '../cloud/ports';
import type { Engine } from '../jobs/engine';
import { LaunchNotice } from './launchNotice';
import { awsSettings, azureSettings, settings } from './settings';
import type { Logger } from '../core/logger';

const SHOW_LOG = 'Show Log';

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
  private readonly resets = new vscode.EventEmitter<void>();
  /** The settings the cloud is built from changed: what was listed from the old one no longer holds. */
  readonly onDidReset = this.resets.event;
  /** Told of every instance a job launches; warns once if nothing will stop it when idle. */
  readonly launchNotice = new LaunchNotice(async () => (await this.get()).cloud.management.status());

  /**
   * What the engine and the cloud log goes to the channel; a warning (an instance that would not
   * terminate, say: it may keep costing) is also shown, with the way to the log.
   */
  readonly engineLog: Logger;

  constructor(readonly log: vscode.LogOutputChannel) {
    this.engineLog = {
      debug: (m) => log.debug(m),
      info: (m) => log.info(m),
      error: (m) => log.error(m),
      warn: (m) => {
        log.warn(m);
        void vscode.window.showWarningMessage(`Meadowrun: ${m}`, SHOW_LOG).then((picked) => picked === SHOW_LOG && log.show());
      },
    };
    this.subscription = vscode.workspace.onDidChangeConfiguration((e) => {
      if (['cloud', 'local', 'aws', 'azure'].some((s) => e.affectsConfiguration(`meadowrun.${s}`))) this.reset();
    });
  }

  get(): Promise<Backend> {
    this.backend ??= this.build();
    return this.backend;
  }

  private async build(): Promise<Backend> {
    const s = settings();
    const [{ createCloud }, { Engine }] = await Promise.all([import('../cloud/registry'), import('../jobs/engine')]);
    const cloud = await createCloud(s.cloud, {
      local: { stateDir: s.localStateDirectory, instanceTypes: s.localInstanceTypes },
      aws: awsSettings(s),
      azure: azureSettings(s),
      log: this.engineLog,
    });
    this.log.info(`Using the ${s.cloud} cloud (${cloud.location})`);
    return { cloud, engine: new Engine(cloud, { log: this.engineLog }) };
  }

  /**
   * The next job uses a backend built from the new settings. The old one is not disposed: jobs
   * may still be running on its connections, which close by themselves once idle.
   */
  reset(): void {
    this.backend = undefined;
    this.resets.fire();
  }

  dispose(): void {
    // A backend that failed to build was reported to the command that asked for it.
    this.backend?.then((b) => b.engine.dispose(), (e) => this.log.debug(`No engine to dispose: ${(e as Error)?.message ?? e}`));
    this.subscription.dispose();
    this.resets.dispose();
  }
}
