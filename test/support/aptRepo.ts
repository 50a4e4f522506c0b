// What emulated instances install Docker from, and reach a registry through, in the tests: a local
// apt repository (scripts/install-docker-apt-repo.sh downloads Debian 12's docker.io and what it
// needs into .tools) served over HTTP on an address the test's machine host made (its gateway),
// and a TCP forwarder from that address to a service on this machine's loopback. Nothing else is
// reachable from the instances' namespaces.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');

/** The repository's folder (a flat repository: the .debs and a Packages index), built when missing. */
export function dockerAptRepo(): string {
  const out = execFileSync('bash', [path.join(root, 'scripts/install-docker-apt-repo.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop()!;
}

export interface AptRepos {
  /** The apt sources line of repository `name`. */
  source(name: string): string;
  /** Paths asked for, in order. */
  requests: string[];
  /** Holds the answers for files matching `file` until the returned function is called. */
  hold(file: RegExp): () => void;
  /** How long answers were held, in ms (what a measurement of the installation should leave out). */
  heldMs(): number;
  close(): Promise<void>;
}

/**
 * Serves flat repositories on `host`: each name maps to a folder, or to null for one whose index is
 * empty (a mirror that lacks the package). No Release file: the sources say `[trusted=yes]`.
 */
export async function serveAptRepos(host: string, repos: Record<string, string | null>): Promise<AptRepos> {
  const requests: string[] = [];
  const holds: { file: RegExp; open: Promise<void> }[] = [];
  let heldMs = 0;
  const server = http.createServer(async (req, res) => {
    const url = path.posix.normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    requests.push(url);
    const [, name, ...rest] = url.split('/');
    const file = rest.join('/');
    if (!(name in repos) || !file || file.includes('/') || file.startsWith('.')) return void res.writeHead(404).end();
    const dir = repos[name];
    if (dir === null) return void (file === 'Packages' ? res.writeHead(200).end('') : res.writeHead(404).end());
    const full = path.join(dir, file);
    if (!fs.existsSync(full)) return void res.writeHead(404).end();
    for (const h of holds) {
      if (!h.file.test(file)) continue;
      const t0 = Date.now();
      await h.open;
      heldMs += Date.now() - t0;
    }
    res.writeHead(200, { 'content-length': fs.statSync(full).size });
    fs.createReadStream(full).pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    source: (name) => `deb [trusted=yes] http://${host}:${port}/${name}/ ./\n`,
    requests,
    hold(file) {
      let release!: () => void;
      holds.push({ file, open: new Promise<void>((r) => (release = r)) });
      return release;
    },
    heldMs: () => heldMs,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface Forwarder {
  /** host:port where it listens. */
  address: string;
  close(): Promise<void>;
}

/** Listens on `host` (a free port) and forwards every connection to `to` (host:port). */
export async function forwardTcp(host: string, to: string): Promise<Forwarder> {
  const [toHost, toPort] = [to.slice(0, to.lastIndexOf(':')), Number(to.slice(to.lastIndexOf(':') + 1))];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(toPort, toHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return {
    address: `${host}:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
