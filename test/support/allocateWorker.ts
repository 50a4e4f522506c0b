// A separate process racing others for the same table: places up to N one-CPU jobs, prints how many it got.
import { FileAllocationTable } from '../../src/cloud/local/fileAllocationTable';
import { freeCapacity } from '../../src/cloud/ports';

async function main() {
  const [dir, name, count] = process.argv.slice(2);
  const table = new FileAllocationTable(dir);
  let placed = 0;
  for (let i = 0; i < Number(count); i++) {
    for (;;) {
      const candidates = (await table.listInstances()).filter((r) => freeCapacity(r).cpu >= 1);
      if (candidates.length === 0) break;
      const r = candidates[i % candidates.length];
      if (await table.allocateJobs(r.id, r.etag, [{ jobId: `${name}-${i}`, cpu: 1, memoryGb: 1, gpus: 0, allocatedAt: Date.now() }])) {
        placed++;
        break;
      }
    }
  }
  process.stdout.write(`${placed}\n`);
}
void main();
