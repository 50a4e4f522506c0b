import * as fs from 'fs';
import * as path from 'path';
import * as tar from 'tar';
import { linkStaysInside } from '../core/symlinks';
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

  /** The paths whose content differs from what is here, and whether nothing at all is to be done. */
  needed(project: string, files: FileEntry[]): { paths: string[]; upToDate: boolean } {
    const have = this.manifest(project);
    const paths = files.filter((f) => have[f.path] !== f.hash).map((f) => f.path);
    // Every file matches: the tree is the client's unless it has files the client no longer has.
    return { paths, upToDate: paths.length === 0 && Object.keys(have).length === files.length };
  }

  /**
   * Deletes the files the client no longer has, unpacks the changed ones, and records the manifest.
   * Linear in the number of files: an unchanged re-sync of a large project costs one pass.
   */
  async apply(project: string, files: FileEntry[], tarball: Buffer | string | undefined): Promise<void> {
    const dir = this.projectDir(project);
    fs.mkdirSync(dir, { recursive: true });
    const before = new Map(Object.entries(this.manifest(project)));
    const now = new Map(files.map((f) => [f.path, f.hash]));
    const changed = files.filter((f) => before.get(f.path) !== f.hash).map((f) => f.path);
    try {
      // Deleting first lets a file become a directory, or a directory a symlink, in one sync.
      for (const old of before.keys()) {
        if (!now.has(old)) fs.rmSync(path.join(dir, old), { force: true });
      }
      for (const file of changed) {
        if (fs.lstatSync(path.join(dir, file), { throwIfNoEntry: false })?.isDirectory()) fs.rmSync(path.join(dir, file), { recursive: true });
      }
      if (tarball !== undefined) await this.extract(project, dir, tarball);
    } catch (e) {
      // What is on disk is no longer what the manifest says: have the next sync send everything.
      fs.rmSync(this.manifestPath(project), { force: true });
      throw e;
    }
    // Python trusts a cached .pyc while the source's size and mtime (in whole seconds) match,
    // which an edit within the same second can keep: drop the cache of every changed module.
    for (const file of [...changed, ...[...before.keys()].filter((old) => !now.has(old))]) {
      if (file.endsWith('.py')) removeBytecode(path.join(dir, file));
    }
    const tmp = `${this.manifestPath(project)}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(now)));
    fs.renameSync(tmp, this.manifestPath(project));
  }

  private async extract(project: string, dir: string, tarball: Buffer | string): Promise<void> {
    const tarPath = typeof tarball === 'string' ? tarball : path.join(this.projectsDir, `.${project}.${process.pid}.tgz`);
    // An uploaded tarball is deleted once unpacked: accept only one where uploadPath() put it.
    if (typeof tarball === 'string' && (path.dirname(path.resolve(tarball)) !== path.resolve(this.projectsDir) || !path.basename(tarball).startsWith(`.${project}.`))) {
      throw new Error(`upload path "${tarball}" is not in ${this.projectsDir}`);
    }
    if (typeof tarball !== 'string') fs.writeFileSync(tarPath, tarball);
    const links: string[] = [];
    const escaping: string[] = [];
    try {
      await tar.x({
        file: tarPath,
        cwd: dir,
        strict: true,
        preservePaths: false,
        filter: (entryPath, entry) => {
          if (!('type' in entry) || entry.type !== 'SymbolicLink') return true;
          const link = entryPath.replace(/\/+$/, '');
          if (!linkStaysInside(link, entry.linkpath ?? '')) {
            escaping.push(link);
            return false;
          }
          links.push(link);
          return true;
        },
      });
    } finally {
      fs.rmSync(tarPath, { force: true });
    }
    // Lexically inside can still resolve outside, through another link: check where each one lands.
    const realDir = fs.realpathSync.native(dir);
    for (const link of links) {
      let real: string;
      try {
        real = fs.realpathSync.native(path.join(dir, link));
      } catch {
        continue;
      }
      if (real !== realDir && !real.startsWith(realDir + path.sep)) {
        fs.rmSync(path.join(dir, link), { force: true });
        escaping.push(link);
      }
    }
    if (escaping.length > 0) throw new Error(`refused symlinks pointing outside the project: ${escaping.join(', ')}`);
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
