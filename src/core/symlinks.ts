/**
 * Whether a symlink at `linkPath` (slash-separated, relative to the project root) pointing at
 * `target` stays inside the project, read lexically: relative, and never climbing above the root.
 */
export function linkStaysInside(linkPath: string, target: string): boolean {
  // Absolute on any system: /x, \x, C:x, C:\x.
  if (target === '' || /^([\\/]|[A-Za-z]:)/.test(target)) return false;
  const parts = linkPath.split('/').slice(0, -1);
  for (const part of target.split(/[\\/]/)) {
    if (part === '..') {
      if (parts.length === 0) return false;
      parts.pop();
    } else if (part !== '.' && part !== '') {
      parts.push(part);
    }
  }
  return true;
}
