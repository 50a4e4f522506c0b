// Conda deployments: a project's environment.yml, read here (pure), built on the instance with
// micromamba (one static binary, no base installation). environment.yml is YAML, but the files
// conda writes and people keep use a small part of it: a mapping of `name`, `channels`,
// `dependencies` (with one nested `pip:` list) and a few others. That part is read here; anything
// else is refused by line, so that nothing is silently misread.

import { MeadowrunError } from './errors';

export interface CondaEnvironment {
  name?: string;
  channels: string[];
  /** Conda match specs: `python=3.11`, `numpy>=1.26`, `conda-forge::pandas`. */
  dependencies: string[];
  /** The `pip:` entry's requirements, installed with the environment's pip afterwards. */
  pip: string[];
}

type Value = string | Value[] | { [key: string]: Value };

function unquote(text: string, where: string): string {
  const t = text.trim();
  if ((t.startsWith('"') && t.endsWith('"') && t.length >= 2) || (t.startsWith("'") && t.endsWith("'") && t.length >= 2)) return t.slice(1, -1);
  if (/^["']/.test(t)) throw new MeadowrunError(`${where}: an unterminated quoted string`, 'bad-deployment');
  return t;
}

/** A comment starts at a '#' that begins the line or follows a space, outside quotes. */
function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i);
  }
  return line;
}

function scalar(text: string, where: string): Value {
  const t = text.trim();
  if (t.startsWith('[')) {
    if (!t.endsWith(']')) throw new MeadowrunError(`${where}: a [list] that does not end on its line`, 'bad-deployment');
    const inner = t.slice(1, -1).trim();
    return inner ? inner.split(',').map((x) => unquote(x, where)) : [];
  }
  if (/^[{&*!|>]/.test(t)) throw new MeadowrunError(`${where}: "${t}" uses YAML that environment.yml files don't need (flow mappings, anchors, tags, block scalars); write it as a plain list`, 'bad-deployment');
  return unquote(t, where);
}

/** The YAML subset environment.yml files use, as plain values. */
export function parseSimpleYaml(text: string, file: string): { [key: string]: Value } {
  const lines = text
    .split(/\r?\n/)
    .map((raw, i) => ({ number: i + 1, text: stripComment(raw).replace(/\s+$/, '') }))
    .filter((l) => l.text.trim() && l.text.trim() !== '---');
  let at = 0;
  const indentOf = (l: { text: string }) => l.text.length - l.text.trimStart().length;
  const where = (l: { number: number }) => `${file}, line ${l.number}`;

  // A block (mapping or list) whose lines are indented exactly `indent`.
  const block = (indent: number): Value => {
    const first = lines[at];
    if (first.text.includes('\t')) throw new MeadowrunError(`${where(first)}: a tab in the indentation (YAML allows spaces only)`, 'bad-deployment');
    const isList = first.text.trimStart().startsWith('- ') || first.text.trim() === '-';
    const list: Value[] = [];
    const map: { [key: string]: Value } = {};
    while (at < lines.length) {
      const line = lines[at];
      const ind = indentOf(line);
      if (ind < indent) break;
      if (ind > indent) throw new MeadowrunError(`${where(line)}: unexpected indentation`, 'bad-deployment');
      const body = line.text.trim();
      if (isList) {
        if (!body.startsWith('-')) break; // a key of the mapping that holds this list, at the same indent
        at++;
        const item = body.slice(1).trim();
        const key = /^([A-Za-z0-9_.-]+):(?:\s+(.*))?$/.exec(item);
        if (key) {
          // `- pip:` and its list, deeper.
          const entry: { [k: string]: Value } = {};
          if (key[2] !== undefined) entry[key[1]] = scalar(key[2], where(line));
          else if (at < lines.length && indentOf(lines[at]) > indent) entry[key[1]] = block(indentOf(lines[at]));
          else entry[key[1]] = '';
          list.push(entry);
        } else list.push(scalar(item, where(line)));
      } else {
        const m = /^([A-Za-z0-9_.-]+):(?:\s+(.*))?$/.exec(body);
        if (!m) throw new MeadowrunError(`${where(line)}: expected "key: value" or a "- item" list`, 'bad-deployment');
        at++;
        if (m[2] !== undefined) map[m[1]] = scalar(m[2], where(line));
        else if (at < lines.length && (indentOf(lines[at]) > indent || (indentOf(lines[at]) === indent && lines[at].text.trimStart().startsWith('-')))) {
          map[m[1]] = block(indentOf(lines[at]));
        } else map[m[1]] = '';
      }
    }
    return isList ? list : map;
  };
  if (!lines.length) return {};
  const doc = block(indentOf(lines[0]));
  if (Array.isArray(doc) || typeof doc === 'string') throw new MeadowrunError(`${file}: expected a mapping with "dependencies:"`, 'bad-deployment');
  if (at < lines.length) throw new MeadowrunError(`${where(lines[at])}: unexpected indentation`, 'bad-deployment');
  return doc;
}

const strings = (v: Value | undefined, what: string, file: string): string[] => {
  if (v === undefined || v === '') return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new MeadowrunError(`${file}: "${what}" must be a list of strings`, 'bad-deployment');
  return v as string[];
};

/** environment.yml → what micromamba creates. `prefix:` (a path on the machine that wrote it) is ignored. */
export function parseEnvironmentYml(text: string, file = 'environment.yml'): CondaEnvironment {
  const doc = parseSimpleYaml(text, file);
  const deps = doc.dependencies;
  if (!Array.isArray(deps)) throw new MeadowrunError(`${file}: no "dependencies:" list`, 'bad-deployment');
  const dependencies: string[] = [];
  const pip: string[] = [];
  for (const d of deps) {
    if (typeof d === 'string') {
      if (d) dependencies.push(d);
    } else if (!Array.isArray(d) && Object.keys(d).length === 1 && 'pip' in d) pip.push(...strings(d.pip, 'pip', file));
    else throw new MeadowrunError(`${file}: a dependency that is neither a package nor "pip:" (${JSON.stringify(d)})`, 'bad-deployment');
  }
  if (pip.length && !dependencies.some((d) => /^(\S+::)?pip\b/.test(d))) dependencies.push('pip');
  if (!dependencies.some((d) => /^(\S+::)?python\b/.test(d))) dependencies.push('python');
  for (const p of pip) {
    if (/^(-e|--editable)\b|^(\.{1,2}\/|\/|file:)/.test(p)) throw new MeadowrunError(`${file}: the pip requirement "${p}" is a local path; only packages from an index can be installed on the instance`, 'bad-deployment');
  }
  return { ...(typeof doc.name === 'string' && doc.name ? { name: doc.name } : {}), channels: strings(doc.channels, 'channels', file), dependencies, pip };
}

/**
 * `micromamba create` for an environment at `prefix`: only the file's channels (none of a user's
 * .condarc), no questions. Specs go after `--`-free positional arguments; micromamba takes no option
 * after them, and a spec can't start with '-' (refused).
 */
export function micromambaCreateArgs(prefix: string, env: CondaEnvironment): string[] {
  for (const s of [...env.dependencies, ...env.channels]) {
    if (s.startsWith('-')) throw new MeadowrunError(`environment.yml: "${s}" is not a package or channel`, 'bad-deployment');
  }
  const channels = env.channels.length ? env.channels : ['conda-forge'];
  return ['create', '--yes', '--no-rc', '--prefix', prefix, '--override-channels', ...channels.flatMap((c) => ['--channel', c]), ...env.dependencies];
}
