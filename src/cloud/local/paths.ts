import * as os from 'os';
import * as path from 'path';

/** Where the local cloud keeps everything: keys, the allocation table, instances, queues. */
export function defaultLocalStateDir(): string {
  return process.env.MEADOWRUN_LOCAL_DIR || path.join(os.homedir(), '.meadowrun', 'local');
}

export function localLayout(stateDir: string) {
  return {
    stateDir,
    tableDir: path.join(stateDir, 'table'),
    instancesDir: path.join(stateDir, 'instances'),
    secretsDir: path.join(stateDir, 'secrets'),
    queuesDir: path.join(stateDir, 'queues'),
    instanceTypesFile: path.join(stateDir, 'instance-types.json'),
  };
}
