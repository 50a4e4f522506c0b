// A separate client process for the randomized history check: opens the table named like an
// instance's AgentConfig (provider and table, as JSON), runs one client's history and prints it as JSON.
import { AgentConfig } from '../../src/cloud/ports';
import { instanceSide } from '../../src/agent/instanceSides';
import { runHistoryWorker } from './tableHistory';

async function main() {
  const [spec, worker, seed, allocations] = process.argv.slice(2);
  const config = JSON.parse(spec) as AgentConfig;
  const table = (await instanceSide(config.provider)).table(config);
  const history = await runHistoryWorker(table, worker, Number(seed), Number(allocations));
  process.stdout.write(JSON.stringify(history));
}
void main();
