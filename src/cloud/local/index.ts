import { Cloud } from '../ports';
import { FileAllocationTable } from './fileAllocationTable';
import { FileSecretStore } from './fileSecretStore';
import { FileTaskQueues } from './fileTaskQueues';
import { LocalManagement } from './localManagement';
import { LocalProvider, LocalProviderOptions } from './localProvider';
import { defaultLocalStateDir, localLayout, prepareStateDir } from './paths';

export interface LocalCloud extends Cloud {
  provider: LocalProvider;
  table: FileAllocationTable;
  queues: FileTaskQueues;
  management: LocalManagement;
  stateDir: string;
}

/**
 * The embedded cloud: instances are sshd processes on this machine, state lives in files. Throws
 * when the state directory is one another user could tamper with.
 */
export function createLocalCloud(options: Partial<LocalProviderOptions> = {}): LocalCloud {
  const stateDir = prepareStateDir(options.stateDir ?? defaultLocalStateDir());
  const layout = localLayout(stateDir);
  const envSeconds = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
  const cloud = {
    stateDir,
    provider: new LocalProvider({
      stateDir,
      sweepIntervalS: options.sweepIntervalS ?? envSeconds('MEADOWRUN_SWEEP_INTERVAL'),
      sweepGraceS: options.sweepGraceS ?? envSeconds('MEADOWRUN_SWEEP_GRACE'),
      instanceTypes: options.instanceTypes,
    }),
    table: new FileAllocationTable(layout.tableDir),
    secrets: new FileSecretStore(layout.secretsDir),
    queues: new FileTaskQueues(layout.queuesDir),
  };
  return { ...cloud, management: new LocalManagement(cloud, stateDir) };
}
