import { FileAllocationTable } from '../cloud/local/fileAllocationTable';
import { FileTaskQueues } from '../cloud/local/fileTaskQueues';
import { AllocationTable, TaskQueues } from '../cloud/ports';

/** The allocation table named on the agent's command line, e.g. `local:/path/to/table`. */
export function openTable(spec: string): AllocationTable {
  const [kind, ...rest] = spec.split(':');
  if (kind === 'local') return new FileAllocationTable(rest.join(':'));
  throw new Error(`unknown allocation table "${spec}"`);
}

/** The task queues named on the agent's command line, e.g. `local:/path/to/queues`. */
export function openQueues(spec: string): TaskQueues {
  const [kind, ...rest] = spec.split(':');
  if (kind === 'local') return new FileTaskQueues(rest.join(':'));
  throw new Error(`unknown task queues "${spec}"`);
}
