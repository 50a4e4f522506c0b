// The resident agent as a daemon: one per instance and agent build, reached through a Unix socket
// that clients open over SSH (streamlocal forwarding). A job then costs no new SSH session and no
// process start, and the warm Python outlives any one client: a fresh CLI run finds it ready.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { AgentServer, agentLog, ServeOptions } from './serve';
import { Logger, logFailure } from '../core/logger';

/** Whether a daemon answers on this socket. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Makes sure a daemon serves `socketPath`: returns at once when one answers, else starts one detached
 * from this process (so the SSH session that ran this can end) and waits until it answers.
 */
export async function startDaemon(socketPath: string, args: string[]): Promise<void> {
  if (await answers(socketPath)) return;
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  const logPath = socketPath.replace(/\.sock$/, '.log');
  const log = fs.openSync(logPath, 'a', 0o600);
  const child = spawn(process.execPath, [process.argv[1], ...args, '--foreground'], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  fs.closeSync(log);
  // A daemon that lost the race to another one exits 0 and the winner answers soon; any other end
  // (an error, a signal) means it won't.
  let failed = false;
  child.once('exit', (code) => (failed = code !== 0));
  const deadline = Date.now() + 15_000;
  while (!(await answers(socketPath))) {
    if (failed || Date.now() > deadline) {
      const why = fs.readFileSync(logPath, 'utf8').trim().split('\n').pop();
      throw new Error(`the agent daemon did not start${why ? `: ${why}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Serves every client that connects to `socketPath`; exits after `idleMs` with no client and no job. */
export async function runDaemon(socketPath: string, idleMs: number, options: ServeOptions): Promise<void> {
  const agent = new AgentServer(options);
  const log = options.log ?? agentLog;
  let idleTimer: NodeJS.Timeout | undefined;
  const exit = async (code = 0) => {
    await agent.shutdown().catch((e) => logFailure(log, 'Shutting down', e, 'error'));
    clients.close();
    fs.rmSync(socketPath, { force: true });
    process.exit(code);
  };
  keepServing(() => exit(1), log);
  const armIdle = () => {
    clearTimeout(idleTimer);
    if (agent.idle) idleTimer = setTimeout(() => agent.idle && void exit(), idleMs);
  };
  let ready: Promise<void> | undefined;
  const clients = net.createServer((socket) => {
    socket.on('error', () => undefined);
    clearTimeout(idleTimer);
    ready!.then(
      () =>
        agent.attach(socket, socket, () => {
          socket.destroy();
          armIdle();
        }),
      (e) => {
        logFailure(log, 'The agent did not start; refusing a client', e, 'error');
        socket.destroy();
      },
    );
  });
  if (!(await listen(clients, socketPath))) {
    if (await answers(socketPath)) process.exit(0); // another daemon won the race: it serves
    fs.rmSync(socketPath, { force: true }); // left by a daemon that was killed
    if (!(await listen(clients, socketPath))) throw new Error(`cannot listen on ${socketPath}`);
  }
  fs.chmodSync(socketPath, 0o600);
  ready = agent.start();
  await ready;
  process.on('SIGTERM', () => void exit());
  armIdle();
}

/** Listens on a Unix socket; false when the path is taken. */
function listen(server: net.Server, socketPath: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(false) : reject(e));
    server.once('error', onError);
    server.listen(socketPath, () => {
      server.off('error', onError);
      resolve(true);
    });
  });
}

/**
 * One agent serves every job on the instance, so no job may take it down: a stray rejection is
 * logged and the agent goes on. An exception nobody caught leaves it in an unknown state, so it
 * stops its jobs and frees what they held (`die`) before it exits.
 */
export function keepServing(die: () => Promise<void>, log: Logger = agentLog): void {
  process.on('unhandledRejection', (e) => logFailure(log, 'Unhandled rejection (the agent goes on)', e, 'error'));
  let dying = false;
  process.on('uncaughtException', (e) => {
    logFailure(log, 'Uncaught exception (the agent stops its jobs and exits)', e, 'error');
    if (dying) return;
    dying = true;
    void die();
  });
}
