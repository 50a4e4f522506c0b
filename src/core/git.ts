// Code from a git repository (`--git URL[@REF]`): the instance clones it, or fetches into its cache
// of that repository, and runs the job in the commit REF names instead of the synced folder.

import { MeadowrunError } from './errors';
import { checkSecretName } from './secrets';

export interface GitSource {
  /** ssh://, git@host:path, https://, file://, or a path on the instance. */
  url: string;
  /** A branch, tag or commit; the repository's default branch when absent. */
  ref?: string;
  /** A user secret with an SSH private key (and, optionally, known_hosts lines) or an https token. */
  secret?: string;
}

/**
 * `URL@REF`: REF is what follows the last `@` when that `@` is in the URL's path (after the host:
 * so `git@host:repo.git` has none, `git@host:repo.git@v2` has `v2`, and a REF may hold `/`).
 */
export function parseGitSource(text: string, secret?: string): GitSource {
  const at = text.lastIndexOf('@');
  const scheme = text.indexOf('://');
  const pathStart = scheme >= 0 ? text.indexOf('/', scheme + 3) : text.indexOf(':');
  const split = at > 0 && (pathStart < 0 || at > pathStart);
  const url = split ? text.slice(0, at) : text;
  const ref = split ? text.slice(at + 1) : undefined;
  // Neither may pass for one of git's options, nor carry a control character or space.
  if (!url || url.startsWith('-') || /[\s\x00-\x1f]/.test(url)) {
    throw new MeadowrunError(`"${text}" is not a git repository URL: use URL or URL@REF (ssh://host/repo.git@main)`, 'bad-git');
  }
  if (ref !== undefined && (!ref || ref.startsWith('-') || /[\s\x00-\x1f~^:?*[\\]|\.\.|@\{/.test(ref))) {
    throw new MeadowrunError(`"${ref}" is not a branch, tag or commit name (in --git ${text})`, 'bad-git');
  }
  if (secret !== undefined) checkSecretName(secret);
  return { url, ...(ref ? { ref } : {}), ...(secret ? { secret } : {}) };
}

/** The password of `user:password@` in a URL is never shown (a user name alone is no secret). */
export function redactUrl(text: string): string {
  return text.replace(/(\w+:\/\/[^/@\s:]*):[^/@\s]+@/g, '$1:***@');
}
