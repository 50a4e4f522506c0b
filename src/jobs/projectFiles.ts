import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { IgnoreFile, Verdict } from '../core/gitignore';
import { linkStaysInside } from '../core/symlinks';
import { FileEntry } from '../remote/protocol';

// Never worth sending, whatever .gitignore says.
const NEVER_SENT = new IgnoreFile('__pycache__/\n*.pyc\n.meadowrun/\n');

const hashCache = new Map<string, { stamp: string; hash: string }>();

/** One ignore file, and how to turn a project-relative path into a path relative to its directory. */
interface Level {
  file: IgnoreFile;
  /** Characters stripped: the ignore file's directory below the project root, with its slash. */
  strip: number;
}

export interface ProjectListing {
  /** Regular files and symlinks that stay inside the project, sorted by path. */
  files: FileEntry[];
  /** Symlinks left out because they point outside the project. */
  skipped: string[];
}

/**
 * The project's files as the instance should have them: what `git ls-files --others
 * --exclude-standard` run at the project's root would list (.gitignore files at every level, and
 * .git/info/exclude), each with a content hash recomputed only when its size or mtime changed.
 * Symlinks are kept as symlinks when they point inside the project.
 */
export function listProjectFiles(root: string): ProjectListing {
  root = path.resolve(root);
  const realRoot = fs.realpathSync.native(root);
  const files: FileEntry[] = [];
  const skipped: string[] = [];
  const ignored = (levels: Level[], rel: string, isDir: boolean): boolean => {
    if (NEVER_SENT.verdict(rel, isDir) === 'ignored') return true;
    // The deepest ignore file with a matching pattern decides.
    for (let i = levels.length - 1; i >= 0; i--) {
      const { file, strip } = levels[i];
      const verdict: Verdict = file.verdict(rel.slice(strip), isDir);
      if (verdict) return verdict === 'ignored';
    }
    return false;
  };
  const walk = (dir: string, rel: string, levels: Level[]) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    // Like git, read a .gitignore only when it is a regular file, not through a link.
    if (entries.some((e) => e.name === '.gitignore' && e.isFile())) {
      levels = [...levels, { file: new IgnoreFile(fs.readFileSync(path.join(dir, '.gitignore'), 'utf8')), strip: rel ? rel.length + 1 : 0 }];
    }
    for (const entry of entries) {
      if (entry.name === '.git') continue;
      const abs = path.join(dir, entry.name);
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!ignored(levels, relPath, true)) walk(abs, relPath, levels);
      } else if (entry.isFile()) {
        if (!ignored(levels, relPath, false)) files.push({ path: relPath, hash: fileHash(abs) });
      } else if (entry.isSymbolicLink()) {
        // git sees a link, never what it points to, even a directory.
        if (ignored(levels, relPath, false)) continue;
        const target = fs.readlinkSync(abs);
        if (linkStaysInside(relPath, target) && resolvesInside(abs, realRoot)) {
          files.push({ path: relPath, hash: crypto.createHash('sha1').update(`symlink\0${target}`).digest('hex') });
        } else {
          skipped.push(relPath);
        }
      }
    }
  };
  walk(root, '', excludeLevels(root));
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { files, skipped };
}

/** A link that resolves (through other links, say) must land inside the project too. */
function resolvesInside(abs: string, realRoot: string): boolean {
  let real: string;
  try {
    real = fs.realpathSync.native(abs);
  } catch {
    return true;
  }
  return real === realRoot || real.startsWith(realRoot + path.sep);
}

/** The repository's .git/info/exclude, when the project is the top of one: below any .gitignore in precedence. */
function excludeLevels(root: string): Level[] {
  if (!fs.existsSync(path.join(root, '.git'))) return [];
  const exclude = readIfExists(path.join(gitDir(root), 'info', 'exclude'));
  return exclude === undefined ? [] : [{ file: new IgnoreFile(exclude), strip: 0 }];
}

/** The repository's git directory: `.git` itself, or (for a worktree) the common one its `.git` file leads to. */
function gitDir(top: string): string {
  const dotGit = path.join(top, '.git');
  if (fs.statSync(dotGit).isDirectory()) return dotGit;
  const pointer = /^gitdir: (.*)$/m.exec(fs.readFileSync(dotGit, 'utf8'))?.[1]?.trim();
  if (!pointer) return dotGit;
  const dir = path.resolve(top, pointer);
  const common = readIfExists(path.join(dir, 'commondir'))?.trim();
  return common ? path.resolve(dir, common) : dir;
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

function fileHash(abs: string): string {
  const st = fs.statSync(abs);
  const stamp = `${st.size}:${st.mtimeMs}`;
  const cached = hashCache.get(abs);
  if (cached?.stamp === stamp) return cached.hash;
  const hash = crypto.createHash('sha1').update(fs.readFileSync(abs)).digest('hex');
  hashCache.set(abs, { stamp, hash });
  return hash;
}

/** A stable name for the project on instances: readable, and distinct per client folder. */
export function remoteProjectName(root: string): string {
  const base = path.basename(root).replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40) || 'project';
  const id = crypto.createHash('sha1').update(`${os.hostname()}:${path.resolve(root)}`).digest('hex').slice(0, 8);
  return `${base}-${id}`;
}
