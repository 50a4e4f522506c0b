import { spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as path from 'path';
import * as readline from 'readline';
import { micromambaCreateArgs } from '../core/conda';
import { EnvironmentEvent, EnvironmentSpec, environmentKey, failingLine, venvFailure } from '../core/deployment';
import { describeError } from '../core/errors';
import { netrcText, parseIndexCredentials } from '../core/secrets';
import environmentsScript from '../jobs/environments.py';

/** Reads a user secret with the instance's identity (InstanceSide.secret); undefined when there is none. */
export type SecretReader = (name: string) => Promise<string | undefined>;

/** A build that failed: its message names the installer's failing line. */
export class EnvironmentBuildError extends Error {}

/** Written last into a finished environment: its presence is what "built" means. */
const MARKER = 'meadowrun-environment.json';

/**
 * The instance's virtual environments, one per content hash (pins + Python version + platform),
 * under `<workDir>/envs`. A job whose environment exists starts at once; otherwise one job builds
 * it (`python -m venv` + pip) while the others that need it wait, in this agent (a shared promise)
 * and across agents on the instance (a lock directory naming its builder's pid).
 */
export class Environments {
  readonly dir: string;
  private readonly builds = new Map<string, Promise<string>>();
  private readonly pythons = new Map<string, Promise<string>>();

  constructor(
    workDir: string,
    private readonly secret: SecretReader = async () => undefined,
  ) {
    this.dir = path.join(workDir, 'envs');
  }

  /** The Python that runs a job needing `spec`, building its environment from `base` first if need be. */
  async interpreterFor(base: string, spec: EnvironmentSpec, report: (e: EnvironmentEvent) => void): Promise<string> {
    const python = await this.describe(base);
    const hash = crypto.createHash('sha256').update(environmentKey(spec, python)).digest('hex').slice(0, 16);
    const envDir = path.join(this.dir, hash);
    const interpreter = path.join(envDir, 'bin', 'python');
    if (this.isBuilt(envDir)) {
      // Marked used first, then the lock looked at: a pruner (jobs/environments.py) that read the
      // old mark holds the lock by now, and this job waits for its verdict below.
      touch(path.join(envDir, MARKER));
      if (!fs.existsSync(`${envDir}.lock`)) {
        report({ kind: 'reused', hash });
        return interpreter;
      }
    }
    let build = this.builds.get(hash);
    if (!build) {
      build = this.buildLocked(base, spec, hash, envDir, report).finally(() => this.builds.delete(hash));
      this.builds.set(hash, build);
      return build;
    }
    // Another job of this agent builds it: this one waits, and hears that it was built for it.
    report({ kind: 'building', hash, source: spec.source });
    const began = Date.now();
    await build;
    report({ kind: 'built', hash, seconds: (Date.now() - began) / 1000 });
    return interpreter;
  }

  private isBuilt(envDir: string): boolean {
    return fs.existsSync(path.join(envDir, MARKER));
  }

  /** "cpython-311 linux-x86_64": what an environment built from `base` is bound to. */
  private describe(base: string): Promise<string> {
    let p = this.pythons.get(base);
    if (!p) {
      p = run(base, ['-c', 'import sys, sysconfig; print(sys.implementation.cache_tag, sysconfig.get_platform())'], () => undefined).then(
        (r) => {
          if (r.code !== 0) throw new Error(`it did not run: ${failingLine(r.output)}`);
          return r.output.trim();
        },
        (e: Error) => {
          throw new Error(`could not start it (${e.message})`);
        },
      );
      p.catch(() => this.pythons.delete(base));
      this.pythons.set(base, p);
    }
    return p;
  }

  /** Builds under the instance-wide lock, or waits for the agent that holds it. */
  private async buildLocked(base: string, spec: EnvironmentSpec, hash: string, envDir: string, report: (e: EnvironmentEvent) => void): Promise<string> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const lock = `${envDir}.lock`;
    const began = Date.now();
    let announced = false;
    const announce = () => {
      if (!announced) report({ kind: 'building', hash, source: spec.source });
      announced = true;
    };
    const done = () => {
      if (!announced) report({ kind: 'reused', hash });
      else report({ kind: 'built', hash, seconds: (Date.now() - began) / 1000 });
      return path.join(envDir, 'bin', 'python');
    };
    for (;;) {
      // Built counts once nobody holds the lock: its builder finishing, or a pruner deciding.
      if (this.isBuilt(envDir) && !fs.existsSync(lock)) return done();
      try {
        fs.mkdirSync(lock, { mode: 0o700 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        // Another agent builds it (or a pruner looks at it): wait for it, or take over once it is dead.
        if (!this.isBuilt(envDir)) announce();
        if (stale(lock)) fs.rmSync(lock, { recursive: true, force: true });
        else await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid), { mode: 0o600 });
      try {
        if (this.isBuilt(envDir)) {
          touch(path.join(envDir, MARKER));
          return done();
        }
        announce();
        await this.build(base, spec, hash, envDir, report);
        report({ kind: 'built', hash, seconds: (Date.now() - began) / 1000 });
        return path.join(envDir, 'bin', 'python');
      } finally {
        fs.rmSync(lock, { recursive: true, force: true });
      }
    }
  }

  /** `micromamba create` at `envDir`, its package cache shared by the instance's environments. */
  private async createConda(conda: NonNullable<EnvironmentSpec['conda']>, envDir: string, onLine: (line: string) => void): Promise<void> {
    const args = micromambaCreateArgs(envDir, { channels: conda.channels, dependencies: conda.dependencies, pip: [] });
    onLine(`$ micromamba ${args.join(' ')}`);
    let r: { code: number; output: string };
    try {
      r = await run(micromamba(), args, onLine, { MAMBA_ROOT_PREFIX: path.join(path.dirname(this.dir), 'micromamba') });
    } catch (e) {
      throw new EnvironmentBuildError(
        (e as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'micromamba is not installed on the instance (put the micromamba binary on its PATH, or set MEADOWRUN_MICROMAMBA)'
          : `micromamba could not be started: ${(e as Error).message}`,
      );
    }
    if (r.code !== 0) throw new EnvironmentBuildError(`micromamba create failed: ${failingLine(r.output)}`);
  }

  private async build(base: string, spec: EnvironmentSpec, hash: string, envDir: string, report: (e: EnvironmentEvent) => void): Promise<void> {
    const began = Date.now();
    // A half-built one (its builder died) is started again from nothing.
    fs.rmSync(envDir, { recursive: true, force: true });
    const credentials = spec.indexSecret ? await this.indexCredentials(spec.indexSecret) : undefined;
    // Nothing that leaves here shows a password: not the log, not the failing line.
    const scrub = (text: string) => (credentials ? redact(text).split(credentials.password).join('***') : redact(text));
    const onLine = (line: string) => report({ kind: 'log', line: scrub(line) });
    const indexes = [spec.indexUrl, ...(spec.extraIndexUrls ?? [])].filter((u): u is string => !!u);
    const writeMarker = () => {
      const marker = { hash, source: spec.source, builtAt: new Date().toISOString(), seconds: (Date.now() - began) / 1000 };
      fs.writeFileSync(path.join(envDir, MARKER), JSON.stringify(marker) + '\n', { mode: 0o600 });
    };
    // pip reads the credentials from a netrc file ($NETRC) in a private directory, gone after the build.
    let netrcDir: string | undefined;
    try {
      const pipEnv: Record<string, string> = { PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
      if (credentials) {
        netrcDir = fs.mkdtempSync(path.join(this.dir, '.netrc-'));
        pipEnv.NETRC = path.join(netrcDir, 'netrc');
        fs.writeFileSync(pipEnv.NETRC, netrcText(indexes.map((u) => new URL(u).hostname).filter(Boolean), credentials.login, credentials.password), { mode: 0o600 });
      }
      if (spec.conda) await this.createConda(spec.conda, envDir, onLine);
      else {
        const venv = await run(base, ['-m', 'venv', envDir], onLine);
        if (venv.code !== 0) throw new EnvironmentBuildError(`python -m venv failed: ${venvFailure(venv.output)}`);
      }
      // A conda environment with no pip part is done.
      if (!spec.requirements.trim()) return writeMarker();
      const requirements = path.join(envDir, 'meadowrun-requirements.txt');
      fs.writeFileSync(requirements, spec.requirements, { mode: 0o600 });
      const args = ['-m', 'pip', 'install', '--no-input', '--disable-pip-version-check', '-r', requirements];
      if (spec.constraints) {
        const constraints = path.join(envDir, 'meadowrun-constraints.txt');
        fs.writeFileSync(constraints, spec.constraints, { mode: 0o600 });
        args.push('-c', constraints);
      }
      if (spec.indexUrl) args.push('--index-url', spec.indexUrl);
      for (const url of spec.extraIndexUrls ?? []) args.push('--extra-index-url', url);
      onLine(`$ pip install -r ${spec.source}${spec.indexUrl ? ` --index-url ${spec.indexUrl}` : ''}${credentials ? ` (credentials from secret ${spec.indexSecret})` : ''}`);
      const pip = await run(path.join(envDir, 'bin', 'python'), args, onLine, pipEnv);
      if (pip.code !== 0) {
        // pip says only "No matching distribution" when an index refuses it: ask the index why.
        const refused = await refusal(indexes, credentials);
        if (refused && credentials) {
          throw new EnvironmentBuildError(`the index at ${refused.host} refused the credentials in secret ${spec.indexSecret} (HTTP ${refused.status}): check them, and set them again with \`meadowrun secret set ${spec.indexSecret}\``);
        }
        if (refused) throw new EnvironmentBuildError(`the index at ${refused.host} asks for credentials (HTTP ${refused.status}): keep them in a secret (\`meadowrun secret set NAME\`) and name it with --index-secret or meadowrun.deployment.indexSecret`);
        throw new EnvironmentBuildError(`pip install failed: ${scrub(failingLine(pip.output))}`);
      }
      writeMarker();
    } catch (e) {
      fs.rmSync(envDir, { recursive: true, force: true });
      throw e;
    } finally {
      if (netrcDir) fs.rmSync(netrcDir, { recursive: true, force: true });
    }
  }

  /** The index credentials a secret holds, read on the instance; a missing or malformed one fails the build in words. */
  private async indexCredentials(name: string): Promise<{ login: string; password: string }> {
    let value: string | undefined;
    try {
      value = await this.secret(name);
    } catch (e) {
      throw new EnvironmentBuildError(`cannot read the index secret ${name} on the instance: ${describeError(e)}`);
    }
    if (value === undefined) throw new EnvironmentBuildError(`there is no secret ${name} (the index secret): create it with \`meadowrun secret set ${name}\``);
    try {
      return parseIndexCredentials(name, value);
    } catch (e) {
      throw new EnvironmentBuildError((e as Error).message);
    }
  }
}

/**
 * Removes the environments under `<workDir>/envs` unused for `maxAgeS`, with the instance's
 * python3 and the same script as `meadowrun envs prune` (jobs/environments.py: never one in use,
 * and each decided under its build lock); returns the hashes removed.
 */
export async function pruneEnvironments(workDir: string, maxAgeS: number): Promise<string[]> {
  const r = await run('python3', ['-c', environmentsScript, path.join(workDir, 'envs'), 'prune', String(maxAgeS)], () => undefined);
  const json = r.output.split('\n').reverse().find((l) => l.startsWith('['));
  if (r.code !== 0 || !json) throw new Error(`python3 could not prune the environments: ${failingLine(r.output)}`);
  return (JSON.parse(json) as { hash: string; removed?: boolean }[]).filter((e) => e.removed).map((e) => e.hash);
}

/** The first index that answers 401 or 403 (with the credentials, when there are some); undefined when none does, or none can be asked. */
async function refusal(indexes: string[], credentials?: { login: string; password: string }): Promise<{ host: string; status: number } | undefined> {
  for (const url of indexes) {
    const status = await new Promise<number | undefined>((resolve) => {
      let u: URL;
      try {
        u = new URL(url);
      } catch {
        return resolve(undefined);
      }
      const headers: Record<string, string> = credentials ? { authorization: `Basic ${Buffer.from(`${credentials.login}:${credentials.password}`).toString('base64')}` } : {};
      const req = (u.protocol === 'https:' ? https : http).get(u, { headers, timeout: 10_000 }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
    });
    if (status === 401 || status === 403) return { host: new URL(url).host, status };
  }
  return undefined;
}

/** micromamba: $MEADOWRUN_MICROMAMBA, else the one on PATH. */
function micromamba(): string {
  return process.env.MEADOWRUN_MICROMAMBA || 'micromamba';
}

/** Credentials in an index URL (https://user:token@host/) are never shown. */
function redact(text: string): string {
  return text.replace(/(\w+:\/\/)[^/@\s]+@/g, '$1***@');
}

function touch(file: string): void {
  const now = new Date();
  try {
    fs.utimesSync(file, now, now);
  } catch {
    // Only "last used" suffers.
  }
}

function readPid(lock: string): number | undefined {
  try {
    return Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8')) || undefined;
  } catch {
    return undefined;
  }
}

/** A lock whose builder died; one without a pid yet is being taken right now, unless that was long ago. */
function stale(lock: string): boolean {
  const pid = readPid(lock);
  if (pid !== undefined) return !alive(pid);
  try {
    return Date.now() - fs.statSync(lock).mtimeMs > 30_000;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs a command, each line of its output (stdout and stderr together) to `onLine`; the last 64 KB kept. */
function run(command: string, args: string[], onLine: (line: string) => void, env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let output = '';
    for (const stream of [child.stdout!, child.stderr!]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        output = (output + line + '\n').slice(-65536);
        onLine(line);
      });
    }
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}
