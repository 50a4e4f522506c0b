// The agent: the one file copied to each instance. `daemon` starts the resident agent that clients
// reach through its Unix socket; `serve` is the same agent for one client on stdin/stdout; `watch`
// is the instance's own process (deallocation sweep, interruption watch, idle watchdog), started by
// the provider at launch. Each reads the instance's AgentConfig, which the provider wrote there.
import { parseArgs } from 'util';
import { keepServing, runDaemon, startDaemon } from './daemon';
import { openInstance } from './instanceSides';
import { AgentServer } from './serve';
import { InstanceWatch } from './watch';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      socket: { type: 'string' },
      idle: { type: 'string', default: '900' },
      foreground: { type: 'boolean', default: false },
    },
  });
  const mode = positionals[0];
  if (mode === 'daemon' && !values.foreground) {
    if (!values.socket) throw new Error('usage: agent daemon --socket PATH');
    // The daemon proper reads the config; a broken one shows in the error startDaemon reports.
    return startDaemon(values.socket, process.argv.slice(2));
  }
  if (mode !== 'serve' && mode !== 'daemon' && mode !== 'watch') throw new Error(`unknown agent command "${mode ?? ''}" (daemon, serve or watch)`);
  const { config, side, table, queues, payloads } = await openInstance();
  const options = { workDir: config.workDir, instanceId: config.instanceId, table, queues, payloads, dockerHost: config.docker?.host, installDocker: config.docker?.install ? ['sudo', '-n', config.docker.install] : undefined, secret: (name: string) => side.secret(config, name) };

  if (mode === 'serve') {
    process.stdout.on('error', () => undefined); // the client may vanish mid-write
    const server = new AgentServer(options);
    keepServing(async () => {
      await server.shutdown();
      process.exit(1);
    });
    await server.start();
    server.attach(process.stdin, process.stdout, () => {
      server.stop();
      process.exit(0);
    });
  } else if (mode === 'daemon') {
    await runDaemon(values.socket!, Number(values.idle) * 1000, options);
  } else {
    const watch = new InstanceWatch({ config, side, table, log: (line) => console.error(`${new Date().toISOString()} ${line}`) });
    // One round at a time, however long a round takes.
    for (;;) {
      if (await watch.tick()) process.exit(0);
      await new Promise((r) => setTimeout(r, config.sweep.intervalS * 1000));
    }
  }
}

main().catch((e) => {
  console.error(`meadowrun agent: ${e?.message ?? e}`);
  process.exit(1);
});
