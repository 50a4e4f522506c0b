// A package index of our own for tests: no public index is reachable (or wanted) from here. Tiny
// packages are written as sources, built into wheels with Debian's pip and setuptools, and
// served as a PEP 503 simple index on 127.0.0.1, which counts the files it hands out.
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './tempDir';

const run = promisify(execFile);

/** Debian's Python, which has setuptools and wheel (the pyenv one on PATH may not). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export interface TinyPackage {
  name: string;
  version: string;
  dependencies?: string[];
}

export interface BuiltFile {
  name: string;
  file: string;
  sha256: string;
}

/** The packages the deployment tests use: two versions of one, one depending on another. */
export const TINY_PACKAGES: TinyPackage[] = [
  { name: 'tinya', version: '1.0' },
  { name: 'tinya', version: '2.0' },
  { name: 'tinyb', version: '1.0', dependencies: ['tinya>=1'] },
  { name: 'tinyc', version: '0.1' },
];

async function build(p: TinyPackage, out: string): Promise<string> {
  const src = tempDir(`pkg-${p.name}-${p.version}`);
  const module = p.name.replace(/-/g, '_');
  fs.mkdirSync(path.join(src, module));
  fs.writeFileSync(path.join(src, module, '__init__.py'), `VERSION = ${JSON.stringify(p.version)}\nNAME = ${JSON.stringify(p.name)}\n`);
  fs.writeFileSync(
    path.join(src, 'pyproject.toml'),
    `[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n` +
      `[project]\nname = ${JSON.stringify(p.name)}\nversion = ${JSON.stringify(p.version)}\ndependencies = ${JSON.stringify(p.dependencies ?? [])}\n`,
  );
  const before = new Set(fs.readdirSync(out));
  const env = { ...process.env, PIP_NO_INPUT: '1', PIP_NO_INDEX: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
  await run(SYSTEM_PYTHON, ['-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index', '-w', out, src], { cwd: src, env });
  const made = fs.readdirSync(out).filter((f) => !before.has(f));
  if (made.length !== 1) throw new Error(`building ${p.name} ${p.version} made ${made.join(', ') || 'nothing'}`);
  return made[0];
}

export interface PackageIndex {
  /** `http://127.0.0.1:PORT/simple` */
  url: string;
  files: BuiltFile[];
  /** Files downloaded so far, by file name. */
  downloads: Map<string, number>;
  file(name: string, version: string): BuiltFile;
  /** Requests refused for want of the right password (with `auth`). */
  refused: number;
  /** Every Authorization header seen, to check credentials travel only where they should. */
  authorizations: string[];
  close(): Promise<void>;
}

export interface IndexOptions {
  /** HTTP basic authentication required for everything, as a private index does. */
  auth?: { user: string; password: string };
}

/** Builds `packages` and serves them; an unknown project is a 404, as on a real index. */
export async function startPackageIndex(packages: TinyPackage[] = TINY_PACKAGES, o: IndexOptions = {}): Promise<PackageIndex> {
  const out = tempDir('index');
  // One at a time: each build finds its file as the one that appeared.
  const built: BuiltFile[] = [];
  for (const p of packages) {
    const file = await build(p, out);
    const sha256 = crypto.createHash('sha256').update(fs.readFileSync(path.join(out, file))).digest('hex');
    built.push({ name: p.name, file, sha256 });
  }
  const downloads = new Map<string, number>();
  const normalize = (n: string) => n.toLowerCase().replace(/[-_.]+/g, '-');
  const expected = o.auth && `Basic ${Buffer.from(`${o.auth.user}:${o.auth.password}`).toString('base64')}`;
  const authorizations: string[] = [];
  const server = http.createServer((req, res) => {
    if (req.headers.authorization) authorizations.push(req.headers.authorization);
    if (expected && req.headers.authorization !== expected) {
      index.refused++;
      return void res.writeHead(401, { 'www-authenticate': 'Basic realm="test index"' }).end('unauthorized');
    }
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const project = /^\/simple\/([^/]+)\/?$/.exec(url);
    if (url === '/simple/' || url === '/simple') {
      res.setHeader('content-type', 'text/html');
      return res.end(`<!DOCTYPE html><html><body>${[...new Set(built.map((b) => normalize(b.name)))].map((n) => `<a href="/simple/${n}/">${n}</a>`).join('\n')}</body></html>`);
    }
    if (project) {
      const files = built.filter((b) => normalize(b.name) === normalize(project[1]));
      if (!files.length) return void res.writeHead(404).end('not found');
      res.setHeader('content-type', 'text/html');
      return res.end(`<!DOCTYPE html><html><body>${files.map((f) => `<a href="/files/${f.file}#sha256=${f.sha256}">${f.file}</a>`).join('\n')}</body></html>`);
    }
    const file = /^\/files\/([^/]+)$/.exec(url);
    if (file && built.some((b) => b.file === file[1])) {
      downloads.set(file[1], (downloads.get(file[1]) ?? 0) + 1);
      return fs.createReadStream(path.join(out, file[1])).pipe(res);
    }
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const index: PackageIndex = {
    url: `http://127.0.0.1:${port}/simple`,
    refused: 0,
    authorizations,
    files: built,
    downloads,
    file: (name, version) => {
      const f = built.find((b) => b.name === name && b.file.includes(`-${version}`));
      if (!f) throw new Error(`no ${name} ${version} in the index`);
      return f;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return index;
}
