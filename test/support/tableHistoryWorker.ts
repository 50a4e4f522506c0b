// A separate client process for the randomized history check: opens the table named like the
// agent's `--table` (e.g. local:/path), runs one client's history and prints it as JSON.
import { openTable } from '../../src/agent/openTable';
import { runHistoryWorker } from './tableHistory';

async function main() {
  const [spec, worker, seed, allocations] = process.argv.slice(2);
  const history = await runHistoryWorker(openTable(spec), worker, Number(seed), Number(allocations));
  process.stdout.write(JSON.stringify(history));
}
void main();
