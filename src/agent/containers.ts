// Jobs in a container image, with the instance's Docker engine. The image is pulled once (with the
// registry's credentials from a named secret, through a per-job Docker config directory that is
// removed right after); each job then runs in its own `docker run --rm --init` container whose
// job starter (python/forkserver.py) connects back to this agent like any other job.
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { containerName, dockerFailure, ImageSpec, imageRegistry, installFailure, parseRegistryCredentials } from '../core/containers';
import { describeError, MeadowrunError } from '../core/errors';

/** Getting the image ready failed (no Docker, wrong credentials, no such image): one line for the user. */
export class ImageError extends Error {}

export interface ContainerOptions {
  workDir: string;
  /** The Docker engine's address (DOCKER_HOST), when not the default socket. */
  dockerHost?: string;
  /** A named secret's value, read with the instance's identity (undefined: no such secret). */
  secret?: (name: string) => Promise<string | undefined>;
  /**
   * The command that installs and starts Docker Engine on this instance (a VM's root-owned script,
   * run through `sudo -n`), when its engine doesn't answer; none (the local cloud): Docker is the user's.
   */
  installDocker?: string[];
}

/** What getting an image ready says as it goes: Docker's installation (first job in an image on a VM), the pull's lines. */
export interface PrepareProgress {
  installing(): void;
  installed(seconds: number): void;
  /** A line of the installer's or the pull's output. */
  line(line: string): void;
  /** The pull began (before its first line). */
  pulling?(): void;
}

interface Result {
  code: number;
  output: string;
}

export class Containers {
  /** Pulls under way, by reference: concurrent jobs wait for one. */
  private readonly pulls = new Map<string, Promise<void>>();
  /** Docker's installation under way (concurrent jobs wait for one; the script's lock covers other agents), and who hears its lines. */
  private install?: Promise<void>;
  private readonly installListeners = new Set<(line: string) => void>();
  /** The engine answered once: it is not asked again before every job. */
  private engineReady = false;

  constructor(private readonly o: ContainerOptions) {}

  /** The environment of every docker command: the configured engine, and never an ambient login. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
    if (this.o.dockerHost) env.DOCKER_HOST = this.o.dockerHost;
    return env;
  }

  /**
   * Makes the image available on the instance: logs in with the secret's credentials (always, so
   * that wrong ones are told even when the image is already here) and pulls it when missing.
   */
  async prepare(image: ImageSpec, jobId: string, progress: PrepareProgress): Promise<{ pulledS?: number }> {
    await this.engine(progress);
    const report = progress.line;
    const config = image.secret ? await this.login(image, jobId) : undefined;
    try {
      if ((await this.docker(['image', 'inspect', '--format', '{{.Id}}', image.ref])).code === 0) return {};
      let pull = this.pulls.get(image.ref);
      progress.pulling?.();
      if (!pull) {
        pull = this.pull(image.ref, config, report).finally(() => this.pulls.delete(image.ref));
        this.pulls.set(image.ref, pull);
      }
      const began = Date.now();
      await pull;
      return { pulledS: (Date.now() - began) / 1000 };
    } finally {
      if (config) fs.rmSync(config, { recursive: true, force: true });
    }
  }

  /**
   * Makes sure Docker's engine answers: on a VM whose image lacks it, installs it first (once; jobs
   * that ask meanwhile wait for the same installation and hear its output too).
   */
  private async engine(progress: PrepareProgress): Promise<void> {
    if (this.engineReady || !this.o.installDocker) return;
    if ((await this.docker(['version', '--format', '{{.Server.Version}}'])).code === 0) {
      this.engineReady = true;
      return;
    }
    const began = Date.now();
    progress.installing();
    this.installListeners.add(progress.line);
    try {
      this.install ??= this.runInstaller(this.o.installDocker).finally(() => (this.install = undefined));
      await this.install;
    } finally {
      this.installListeners.delete(progress.line);
    }
    this.engineReady = true;
    progress.installed((Date.now() - began) / 1000);
  }

  private runInstaller(command: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const lines: string[] = [];
      const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
      // apt's own lock wait is 10 min (the script's); past 20, something hangs. (spawn's own
      // `timeout` would keep its timer when the command can't even start.)
      const timer = setTimeout(() => child.kill('SIGTERM'), 20 * 60_000);
      const hear = (line: string) => {
        // A line redrawn with \r (dpkg's "Reading database ... 45%") is what a terminal would end up showing.
        const shown = line.split('\r').filter((l) => l.trim()).pop();
        if (!shown) return;
        lines.push(shown);
        for (const listener of this.installListeners) listener(shown);
      };
      // Each stream by itself: a line half-read from one is not glued to the other's.
      const partial = { stdout: '', stderr: '' };
      for (const name of ['stdout', 'stderr'] as const) {
        child[name].on('data', (d: Buffer) => {
          const parts = (partial[name] + d.toString()).split('\n');
          partial[name] = parts.pop() ?? '';
          parts.forEach(hear);
        });
      }
      child.once('error', (e) => {
        clearTimeout(timer);
        const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
        reject(new ImageError(`Docker could not be installed on this instance: ${missing ? `${command[0]} is not installed on it` : e.message}`));
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        hear(partial.stdout);
        hear(partial.stderr);
        if (code === 0) return resolve();
        reject(new ImageError(`Docker could not be installed on this instance: ${installFailure(lines)}`));
      });
    });
  }

  private async pull(ref: string, config: string | undefined, report: (line: string) => void): Promise<void> {
    report(`$ docker pull ${ref}`);
    const r = await this.docker(['pull', ref], { env: config ? { DOCKER_CONFIG: config } : {}, onLine: report });
    if (r.code !== 0) throw new ImageError(`docker pull failed: ${dockerFailure(r.output)}`);
  }

  /** `docker login --password-stdin` into a fresh 0700 config directory; returns that directory. */
  private async login(image: ImageSpec, jobId: string): Promise<string> {
    const name = image.secret!;
    if (!this.o.secret) throw new ImageError(`this instance can't read secrets, so the registry credentials in secret "${name}" can't be used`);
    let value: string | undefined;
    try {
      value = await this.o.secret(name);
    } catch (e) {
      throw new ImageError(`reading secret "${name}" failed: ${describeError(e)}`);
    }
    if (value === undefined) throw new ImageError(`there is no secret "${name}" (meadowrun secret set ${name})`);
    let credentials;
    try {
      credentials = parseRegistryCredentials(value, name);
    } catch (e) {
      throw new ImageError((e as MeadowrunError).message);
    }
    const root = path.join(this.o.workDir, 'docker');
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    const config = fs.mkdtempSync(path.join(root, `${jobId}-`));
    fs.chmodSync(config, 0o700);
    const registry = imageRegistry(image.ref);
    const args = ['login', '--username', credentials.username, '--password-stdin'];
    if (registry !== 'docker.io') args.push(registry);
    const r = await this.docker(args, { env: { DOCKER_CONFIG: config }, input: credentials.password });
    if (r.code !== 0) {
      fs.rmSync(config, { recursive: true, force: true });
      throw new ImageError(`docker login to ${registry} with the credentials in secret "${name}" failed: ${dockerFailure(r.output)}`);
    }
    return config;
  }

  /** Starts `docker run …` (see core/containers.ts dockerRunArgs). */
  spawnRun(args: string[], cwd: string): ChildProcess {
    return spawn('docker', args, { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: this.env() });
  }

  /** Sends a signal to a job's container; SIGKILL ends it (and `--rm` removes it). */
  kill(jobId: string, signal: 'SIGINT' | 'SIGKILL'): Promise<void> {
    return this.docker(['kill', '--signal', signal, containerName(jobId)]).then(() => undefined);
  }

  private docker(args: string[], o: { env?: Record<string, string>; input?: string; onLine?: (line: string) => void } = {}): Promise<Result> {
    return new Promise((resolve) => {
      const child = execFile('docker', args, { env: this.env(o.env), maxBuffer: 16 << 20, timeout: 30 * 60_000 }, (e, stdout, stderr) => {
        const output = `${stdout}${stderr}`;
        if (e && typeof e.code !== 'number') {
          // Not an exit status: docker itself could not be started.
          const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
          return resolve({ code: 127, output: missing ? 'Error: docker is not installed on the instance (apt-get install docker.io)' : `Error: ${e.message}` });
        }
        resolve({ code: e ? (e.code as number) : 0, output });
      });
      if (o.onLine) {
        let partial = '';
        child.stdout?.on('data', (d: Buffer) => {
          const lines = (partial + d.toString()).split(/\r?\n|\r/);
          partial = lines.pop() ?? '';
          for (const line of lines) if (line.trim()) o.onLine!(line);
        });
      }
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(o.input ?? '');
    });
  }
}
