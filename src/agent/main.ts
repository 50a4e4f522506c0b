// The agent: the one file copied to each instance. `daemon` starts the resident agent that clients
// reach through its Unix socket; `serve` is the same agent for one client on stdin/stdout; `sweep`
// frees the allocations of jobs whose process died.
import { parseArgs } from 'util';
import { openQueues, openTable } from './openTable';
import { keepServing, runDaemon, startDaemon } from './daemon';
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
      socket: { type: 'string' },
      idle: { type: 'string', default: '900' },
      foreground: { type: 'boolean', default: false },
    },
  });
  const instanceId = values.instance;
  const workDir = values['work-dir'];
  if (!instanceId || !workDir || !values.table) throw new Error('usage: agent daemon|serve|sweep --instance ID --table SPEC --work-dir DIR');
  const table = openTable(values.table);

  if (positionals[0] === 'serve') {
    process.stdout.on('error', () => undefined); // the client may vanish mid-write
    const server = new AgentServer({ workDir, instanceId, table, queues: values.queues ? openQueues(values.queues) : undefined });
    keepServing(async () => {
      await server.shutdown();
      process.exit(1);
    });
    await server.start();
    server.attach(process.stdin, process.stdout, () => {
      server.stop();
      process.exit(0);
    });
  } else if (positionals[0] === 'daemon') {
    if (!values.socket) throw new Error('usage: agent daemon --socket PATH …');
    const options = { workDir, instanceId, table, queues: values.queues ? openQueues(values.queues) : undefined };
    if (values.foreground) await runDaemon(values.socket, Number(values.idle) * 1000, options);
    else await startDaemon(values.socket, process.argv.slice(2));
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
