// The agent: the one file copied to each instance. `serve` is the resident agent a client talks to
// over an SSH channel; `sweep` frees the allocations of jobs whose process died.
import { parseArgs } from 'util';
import { openQueues, openTable } from './openTable';
import { AgentServer } from './serve';
import { localInterruptionNotice, sweepOnce } from './sweep';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      instance: { type: 'string' },
      table: { type: 'string' },
      queues: { type: 'string' },
      'work-dir': { type: 'string' },
      interval: { type: 'string', default: '30' },
      grace: { type: 'string', default: '120' },
      once: { type: 'boolean', default: false },
    },
  });
  const instanceId = values.instance;
  const workDir = values['work-dir'];
  if (!instanceId || !workDir || !values.table) throw new Error('usage: agent serve|sweep --instance ID --table SPEC --work-dir DIR');
  const table = openTable(values.table);

  if (positionals[0] === 'serve') {
    process.stdout.on('error', () => undefined); // the client may vanish mid-write
    const queues = values.queues ? openQueues(values.queues) : undefined;
    await new AgentServer({ workDir, instanceId, table, queues, input: process.stdin, output: process.stdout }).start();
  } else if (positionals[0] === 'sweep') {
    const graceMs = Number(values.grace) * 1000;
    const sweep = async () => {
      try {
        const interruptionAnnounced = values.table!.startsWith('local:') ? localInterruptionNotice(workDir) : undefined;
        const freed = await sweepOnce({ instanceId, workDir, table, graceMs, interruptionAnnounced });
        if (freed.length) console.error(`${new Date().toISOString()} freed ${freed.join(', ')}`);
      } catch (e) {
        console.error(`${new Date().toISOString()} sweep failed: ${(e as Error).message}`);
      }
    };
    await sweep();
    if (!values.once) setInterval(sweep, Number(values.interval) * 1000);
  } else {
    throw new Error(`unknown agent command "${positionals[0] ?? ''}"`);
  }
}

main().catch((e) => {
  console.error(`meadowrun agent: ${e?.message ?? e}`);
  process.exit(1);
});
