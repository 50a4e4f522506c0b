/** One directory on a path, as stat(2) describes it; `undefined` stat: it does not exist (yet). */
export interface PathEntry {
  path: string;
  uid?: number;
  mode?: number;
}

const WRITABLE_BY_OTHERS = 0o022;
const STICKY = 0o1000;

/**
 * Why another user could swap what lies in a directory, or undefined when only `uid` and root can.
 * `entries` are the directory, then each parent up to `/`. The reasoning is OpenSSH's StrictModes:
 * each directory is owned by root or the user and writable by nobody else. With `allowSticky`, a
 * shared directory with the sticky bit (like /tmp) is fine too, because there only an entry's
 * owner may rename or remove it; the entry in it must then be the user's own, as must the
 * directory itself.
 */
export function untrustedDirectory(entries: PathEntry[], uid: number, allowSticky: boolean): { path: string; why: string } | undefined {
  const shared = (e?: PathEntry) => e?.mode !== undefined && (e.mode & WRITABLE_BY_OTHERS) !== 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.uid === undefined || e.mode === undefined) continue;
    const mustBeMine = i === 0 || (allowSticky && shared(entries[i + 1]));
    if (e.uid !== uid && (mustBeMine || e.uid !== 0)) return { path: e.path, why: `belongs to another user (uid ${e.uid})` };
    if (shared(e) && !(allowSticky && i > 0 && (e.mode & STICKY) !== 0)) return { path: e.path, why: 'can be written by other users' };
  }
  return undefined;
}
