import { FileAllocationTable } from '../cloud/local/fileAllocationTable';
import { AllocationTable } from '../cloud/ports';

/** The allocation table named on the agent's command line, e.g. `local:/path/to/table`. */
export function openTable(spec: string): AllocationTable {
  const [kind, ...rest] = spec.split(':');
  if (kind === 'local') return new FileAllocationTable(rest.join(':'));
  throw new Error(`unknown allocation table "${spec}"`);
}
