import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import ignore, { Ignore } from 'ignore';
import * as os from 'os';
import { FileEntry } from '../remote/protocol';

// Never worth sending, whatever .gitignore says.
const ALWAYS_IGNORED = ['.git/', '__pycache__/', '*.pyc', '.meadowrun/'];

const hashCache = new Map<string, { stamp: string; hash: string }>();

/**
 * The project's files as the instance should have them: every regular file not ignored by a
 * .gitignore (at any depth), with a content hash (recomputed only when size or mtime changed).
 */
export function listProjectFiles(root: string): FileEntry[] {
  const files: FileEntry[] = [];
  const walk = (dir: string, rules: { base: string; ig: Ignore }[]) => {
    const gitignore = path.join(dir, '.gitignore');
    if (fs.existsSync(gitignore)) rules = [...rules, { base: dir, ig: ignore().add(fs.readFileSync(gitignore, 'utf8')) }];
    const ignored = (abs: string, isDir: boolean) =>
      rules.some(({ base, ig }) => {
        const rel = path.relative(base, abs).split(path.sep).join('/');
        return ig.ignores(isDir ? `${rel}/` : rel);
      });
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!ignored(abs, true)) walk(abs, rules);
      } else if (entry.isFile() && !ignored(abs, false)) {
        files.push({ path: path.relative(root, abs).split(path.sep).join('/'), hash: fileHash(abs) });
      }
    }
  };
  walk(root, [{ base: root, ig: ignore().add(ALWAYS_IGNORED) }]);
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
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
