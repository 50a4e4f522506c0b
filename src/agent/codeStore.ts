import * as fs from 'fs';
import * as path from 'path';
import * as tar from 'tar';
import { FileEntry } from '../remote/protocol';

/**
 * The user's project as synced to this instance, with a manifest of what each file's content
 * hash is, so that the client sends only files that changed.
 */
export class CodeStore {
  private readonly projectsDir: string;

  constructor(workDir: string) {
    this.projectsDir = path.join(workDir, 'projects');
  }

  projectDir(project: string): string {
    if (!/^[A-Za-z0-9._-]+$/.test(project) || project.startsWith('.')) throw new Error(`bad project name "${project}"`);
    return path.join(this.projectsDir, project);
  }

  /**
   * Where the client uploads a tarball too big to send inline. The directory is created here, as
   * the upload goes over SFTP before anything else on this instance has needed it.
   */
  uploadPath(project: string, jobId: string): string {
    this.projectDir(project);
    if (!/^[A-Za-z0-9_-]+$/.test(jobId)) throw new Error(`bad job id "${jobId}"`);
    fs.mkdirSync(this.projectsDir, { recursive: true, mode: 0o700 });
    return path.join(this.projectsDir, `.${project}.${jobId}.tgz`);
  }

  private manifestPath(project: string): string {
    return path.join(this.projectsDir, `.${project}.manifest.json`);
  }

  private manifest(project: string): Record<string, string> {
    try {
      return JSON.parse(fs.readFileSync(this.manifestPath(project), 'utf8'));
    } catch {
      return {};
    }
  }

  /** The paths whose content differs from what is here. */
  needed(project: string, files: FileEntry[]): string[] {
    const have = this.manifest(project);
    return files.filter((f) => have[f.path] !== f.hash).map((f) => f.path);
  }

  /** Unpacks the changed files, deletes the ones the client no longer has, and records the manifest. */
  async apply(project: string, files: FileEntry[], tarball: Buffer | string | undefined): Promise<void> {
    const dir = this.projectDir(project);
    fs.mkdirSync(dir, { recursive: true });
    const before = this.manifest(project);
    if (tarball !== undefined) await this.extract(project, dir, tarball);
    const keep = new Set(files.map((f) => f.path));
    for (const old of Object.keys(before)) {
      if (!keep.has(old)) fs.rmSync(path.join(dir, old), { force: true });
    }
    // Python trusts a cached .pyc while the source's size and mtime (in whole seconds) match,
    // which an edit within the same second can keep: drop the cache of every changed module.
    for (const file of new Set([...Object.keys(before), ...files.map((f) => f.path)])) {
      if (file.endsWith('.py') && before[file] !== files.find((f) => f.path === file)?.hash) removeBytecode(path.join(dir, file));
    }
    const manifest = Object.fromEntries(files.map((f) => [f.path, f.hash]));
    const tmp = `${this.manifestPath(project)}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(manifest));
    fs.renameSync(tmp, this.manifestPath(project));
  }

  private async extract(project: string, dir: string, tarball: Buffer | string): Promise<void> {
    const tarPath = typeof tarball === 'string' ? tarball : path.join(this.projectsDir, `.${project}.${process.pid}.tgz`);
    // An uploaded tarball is deleted once unpacked: accept only one where uploadPath() put it.
    if (typeof tarball === 'string' && (path.dirname(path.resolve(tarball)) !== path.resolve(this.projectsDir) || !path.basename(tarball).startsWith(`.${project}.`))) {
      throw new Error(`upload path "${tarball}" is not in ${this.projectsDir}`);
    }
    if (typeof tarball !== 'string') fs.writeFileSync(tarPath, tarball);
    try {
      await tar.x({ file: tarPath, cwd: dir, strict: true, preservePaths: false });
    } finally {
      fs.rmSync(tarPath, { force: true });
    }
  }
}

function removeBytecode(source: string): void {
  const cache = path.join(path.dirname(source), '__pycache__');
  const stem = `${path.basename(source, '.py')}.`;
  let names: string[];
  try {
    names = fs.readdirSync(cache);
  } catch {
    return;
  }
  for (const name of names) if (name.startsWith(stem) && name.endsWith('.pyc')) fs.rmSync(path.join(cache, name), { force: true });
}
