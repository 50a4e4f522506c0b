// The allocation table's contract, run on every implementation of the port.
import { FileAllocationTable } from '../../src/cloud/local/fileAllocationTable';
import { allocationTableContract } from '../contracts/allocationTableContract';
import { MemoryAllocationTable } from '../support/memoryAllocationTable';
import { tempDir } from '../support/tempDir';

allocationTableContract('file table', () => {
  const dir = tempDir('table');
  return { table: new FileAllocationTable(dir), spec: { provider: 'local', table: { dir } } };
});
allocationTableContract('memory table', () => ({ table: new MemoryAllocationTable() }));
