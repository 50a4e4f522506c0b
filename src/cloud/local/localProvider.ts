import { ChildProcess, execFileSync, spawn, SpawnOptions } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Logger, SILENT } from '../../core/logger';
import { MeadowrunError } from '../../core/errors';
import { InstanceOption, InstanceType } from '../../core/instanceTypes';
import { DEFAULT_IDLE_MARGIN_S } from '../../core/idleWatchdog';
import { DEFAULT_MANAGEMENT_CONFIG } from '../../core/management';
import { agentBundle, agentSocketPath, localNodeCommand } from '../../remote/agentBundle';
import { InstanceEndpoint, InstanceProvider, RunningInstance } from '../ports';
import { LocalAgentConfig } from './instanceSide';
import { loadLocalInstanceTypes } from './instanceTypes';
import { localLayout, privateDir, refuseUntrustedSshdDir, sshdFilesRoot } from './paths';
import { processAlive } from './processes';
import { localInstanceMarker, readPid, stopLocalInstance } from './stopInstance';

export interface LocalProviderOptions {
  stateDir: string;
  /** Seconds between two deallocation sweeps on each instance. */
  sweepIntervalS?: number;
  /** Seconds a job may stay allocated without a PID file before the sweep frees it. */
  sweepGraceS?: number;
  /** The catalog, when the user configured one (else `instance-types.json` or the built-in one). */
  instanceTypes?: InstanceType[];
  /**
   * The idle watchdog's timeout for a new instance (seconds): the management config's when one is
   * installed, else its default. A management run's touch overrides it later.
   */
  idleTimeoutS?: () => Promise<number>;
  /** Added to the idle timeout before an instance stops itself (default DEFAULT_IDLE_MARGIN_S). */
  idleMarginS?: number;
  log?: Logger;
}

interface InstanceMeta {
  id: string;
  typeName: string;
  spot: boolean;
  /** Set once its sshd listens. */
  port?: number;
  launchedAt: number;
}

/**
 * "Launching" an instance starts an unprivileged OpenSSH server on a free loopback port with its
 * own host key, authorized_keys and work directory; "terminating" stops it and everything it ran.
 * The sshd reads its configuration and keys from `sshdDir()`, not the state directory: see
 * `sshdFilesRoot()`.
 */
export class LocalProvider implements InstanceProvider {
  readonly name = 'local';
  /** An sshd starts in well under a second; a loaded machine may take much longer. */
  readonly launchGraceMs = 60_000;
  /** Its listing reads the instances' directories: it shows a launch before the launch is registered. */
  readonly listingLagMs = 0;
  private readonly layout;
  /** Launches this process started, until waitReady reports on them. */
  private readonly booting = new Map<string, Promise<void>>();

  constructor(private readonly options: LocalProviderOptions) {
    this.layout = localLayout(options.stateDir);
  }

  async listInstanceTypes(): Promise<InstanceType[]> {
    if (this.options.instanceTypes?.length) return this.options.instanceTypes.map((t) => ({ ...t, gpus: t.gpus ?? 0 }));
    return loadLocalInstanceTypes(this.layout.instanceTypesFile);
  }

  private get log(): Logger {
    return this.options.log ?? SILENT;
  }

  sshdPath(): string {
    const configured = process.env.MEADOWRUN_SSHD;
    const candidates = configured ? [configured] : ['/usr/sbin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd'];
    const found = candidates.find((p) => fs.existsSync(p));
    if (!found) {
      throw new MeadowrunError(
        `The local cloud needs an OpenSSH server, and none was found (looked for ${candidates.join(', ')}). ` +
          'Install it with `sudo apt-get install openssh-server` (macOS: built in), or set MEADOWRUN_SSHD.',
        'sshd-missing',
      );
    }
    return found;
  }

  async prepare(): Promise<void> {
    this.sshdPath();
    this.prepareSshdRoot();
  }

  /**
   * Creates the instance's directories, keys and agent config and starts its sshd, without waiting
   * for it to listen: that is waitReady's (the boot, on a real cloud).
   */
  async launch(option: InstanceOption, authorizedPublicKey: string, o: { signal?: AbortSignal } = {}): Promise<{ id: string }> {
    o.signal?.throwIfAborted();
    const sshd = this.sshdPath();
    const id = `local-${crypto.randomBytes(4).toString('hex')}`;
    const dir = path.join(this.layout.instancesDir, id);
    const workDir = path.join(dir, 'work');
    fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
    const meta: InstanceMeta = { id, typeName: option.type.name, spot: option.spot, launchedAt: Date.now() };
    fs.writeFileSync(path.join(dir, 'instance.json'), JSON.stringify(meta), { mode: 0o600 });
    const sshdDir = this.sshdDir(id);
    fs.mkdirSync(sshdDir, { mode: 0o700 });
    // Whole or not at all: another process's prepareSshdRoot that read it half-written (empty) would
    // take this instance for one whose state is gone and remove its files as ssh-keygen writes them.
    fs.writeFileSync(path.join(sshdDir, 'instance-dir.tmp'), dir, { mode: 0o600 });
    fs.renameSync(path.join(sshdDir, 'instance-dir.tmp'), path.join(sshdDir, 'instance-dir'));
    makeHostKey(path.join(sshdDir, 'host_key'), id);
    fs.writeFileSync(path.join(sshdDir, 'authorized_keys'), authorizedPublicKey.trim() + '\n', { mode: 0o600 });
    if (process.getuid?.() === 0) fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

    // What the agent and the instance's watch read about this instance, whoever connects first.
    const agentConfig: LocalAgentConfig = {
      provider: 'local',
      instanceId: id,
      workDir,
      table: { dir: this.layout.tableDir },
      queues: { dir: this.layout.queuesDir },
      payloads: { dir: this.layout.payloadsDir },
      interruption: { noticeFile: path.join(workDir, 'interruption-notice') },
      sweep: { intervalS: this.options.sweepIntervalS ?? 30, graceS: this.options.sweepGraceS ?? 120 },
      idle: {
        timeoutS: (await this.options.idleTimeoutS?.()) ?? DEFAULT_MANAGEMENT_CONFIG.idleTimeoutS,
        marginS: this.options.idleMarginS ?? DEFAULT_IDLE_MARGIN_S,
      },
      local: { instanceDir: dir, sshdDir, secretsDir: this.layout.secretsDir },
      // Local instances are this machine: their jobs in containers use the Docker engine this process would.
      ...(process.env.DOCKER_HOST ? { docker: { host: process.env.DOCKER_HOST } } : {}),
    };
    const agentConfigPath = path.join(dir, 'agent.json');
    fs.writeFileSync(agentConfigPath, JSON.stringify(agentConfig, null, 2), { mode: 0o600 });

    const booting = this.boot(sshd, id, dir, workDir, agentConfigPath, meta);
    booting.catch(() => undefined); // reported by waitReady
    this.booting.set(id, booting);
    return { id };
  }

  async waitReady(id: string, o: { signal?: AbortSignal } = {}): Promise<InstanceEndpoint> {
    const booting = this.booting.get(id) ?? this.bootedElsewhere(id);
    await abortable(booting, o.signal);
    this.booting.delete(id);
    const dir = path.join(this.layout.instancesDir, id);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'instance.json'), 'utf8')) as InstanceMeta;
    const node = localNodeCommand();
    return {
      // The host key is the one this provider generated into its private sshd directory at launch,
      // read from the file, not from the instance over the network.
      ssh: { host: '127.0.0.1', port: meta.port!, user: os.userInfo().username, hostKey: readHostKey(path.join(this.sshdDir(id), 'host_key')) },
      workDir: path.join(dir, 'work'),
      nodeCommand: { command: [node.command], env: node.env },
    };
  }

  async allowClient(): Promise<void> {
    // Loopback: nothing stands between this client and the instance.
  }

  /** Starts the sshd on a free port (another port when one was taken meanwhile), then the instance's watch. */
  private async boot(sshd: string, id: string, dir: string, workDir: string, agentConfigPath: string, meta: InstanceMeta): Promise<void> {
    const user = os.userInfo().username;
    const sshdDir = this.sshdDir(id);
    const configPath = path.join(sshdDir, 'sshd_config');
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freeLoopbackPort();
      const sshdOptions = { sshdDir, instanceDir: dir, agentSocket: agentSocketPath(workDir), agentConfig: agentConfigPath, id, port, user };
      fs.writeFileSync(configPath, sshdConfig(sshdOptions), { mode: 0o600 });
      try {
        await startSshd(sshd, configPath, path.join(dir, 'sshd.log'), port);
        break;
      } catch (e) {
        // Another process may have taken the port between our probe and sshd's bind.
        this.log.debug(`${id}: sshd could not start on port ${port} (attempt ${attempt}): ${(e as Error).message}`);
        if (attempt >= 3 || !/Address already in use/.test(String(e))) throw e;
      }
    }
    fs.writeFileSync(path.join(dir, 'instance.json'), JSON.stringify({ ...meta, port }), { mode: 0o600 });
    this.startWatch(id, dir, agentConfigPath);
    this.log.info(`Launched ${id} (${meta.typeName}): sshd on 127.0.0.1:${port}`);
  }

  /** A launch this process did not start: ready once its instance.json names the port its sshd listens on. */
  private async bootedElsewhere(id: string): Promise<void> {
    const file = path.join(this.layout.instancesDir, id, 'instance.json');
    for (const deadline = Date.now() + this.launchGraceMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      let meta: InstanceMeta;
      try {
        meta = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch {
        throw new MeadowrunError(`Instance ${id} is gone`, 'launch', { instanceId: id });
      }
      if (meta.port !== undefined) return;
    }
    throw new MeadowrunError(`Instance ${id} did not become ready within ${this.launchGraceMs / 1000} s`, 'launch', { instanceId: id });
  }

  /** Where the instance's sshd reads its configuration, host key and authorized_keys. */
  sshdDir(id: string): string {
    return path.join(sshdFilesRoot(), id);
  }

  async terminate(id: string): Promise<void> {
    // A boot still running here would go on writing into the directories being removed, and start
    // an sshd nothing stops: it finishes (or fails) first.
    await this.booting.get(id)?.catch(() => undefined);
    this.booting.delete(id);
    // Sessions, agents, jobs and the watch all carry the instance's id in their environment.
    stopLocalInstance(id, path.join(this.layout.instancesDir, id), this.sshdDir(id));
    this.log.info(`Terminated ${id}`);
  }

  async listRunning(): Promise<RunningInstance[]> {
    let ids: string[];
    try {
      ids = fs.readdirSync(this.layout.instancesDir);
    } catch {
      return [];
    }
    const running: RunningInstance[] = [];
    for (const id of ids) {
      const dir = path.join(this.layout.instancesDir, id);
      let meta: InstanceMeta;
      try {
        meta = JSON.parse(fs.readFileSync(path.join(dir, 'instance.json'), 'utf8')) as InstanceMeta;
      } catch {
        continue; // its directory is being made, or removed
      }
      const market = meta.spot ? 'spot' : 'on-demand';
      const pid = readPid(path.join(dir, 'sshd.pid'));
      // Pending from launch until its sshd listens; one whose sshd died is not running.
      if (meta.port === undefined) running.push({ id, typeName: meta.typeName, launchedAt: meta.launchedAt, state: 'pending', market });
      else if (pid && processAlive(pid)) running.push({ id, typeName: meta.typeName, launchedAt: meta.launchedAt, state: 'running', market });
    }
    return running;
  }

  /**
   * The instance's bootstrap: its watch (sweep, interruption watch, idle watchdog), a process of the
   * instance like its sshd, stopped with it (it carries the instance's marker) or by itself when idle.
   */
  private startWatch(id: string, dir: string, agentConfigPath: string): void {
    const node = localNodeCommand();
    const log = fs.openSync(path.join(dir, 'watch.log'), 'a', 0o600);
    const child = spawnPrivate(node.command, [agentBundle().path, 'watch'], {
      detached: true,
      stdio: ['ignore', log, log],
      cwd: dir,
      env: { ...process.env, ...node.env, MEADOWRUN_AGENT_CONFIG: agentConfigPath, MEADOWRUN_LOCAL_INSTANCE: id },
    });
    child.unref();
    fs.closeSync(log);
  }

  /**
   * Creates the private directory of all instances' sshd files, and stops the instances whose state
   * directory was deleted without terminating them (their sshd would listen on forever).
   */
  private prepareSshdRoot(): void {
    const root = sshdFilesRoot();
    try {
      privateDir(root);
    } catch (e) {
      throw new MeadowrunError(`Cannot create ${root} for the local instances' SSH keys: ${(e as Error).message}`, 'state-dir');
    }
    refuseUntrustedSshdDir(root);
    for (const name of fs.readdirSync(root)) {
      try {
        const instanceDir = fs.readFileSync(path.join(root, name, 'instance-dir'), 'utf8');
        if (!fs.existsSync(instanceDir)) stopLocalInstance(name, instanceDir, path.join(root, name));
      } catch {
        // Still being created by another launch.
      }
    }
  }
}

/**
 * The instance's own host key, made by OpenSSH's ssh-keygen (beside sshd) so that sshd is sure to
 * read it. waitReady reads its public half (readHostKey), which every connection pins.
 */
function makeHostKey(file: string, comment: string): void {
  execFileSync(sshKeygenPath(), ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { stdio: 'ignore' });
}

function readHostKey(file: string): string {
  return fs.readFileSync(`${file}.pub`, 'utf8').split(' ')[1];
}

/** Waits for `p`, or rejects as cancelled when `signal` aborts first. */
function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new MeadowrunError('Cancelled', 'cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function sshKeygenPath(): string {
  const candidates = ['/usr/bin/ssh-keygen', '/usr/local/bin/ssh-keygen', '/bin/ssh-keygen'];
  return candidates.find((p) => fs.existsSync(p)) ?? 'ssh-keygen';
}

/** A word of sshd_config: quoted, so that a path may hold spaces. */
function configWord(word: string): string {
  return `"${word.replace(/[\\"]/g, '\\$&')}"`;
}

function sshdConfig(o: { sshdDir: string; instanceDir: string; agentSocket: string; agentConfig: string; id: string; port: number; user: string }): string {
  const { sshdDir, instanceDir, agentSocket, agentConfig, id, port, user } = o;
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${configWord(path.join(sshdDir, 'host_key'))}`,
    `PidFile ${configWord(path.join(instanceDir, 'sshd.pid'))}`,
    // sshd expands %-tokens in this one.
    `AuthorizedKeysFile ${configWord(path.join(sshdDir, 'authorized_keys').replace(/%/g, '%%'))}`,
    `AllowUsers ${user}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    'StrictModes yes',
    // Clients reach the resident agent through its Unix socket (a direct-streamlocal channel);
    // nothing else is forwarded, and nothing needs a terminal. sshd lets no socket through without
    // local TCP forwarding, but PermitOpen governs sockets too: naming only the agent's socket
    // refuses every TCP destination. (A path with "]" can't be named: clients then fall back to
    // a per-session agent.)
    'AllowStreamLocalForwarding local',
    'AllowTcpForwarding local',
    `PermitOpen ${agentSocket.includes(']') ? 'none' : configWord(`[${agentSocket}]:*`)}`,
    'AllowAgentForwarding no',
    'X11Forwarding no',
    'PermitTunnel no',
    'GatewayPorts no',
    'PermitUserEnvironment no',
    'PermitTTY no',
    'Subsystem sftp internal-sftp',
    // Every session's processes: marked as the instance's (terminate finds them by it), and told
    // where the instance's AgentConfig is.
    `SetEnv ${localInstanceMarker(id)} ${configWord(`MEADOWRUN_AGENT_CONFIG=${agentConfig}`)}`,
    'MaxSessions 64',
    'MaxStartups 64:30:128',
    'LogLevel ERROR',
    '',
  ].join('\n');
}

function startSshd(sshd: string, configPath: string, logPath: string, port: number): Promise<void> {
  const log = fs.openSync(logPath, 'w', 0o600);
  const child: ChildProcess = spawnPrivate(sshd, ['-D', '-e', '-f', configPath], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  child.unref();
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      const text = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8').trim() : '';
      reject(new MeadowrunError(`Could not start the local instance's sshd: ${text.split('\n').pop() || why}`, 'launch'));
    };
    child.once('exit', (code) => fail(`sshd exited with code ${code}`));
    child.once('error', (e) => fail(e.message));
    const deadline = Date.now() + 10_000;
    const probe = () => {
      if (settled) return;
      const socket = net.connect(port, '127.0.0.1');
      socket.once('data', (d) => {
        socket.destroy();
        if (d.toString().startsWith('SSH-') && !settled) {
          settled = true;
          child.removeAllListeners();
          resolve();
        }
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) fail('sshd did not start listening within 10 s');
        else setTimeout(probe, 20);
      });
    };
    probe();
  });
}

/**
 * Spawns with umask 077, so that what the process and everything it starts (on an instance: the
 * agent and the jobs) create is the user's alone. The child takes the umask when it is forked,
 * which happens within spawn().
 */
function spawnPrivate(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const previous = process.umask(0o077);
  try {
    return spawn(command, args, options);
  } finally {
    process.umask(previous);
  }
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
