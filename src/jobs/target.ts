import * as fs from 'fs';
import * as path from 'path';
import { MeadowrunError } from '../core/errors';

/** Where a function lives: a file in the project, or a module importable on the instance. */
export interface FunctionTarget {
  /** As the instance should see it: a project-relative POSIX path, or a dotted module name. */
  module: string;
  function: string;
  /** The local file, when the module is one of the project's. */
  localFile?: string;
}

/** Parses `path/to/file.py:function` or `package.module:function`. */
export function parseFunctionTarget(target: string, projectDir: string): FunctionTarget {
  const colon = target.lastIndexOf(':');
  const module = target.slice(0, colon);
  const fn = target.slice(colon + 1);
  if (colon < 1 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(fn)) {
    throw new MeadowrunError(`Expected FILE.py:FUNCTION or package.module:FUNCTION, got "${target}"`, 'bad-target');
  }
  if (isFilePath(module)) {
    return { module: projectPath(module, projectDir), function: fn, localFile: path.resolve(projectDir, module) };
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(module)) {
    throw new MeadowrunError(`"${module}" is neither a .py file nor a module name`, 'bad-target');
  }
  const base = path.join(projectDir, ...module.split('.'));
  const localFile = [`${base}.py`, path.join(base, '__init__.py')].find((f) => fs.existsSync(f));
  return { module, function: fn, localFile };
}

/** A target as typed on a command line, its file (if any) made absolute against the current folder. */
export function absoluteTarget(target: string): string {
  const colon = target.lastIndexOf(':');
  const module = target.slice(0, colon);
  return colon > 0 && isFilePath(module) ? `${path.resolve(module)}${target.slice(colon)}` : target;
}

export function isFilePath(module: string): boolean {
  return module.endsWith('.py') || module.includes('/') || module.includes(path.sep);
}

/** A file of the project (absolute, or relative to the project) as a POSIX path relative to the project folder. */
export function projectPath(file: string, projectDir: string): string {
  const abs = path.resolve(projectDir, file);
  const rel = path.relative(path.resolve(projectDir), abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new MeadowrunError(`${file} is outside the project folder ${projectDir}; run from the project or pass --project`, 'bad-target');
  }
  if (!fs.existsSync(abs)) throw new MeadowrunError(`No such file: ${file}`, 'not-found');
  return rel.split(path.sep).join('/');
}

/**
 * A file of a git repository the instance fetches (`--git`): a relative POSIX path inside it, not
 * checked here. An absolute path (the editor's) is taken relative to `projectDir`, the local checkout.
 */
export function repositoryFile(file: string, projectDir?: string): string {
  const local = projectDir && path.isAbsolute(file) ? path.relative(projectDir, file) : file;
  const rel = path.posix.normalize(local.split(path.sep).join('/'));
  if (path.posix.isAbsolute(rel) || rel === '..' || rel.startsWith('../')) {
    throw new MeadowrunError(`${file} is not a path inside the repository: name it relative to the repository's root`, 'bad-target');
  }
  return rel;
}

/** `FILE.py:function` or `module:function` in a git repository the instance fetches. */
export function repositoryTarget(target: string, projectDir?: string): string {
  const colon = target.lastIndexOf(':');
  const module = target.slice(0, colon);
  const fn = target.slice(colon + 1);
  if (colon < 1 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(fn)) {
    throw new MeadowrunError(`Expected FILE.py:FUNCTION or package.module:FUNCTION, got "${target}"`, 'bad-target');
  }
  if (isFilePath(module)) return `${repositoryFile(module, projectDir)}:${fn}`;
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(module)) throw new MeadowrunError(`"${module}" is neither a .py file nor a module name`, 'bad-target');
  return target;
}
