// Deployments: which libraries a job needs on the instance, read from the project's files.
// Lock files become exact pins here, without uv or poetry: the TOML is parsed outside core/ (with
// smol-toml) and handed in as plain objects; requirements files are read through a callback.
// The result is one requirements file for pip (plus constraints), which the agent turns into a
// virtual environment once per content hash.

import { MeadowrunError } from './errors';

/**
 * Where a job's libraries come from. `auto` picks the first project file found, in DETECTION_ORDER;
 * `mirror` installs what the local interpreter has.
 */
export type DeploymentKind = 'auto' | 'mirror' | 'uv' | 'pylock' | 'poetry' | 'requirements' | 'pyproject' | 'conda' | 'image' | 'none';

export const DEPLOYMENT_KINDS: DeploymentKind[] = ['auto', 'mirror', 'uv', 'pylock', 'poetry', 'requirements', 'pyproject', 'conda', 'image', 'none'];

export interface DeploymentChoice {
  kind: DeploymentKind;
  /** The file to read, relative to the project (default: the kind's usual file name). */
  file?: string;
  /** `image`: the container image the job runs in (core/containers.ts), and the secret with its registry's credentials. */
  image?: string;
  imageSecret?: string;
}

/** The project files `auto` looks for, most exact first. */
export const DETECTION_ORDER: { kind: FileKind; file: string }[] = [
  { kind: 'uv', file: 'uv.lock' },
  { kind: 'pylock', file: 'pylock.toml' },
  { kind: 'poetry', file: 'poetry.lock' },
  { kind: 'requirements', file: 'requirements.txt' },
  { kind: 'pyproject', file: 'pyproject.toml' },
  { kind: 'conda', file: 'environment.yml' },
];

/** The kinds read from a project file. */
export type FileKind = Exclude<DeploymentKind, 'auto' | 'none' | 'mirror' | 'image'>;

export function defaultFile(kind: FileKind): string {
  return DETECTION_ORDER.find((d) => d.kind === kind)!.file;
}

/**
 * `auto`, `none`, `uv`, …, or `requirements=FILE` (any kind reading a file may name it that way), or
 * `image=REF` (`image REF` too).
 */
export function parseDeploymentChoice(text: string): DeploymentChoice {
  const image = /^\s*image(?:\s*=\s*|\s+)(\S*)\s*$/.exec(text);
  if (image) {
    if (!image[1]) throw new MeadowrunError(`Deployment "${text}": name the image, e.g. image=python:3.12-slim`, 'bad-deployment');
    return { kind: 'image', image: image[1] };
  }
  const eq = text.indexOf('=');
  const kind = (eq < 0 ? text : text.slice(0, eq)).trim() as DeploymentKind;
  const file = eq < 0 ? undefined : text.slice(eq + 1).trim();
  if (!DEPLOYMENT_KINDS.includes(kind)) {
    throw new MeadowrunError(`Unknown deployment "${text}": use one of ${DEPLOYMENT_KINDS.join(', ')} (requirements=FILE names the file, image=REF the image)`, 'bad-deployment');
  }
  if (kind === 'image') throw new MeadowrunError(`Deployment "${text}": name the image, e.g. image=python:3.12-slim`, 'bad-deployment');
  if (file !== undefined && (kind === 'auto' || kind === 'none' || kind === 'mirror' || !file)) {
    throw new MeadowrunError(`Deployment "${text}": only uv, pylock, poetry, requirements, pyproject and conda take a file`, 'bad-deployment');
  }
  return file ? { kind, file } : { kind };
}

/** What the agent builds a virtual environment from (see agent/environments.ts). */
export interface EnvironmentSpec {
  /** Where the libraries came from, for people: "uv.lock", "requirements.txt". */
  source: string;
  /** A requirements file for pip: exact pins from a lock, or the project's requirements flattened. */
  requirements: string;
  /** Constraints (`-c` files of a requirements file), flattened. */
  constraints?: string;
  /** A conda environment (environment.yml) that micromamba creates first; `requirements` are then its pip part. */
  conda?: { channels: string[]; dependencies: string[] };
  /** The package index (default: pip's own configuration); extra indexes beside it. */
  indexUrl?: string;
  extraIndexUrls?: string[];
  /**
   * The user secret (core/secrets.ts) holding the indexes' credentials: its name only; the
   * instance reads the value itself, and hands it to pip in a netrc file.
   */
  indexSecret?: string;
}

/** What the agent says about a job's environment while it starts. */
export type EnvironmentEvent =
  | { kind: 'building'; hash: string; source: string }
  | { kind: 'log'; line: string }
  | { kind: 'built'; hash: string; seconds: number }
  | { kind: 'reused'; hash: string }
  /** A container image being pulled to the instance (its output as `log` events), then pulled. */
  | { kind: 'pulling'; image: string }
  | { kind: 'pulled'; image: string; seconds: number }
  /** Docker Engine being installed on the instance for the first job in an image (its output as `log` events), then installed. */
  | { kind: 'installing-docker' }
  | { kind: 'docker-installed'; seconds: number };

/**
 * The text whose hash names an environment: what is installed, and on which Python and platform.
 * Index URLs are left out: the same pins from a mirror are the same environment.
 */
export function environmentKey(spec: EnvironmentSpec, python: string): string {
  // A conda environment is keyed by its specs too (and only then, so venv keys stay as they were).
  return JSON.stringify({ v: 1, requirements: spec.requirements, constraints: spec.constraints ?? '', python, ...(spec.conda ? { conda: spec.conda } : {}) });
}

/** Why `python -m venv` failed, in a line: Debian and Ubuntu ship venv's pip in a package of its own. */
export function venvFailure(log: string): string {
  if (/ensurepip is not\s+available/.test(log)) {
    return "the instance's Python can't create virtual environments with pip (on Debian and Ubuntu: apt-get install python3-venv)";
  }
  return failingLine(log);
}

/** The line of pip's output that says why it failed: its last ERROR line, else its last line. */
export function failingLine(log: string): string {
  const lines = log.split('\n').map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => l.startsWith('ERROR:'));
  return (errors.pop() ?? lines.pop() ?? 'pip failed with no output').replace(/^ERROR:\s*/, '');
}

// ---------------------------------------------------------------------------------------------
// Pins from lock files

interface Pin {
  name: string;
  /** `name==version`, or `name @ url` for a direct URL. */
  requirement: string;
  marker?: string;
  hashes: string[];
}

type Table = Record<string, unknown>;

const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v);
const tables = (v: unknown): Table[] => (Array.isArray(v) ? v.filter(isTable) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** PEP 503 normalised name: what pip and the lock files compare. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

function lockError(file: string, why: string): MeadowrunError {
  return new MeadowrunError(`${file}: ${why}`, 'bad-deployment');
}

/** A requirements file of exact pins; hashes are kept only when every pin has some (pip checks all or none). */
function pinsToRequirements(pins: Pin[]): string {
  const withHashes = pins.length > 0 && pins.every((p) => p.hashes.length > 0);
  const lines = [...pins]
    // By normalised name, not by locale: the text is hashed, and must not differ between machines.
    .sort((a, b) => (normalizeName(a.name) < normalizeName(b.name) ? -1 : normalizeName(a.name) > normalizeName(b.name) ? 1 : 0))
    .map((p) => {
      let line = p.requirement + (p.marker ? ` ; ${p.marker}` : '');
      if (withHashes) line += p.hashes.map((h) => ` \\\n    --hash=${h}`).join('');
      return line;
    });
  return lines.join('\n') + (lines.length ? '\n' : '');
}

const and = (a: string | undefined, b: string | undefined) => (a && b ? `(${a}) and (${b})` : a || b);

/**
 * uv.lock (lock format version 1): a universal lock. Starting from the project's own packages
 * (editable or virtual sources, whose code is synced rather than installed), the dependency graph
 * is walked so that each package installs under the markers of the paths that reach it; a package
 * locked at two versions for two sets of markers gets each under its own. Runtime dependencies
 * only, with extras asked for on the way; dev groups are left out.
 */
export function pinsFromUvLock(doc: unknown, file = 'uv.lock'): string {
  if (!isTable(doc) || !Array.isArray(doc.package)) throw lockError(file, 'not a uv lock file (no [[package]] entries)');
  if (typeof doc.version === 'number' && doc.version !== 1) throw lockError(file, `lock format version ${doc.version} is not supported (version 1 is)`);
  const packages = tables(doc.package);
  const byName = new Map<string, Table[]>();
  for (const p of packages) {
    const name = normalizeName(str(p.name) ?? '');
    byName.set(name, [...(byName.get(name) ?? []), p]);
  }
  const isProject = (p: Table) => isTable(p.source) && (p.source.editable !== undefined || p.source.virtual !== undefined);
  const find = (dep: Table): Table | undefined => {
    const candidates = byName.get(normalizeName(str(dep.name) ?? '')) ?? [];
    return dep.version === undefined ? candidates[0] : candidates.find((c) => c.version === dep.version);
  };
  const roots = packages.filter(isProject);
  // Markers under which each package is reached: '' means always.
  const reached = new Map<Table, Set<string>>();
  const visited = new Set<string>();
  const walk = (p: Table, marker: string | undefined, extras: string[]) => {
    const key = `${str(p.name)}@${str(p.version)}|${marker ?? ''}|${extras.join(',')}`;
    if (visited.has(key)) return;
    visited.add(key);
    if (!isProject(p)) {
      const set = reached.get(p) ?? new Set<string>();
      reached.set(p, set);
      if (set.has('')) return; // already unconditional, and its dependencies with it
      set.add(marker ?? '');
    }
    const optional = isTable(p['optional-dependencies']) ? p['optional-dependencies'] : {};
    const deps = [...tables(p.dependencies), ...extras.flatMap((e) => tables(optional[e]))];
    for (const dep of deps) {
      const target = find(dep);
      if (!target) throw lockError(file, `${str(p.name)} depends on ${str(dep.name)}, which the lock does not list`);
      const depExtras = Array.isArray(dep.extra) ? dep.extra.filter((e): e is string => typeof e === 'string') : [];
      walk(target, and(marker, str(dep.marker)), depExtras);
    }
  };
  if (roots.length) for (const r of roots) walk(r, undefined, []);
  else for (const p of packages) walk(p, undefined, []);

  const pins: Pin[] = [];
  for (const [p, markers] of reached) {
    const name = str(p.name)!;
    const source = isTable(p.source) ? p.source : {};
    const hashes = [...tables(p.wheels), ...(isTable(p.sdist) ? [p.sdist] : [])].map((f) => str(f.hash)).filter((h): h is string => !!h);
    let requirement = `${name}==${str(p.version)}`;
    if (source.url !== undefined) requirement = `${name} @ ${str(source.url)}`;
    else if (source.registry === undefined) {
      const kind = Object.keys(source)[0] ?? 'an unknown source';
      throw lockError(file, `${name} comes from ${kind} (${String(Object.values(source)[0] ?? '')}); only packages from an index or a URL can be installed on the instance yet`);
    }
    const marker = markers.has('') ? undefined : [...markers].map((m) => (markers.size > 1 ? `(${m})` : m)).join(' or ');
    pins.push({ name, requirement, marker, hashes });
  }
  return pinsToRequirements(pins);
}

/** `{ sha256 = "…" }` → `sha256:…`, the form pip's --hash takes. */
function pylockHashes(v: unknown): string[] {
  return isTable(v) ? Object.entries(v).filter(([, h]) => typeof h === 'string').map(([alg, h]) => `${alg}:${h as string}`) : [];
}

/**
 * pylock.toml (PEP 751, lock-version 1.x): each package already carries the marker under which it
 * installs. Packages from a directory (the project itself, or a local package) are synced code,
 * not installed; VCS packages are not supported yet.
 */
export function pinsFromPylock(doc: unknown, file = 'pylock.toml'): string {
  if (!isTable(doc) || !Array.isArray(doc.packages)) throw lockError(file, 'not a pylock file (no [[packages]] entries)');
  const version = str(doc['lock-version']);
  if (version && !version.startsWith('1.')) throw lockError(file, `lock-version ${version} is not supported (1.x is)`);
  const pins: Pin[] = [];
  for (const p of tables(doc.packages)) {
    const name = str(p.name);
    if (!name) throw lockError(file, 'a package without a name');
    if (isTable(p.directory)) continue;
    if (isTable(p.vcs)) throw lockError(file, `${name} comes from version control (${str(p.vcs.url)}); only packages from an index or a URL can be installed on the instance yet`);
    const files = [...tables(p.wheels), ...(isTable(p.sdist) ? [p.sdist] : [])];
    const hashes = files.flatMap((f) => pylockHashes(f.hashes));
    let requirement = `${name}==${str(p.version)}`;
    if (isTable(p.archive)) {
      requirement = `${name} @ ${str(p.archive.url)}`;
      hashes.push(...pylockHashes(p.archive.hashes));
    } else if (!str(p.version)) throw lockError(file, `${name} has no version`);
    pins.push({ name, requirement, marker: str(p.marker), hashes });
  }
  return pinsToRequirements(pins);
}

/**
 * poetry.lock (lock-version 1.x and 2.x): the packages of the main group (poetry 2's `groups`,
 * poetry 1's `category`; a lock with neither lists them all), with their markers.
 */
export function pinsFromPoetryLock(doc: unknown, file = 'poetry.lock'): string {
  if (!isTable(doc) || !Array.isArray(doc.package)) throw lockError(file, 'not a poetry lock file (no [[package]] entries)');
  const pins: Pin[] = [];
  for (const p of tables(doc.package)) {
    const name = str(p.name);
    if (!name || !str(p.version)) throw lockError(file, 'a package without a name or version');
    const groups = Array.isArray(p.groups) ? p.groups : undefined;
    if (groups ? !groups.includes('main') : p.category !== undefined && p.category !== 'main') continue;
    const source = isTable(p.source) ? p.source : undefined;
    const type = str(source?.type);
    let requirement = `${name}==${str(p.version)}`;
    if (type === 'url') requirement = `${name} @ ${str(source!.url)}`;
    else if (type && type !== 'legacy') {
      throw lockError(file, `${name} comes from a ${type} source (${str(source!.url)}); only packages from an index or a URL can be installed on the instance yet`);
    }
    const marker = isTable(p.markers) ? str(p.markers.main) : str(p.markers);
    const hashes = tables(p.files).map((f) => str(f.hash)).filter((h): h is string => !!h);
    pins.push({ name, requirement, marker, hashes });
  }
  return pinsToRequirements(pins);
}

/** pyproject.toml's PEP 621 `[project].dependencies`, as requirement lines (ranges, not pins: pip resolves them). */
export function requirementsFromPyproject(doc: unknown, file = 'pyproject.toml'): string {
  const project = isTable(doc) && isTable(doc.project) ? doc.project : undefined;
  if (!project) throw lockError(file, 'no [project] table (PEP 621)');
  if (Array.isArray(project.dynamic) && project.dynamic.includes('dependencies')) {
    throw lockError(file, 'its dependencies are dynamic (computed by the build backend); list them in [project].dependencies or use a lock or requirements file');
  }
  const deps = Array.isArray(project.dependencies) ? project.dependencies : [];
  if (!deps.every((d) => typeof d === 'string')) throw lockError(file, '[project].dependencies must be a list of strings');
  return deps.map((d) => `${d}\n`).join('');
}

/** Whether a pyproject.toml names any dependencies (so that `auto` picks it). */
export function pyprojectHasDependencies(doc: unknown): boolean {
  return isTable(doc) && isTable(doc.project) && Array.isArray(doc.project.dependencies) && doc.project.dependencies.length > 0;
}

// ---------------------------------------------------------------------------------------------
// The local interpreter, mirrored

/** One installed distribution, as the local interpreter's importlib.metadata describes it. */
export interface InstalledDistribution {
  name: string;
  version: string;
  /** From direct_url.json (PEP 610): where it was installed from, when not from an index. */
  url?: string;
  editable?: boolean;
}

/** What `pip freeze` leaves out too: the instance's environment has its own installer. */
const INSTALLER_PACKAGES = new Set(['pip', 'setuptools', 'wheel', 'distribute']);

/**
 * Pins for what a local interpreter has installed. A package installed from a folder of the
 * project (the project itself, editable) is synced code, not installed; one from a folder or
 * file elsewhere can't be reproduced yet and is refused by name; one from a remote URL is
 * installed from it.
 */
export function pinsFromInstalled(dists: InstalledDistribution[], python: string, inProject: (fileUrl: string) => boolean): string {
  const pins: Pin[] = [];
  const seen = new Set<string>();
  for (const d of dists) {
    const key = normalizeName(d.name);
    if (INSTALLER_PACKAGES.has(key) || seen.has(key)) continue;
    seen.add(key);
    if (d.url?.startsWith('file:')) {
      if (inProject(d.url)) continue;
      throw new MeadowrunError(
        `${python} has ${d.name} installed from ${d.url}${d.editable ? ' (editable)' : ''}: local packages outside the project can't be mirrored yet; move it into the project, or publish it to an index`,
        'bad-deployment',
      );
    }
    pins.push({ name: d.name, requirement: d.url ? `${d.name} @ ${d.url}` : `${d.name}==${d.version}`, hashes: [] });
  }
  return pinsToRequirements(pins);
}

// ---------------------------------------------------------------------------------------------
// requirements.txt

export interface RequirementsFiles {
  requirements: string;
  constraints: string;
  indexUrl?: string;
  extraIndexUrls: string[];
}

/**
 * A requirements file with its `-r` includes and `-c` constraints (relative to the file naming
 * them) flattened into one requirements text and one constraints text: lines joined where they end
 * in `\`, comments dropped, hashes and global options kept. `-i`/`--extra-index-url` are taken
 * out, so that the configured index can override them. Editable and local-path requirements are
 * refused: the instance has only the synced project, not other folders.
 */
export function flattenRequirements(entry: string, read: (file: string) => string, join: (dir: string, rel: string) => string, dirname: (file: string) => string): RequirementsFiles {
  const out: RequirementsFiles = { requirements: '', constraints: '', extraIndexUrls: [] };
  const seen = new Set<string>();
  const visit = (file: string, asConstraints: boolean, from?: string) => {
    if (seen.has(`${asConstraints}:${file}`)) return;
    seen.add(`${asConstraints}:${file}`);
    let text: string;
    try {
      text = read(file);
    } catch (e) {
      throw new MeadowrunError(`Cannot read ${file}${from ? ` (named in ${from})` : ''}: ${(e as Error).message}`, 'bad-deployment');
    }
    // Lines ending in `\` go on on the next one; a line is named by where it starts.
    const lines: { text: string; number: number }[] = [];
    let open: { text: string; number: number } | undefined;
    text.split(/\r?\n/).forEach((raw, i) => {
      const piece = open ? raw.trim() : raw;
      open = open ? { text: `${open.text} ${piece}`, number: open.number } : { text: piece, number: i + 1 };
      if (/\\$/.test(open.text)) open.text = open.text.replace(/\s*\\$/, '');
      else {
        lines.push(open);
        open = undefined;
      }
    });
    if (open) lines.push(open);
    lines.forEach(({ text: raw, number }) => {
      const line = raw.replace(/(^|\s)#.*$/, '').trim();
      if (!line) return;
      const where = `${file}, line ${number}`;
      const option = /^(-[rcie]|--requirement|--constraint|--index-url|--extra-index-url|--editable)(?:\s*=\s*|\s+)(.+)$/.exec(line);
      if (option) {
        const [, flag, value] = option;
        if (flag === '-r' || flag === '--requirement') return visit(join(dirname(file), value), asConstraints, file);
        if (flag === '-c' || flag === '--constraint') return visit(join(dirname(file), value), true, file);
        if (flag === '-i' || flag === '--index-url') return void (out.indexUrl ??= value);
        if (flag === '--extra-index-url') return void out.extraIndexUrls.push(value);
        throw new MeadowrunError(`${where}: editable requirements (${line}) are not supported on the instance yet; the project folder itself is synced`, 'bad-deployment');
      }
      if (/^(\.{1,2}\/|\/|file:)/.test(line)) {
        throw new MeadowrunError(`${where}: a local path (${line}) can't be installed on the instance; publish it to an index, or keep it inside the project`, 'bad-deployment');
      }
      if (asConstraints) out.constraints += `${line}\n`;
      else out.requirements += `${line}\n`;
    });
  };
  visit(entry, false);
  return out;
}
