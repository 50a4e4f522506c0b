// A separate process draining a queue alongside others: prints each message it got as "body receiveCount".
import { FileTaskQueues } from '../../src/cloud/local/fileTaskQueues';

async function main() {
  const [dir, queue] = process.argv.slice(2);
  const queues = new FileTaskQueues(dir);
  const got: string[] = [];
  for (;;) {
    const batch = await queues.receive(queue, 5, 60);
    if (batch.length === 0) break;
    for (const m of batch) got.push(`${m.body} ${m.receiveCount}`);
    await queues.acknowledge(queue, batch.map((m) => m.receipt));
  }
  process.stdout.write(got.join('\n'));
}
void main();
