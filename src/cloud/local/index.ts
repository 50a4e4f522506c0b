import * as path from 'path';
import { Cloud } from '../ports';
import { FileAllocationTable } from './fileAllocationTable';
import { FilePayloadStore } from './filePayloadStore';
import { FileSecretStore } from './fileSecretStore';
import { FileTaskQueues } from './fileTaskQueues';
import { LocalManagement } from './localManagement';
import { LocalProvider, LocalProviderOptions } from './localProvider';
import { defaultLocalStateDir, localLayout, prepareStateDir } from './paths';

/**
 * The embedded cloud: instances are sshd processes on this machine, state lives in files. Throws
 * when the state directory is one another user could tamper with.
 */
export class LocalCloud implements Cloud {
  readonly stateDir: string;
  readonly clientDir: string;
  readonly provider: LocalProvider;
  readonly table: FileAllocationTable;
  readonly secrets: FileSecretStore;
  readonly queues: FileTaskQueues;
  readonly payloads: FilePayloadStore;
  readonly management: LocalManagement;
  readonly location: string;

  constructor(options: Partial<LocalProviderOptions> = {}) {
    this.stateDir = prepareStateDir(options.stateDir ?? defaultLocalStateDir());
    this.location = `state in ${this.stateDir}`;
    this.clientDir = path.join(this.stateDir, 'clients');
    const layout = localLayout(this.stateDir);
    const envSeconds = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
    this.provider = new LocalProvider({
      stateDir: this.stateDir,
      sweepIntervalS: options.sweepIntervalS ?? envSeconds('MEADOWRUN_SWEEP_INTERVAL'),
      sweepGraceS: options.sweepGraceS ?? envSeconds('MEADOWRUN_SWEEP_GRACE'),
      instanceTypes: options.instanceTypes,
      // The management config's idle timeout (its default when never installed) for new instances' watchdogs.
      idleTimeoutS: options.idleTimeoutS ?? (async () => (await this.management.config()).idleTimeoutS),
      idleMarginS: options.idleMarginS,
      log: options.log,
    });
    this.table = new FileAllocationTable(layout.tableDir);
    this.secrets = new FileSecretStore(layout.secretsDir);
    this.queues = new FileTaskQueues(layout.queuesDir);
    this.payloads = new FilePayloadStore(layout.payloadsDir);
    // The management functions adjust this very cloud.
    this.management = new LocalManagement(this, this.stateDir);
  }
}

export function createLocalCloud(options: Partial<LocalProviderOptions> = {}): LocalCloud {
  return new LocalCloud(options);
}
