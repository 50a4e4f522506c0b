// Docker for the container tests, from Debian's packages (scripts/install-docker.sh): a dockerd of
// the test's own on a private socket with no bridge, NAT or iptables changes (containers use the
// host's network, so nothing leaves this machine), an image with Python built here from this
// machine's own python3 (no public registry is reachable), and a private registry on loopback that
// requires a password.
import { execFile, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const DOCKERD = '/usr/sbin/dockerd';

export interface Docker {
  /** DOCKER_HOST for clients of this engine. */
  host: string;
  /** Runs `docker ARGS` against this engine; rejects with its output when it fails. */
  run(args: string[], o?: { input?: string | Buffer; env?: Record<string, string> }): Promise<string>;
  close(): Promise<void>;
}

/** Why these tests can't run here, or undefined when they can. Missing packages are an error (CI installs them), not a reason. */
export function dockerUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'dockerd needs root';
  return undefined;
}

function checkInstalled(): void {
  const missing = [DOCKERD, 'docker-registry', 'htpasswd'].filter((c) => {
    try {
      execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) throw new Error(`${missing.join(', ')} missing: run scripts/install-docker.sh`);
}

export async function startDocker(): Promise<Docker> {
  checkInstalled();
  // Short: dockerd's and containerd's sockets live under it.
  const dir = fs.mkdtempSync('/tmp/mr-dk-');
  const sock = path.join(dir, 'docker.sock');
  const log = fs.openSync(path.join(dir, 'dockerd.log'), 'w');
  const child = spawn(
    DOCKERD,
    [
      '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'dockerd.pid'),
      '-H', `unix://${sock}`, '--bridge=none', '--iptables=false', '--ip-forward=false', '--ip-masq=false', '--userland-proxy=false',
    ],
    { stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  let exited = false;
  child.on('exit', () => (exited = true));
  const host = `unix://${sock}`;
  const run: Docker['run'] = (args, o = {}) =>
    new Promise((resolve, reject) => {
      const c = execFile('docker', args, { env: { ...process.env, DOCKER_HOST: host, ...o.env }, maxBuffer: 64 << 20 }, (e, stdout, stderr) =>
        e ? reject(new Error(`docker ${args.join(' ')}: ${stderr || e.message}`)) : resolve(stdout),
      );
      c.stdin!.end(o.input ?? '');
    });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`dockerd exited: ${fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8').trim().split('\n').slice(-3).join(' | ')}`);
    if (fs.existsSync(sock) && (await run(['info', '--format', '{{.ServerVersion}}']).then(() => true, () => false))) break;
    if (Date.now() > deadline) throw new Error('dockerd did not answer within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    run,
    async close() {
      // Whatever a test left running goes with the engine.
      const ids = (await run(['ps', '-aq']).catch(() => '')).split('\n').filter(Boolean);
      if (ids.length) await run(['rm', '-f', ...ids]).catch(() => undefined);
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 15_000))]);
        if (!exited) child.kill('SIGKILL');
      }
      // What dockerd leaves mounted (its default network namespace's bind mount) must go before the folder can.
      const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m?.startsWith(dir + '/'));
      for (const m of mounts.reverse()) execFileSync('umount', ['-l', m]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * An image holding this machine's Python 3 (the interpreter, its standard library and the shared
 * libraries they load) and nothing else, made with `docker import`. A few MB compressed; no shell.
 */
export async function buildPythonImage(docker: Docker, name: string, extraFiles: Record<string, string> = {}): Promise<void> {
  const python = fs.realpathSync('/usr/bin/python3');
  const version = path.basename(python).replace(/^python/, '');
  const stdlib = `/usr/lib/python${version}`;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mr-rootfs-'));
  // The tar's "." is the image's /: 0755 as in any image, not mkdtemp's 0700 (which a storage
  // driver such as vfs keeps, so that a job running as a user could not reach /).
  fs.chmodSync(root, 0o755);
  try {
    const copy = (file: string) => {
      const to = path.join(root, file);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.cpSync(file, to, { dereference: true });
    };
    copy(python);
    fs.symlinkSync(path.basename(python), path.join(root, 'usr/bin/python3'));
    const skip = new Set(['test', 'idlelib', 'tkinter', 'turtledemo', 'ensurepip', 'lib2to3', '__pycache__', 'pydoc_data']);
    fs.cpSync(stdlib, path.join(root, stdlib), { recursive: true, filter: (src) => !skip.has(path.basename(src)) });
    // The shared libraries of the interpreter and its extension modules, as ldd finds them.
    const objects = [python, ...fs.readdirSync(path.join(stdlib, 'lib-dynload')).map((f) => path.join(stdlib, 'lib-dynload', f))];
    const libs = new Set<string>();
    for (const line of execFileSync('ldd', objects, { encoding: 'utf8' }).split('\n')) {
      const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
      if (m) libs.add(m[1]);
    }
    for (const lib of libs) copy(lib);
    fs.mkdirSync(path.join(root, 'tmp'), { mode: 0o1777 });
    fs.chmodSync(path.join(root, 'tmp'), 0o1777);
    for (const [file, content] of Object.entries(extraFiles)) {
      fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      fs.writeFileSync(path.join(root, file), content);
    }
    const tar = execFileSync('tar', ['-C', root, '-c', '.'], { maxBuffer: 512 << 20 });
    await docker.run(['import', '-', name], { input: tar });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export interface Registry {
  /** host:port, as image references name it. */
  address: string;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Debian's docker-registry on 127.0.0.1, requiring `user`/`password` (htpasswd, bcrypt) when given, else open. */
export async function startRegistry(user?: string, password?: string): Promise<Registry> {
  checkInstalled();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mr-registry-'));
  if (user) {
    const htpasswd = execFileSync('htpasswd', ['-Bbn', user, password ?? ''], { encoding: 'utf8' });
    fs.writeFileSync(path.join(dir, 'htpasswd'), htpasswd, { mode: 0o600 });
  }
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${dir}/data`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(user ? ['auth:', '  htpasswd:', '    realm: meadowrun-test', `    path: ${dir}/htpasswd`] : []),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'config.yml'), config);
  const log = fs.openSync(path.join(dir, 'registry.log'), 'w');
  const child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited = false;
  child.on('exit', () => (exited = true));
  const deadline = Date.now() + 15_000;
  // Ready when /v2/ asks for credentials (or, open, answers).
  while ((await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status, () => 0)) !== (user ? 401 : 200)) {
    if (exited || Date.now() > deadline) throw new Error(`docker-registry did not start: ${fs.readFileSync(path.join(dir, 'registry.log'), 'utf8').slice(-500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address: `127.0.0.1:${port}`,
    async close() {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Pushes a local image to the registry as `ref` (logging in through a throw-away config, when `user` is given), then removes the local copies so that a job must pull it. */
export async function pushImage(docker: Docker, local: string, ref: string, registry: string, user: string, password: string): Promise<void> {
  const config = fs.mkdtempSync(path.join(os.tmpdir(), 'mr-docker-config-'));
  try {
    const env = { DOCKER_CONFIG: config };
    if (user) await docker.run(['login', '--username', user, '--password-stdin', registry], { input: password, env });
    await docker.run(['tag', local, ref]);
    await docker.run(['push', ref], { env });
    await docker.run(['rmi', ref]);
  } finally {
    fs.rmSync(config, { recursive: true, force: true });
  }
}
