import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MeadowrunError } from '../../core/errors';
import { PathEntry, untrustedDirectory } from '../../core/pathTrust';

/** Where the local cloud keeps everything: keys, the allocation table, instances, queues, payloads. */
export function defaultLocalStateDir(): string {
  return process.env.MEADOWRUN_LOCAL_DIR || path.join(os.homedir(), '.meadowrun', 'local');
}

export function localLayout(stateDir: string) {
  return {
    stateDir,
    tableDir: path.join(stateDir, 'table'),
    instancesDir: path.join(stateDir, 'instances'),
    secretsDir: path.join(stateDir, 'secrets'),
    queuesDir: path.join(stateDir, 'queues'),
    payloadsDir: path.join(stateDir, 'payloads'),
    managementDir: path.join(stateDir, 'management'),
    instanceTypesFile: path.join(stateDir, 'instance-types.json'),
  };
}

/**
 * Where instances' sshd read their configuration and keys: under the home directory, because sshd
 * (StrictModes) trusts a key file only when no directory between it and the home directory (or `/`)
 * can be written by another user, which rules out a state directory under /tmp.
 */
export function sshdFilesRoot(): string {
  return path.join(os.homedir(), '.meadowrun', 'sshd');
}

/** Creates `dir` (and missing parents) readable by the user only, and makes it so if it existed. */
export function privateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

/**
 * Makes the state directory ready and private, and returns its real path (a symbolic link on the
 * way could be repointed later). Refuses one that another user could tamper with: they could plant
 * an instance record, read map arguments and results, or swap keys.
 */
export function prepareStateDir(stateDir: string): string {
  const wanted = path.resolve(stateDir);
  refuseUntrusted(wanted);
  fs.mkdirSync(wanted, { recursive: true, mode: 0o700 });
  // Checked again once it exists: someone may have created a missing part of the path meanwhile.
  const real = fs.realpathSync(wanted);
  refuseUntrusted(real);
  const layout = localLayout(real);
  privateDir(real);
  for (const dir of [layout.tableDir, layout.queuesDir, layout.payloadsDir, layout.instancesDir, layout.secretsDir, layout.managementDir]) privateDir(dir);
  return real;
}

function refuseUntrusted(stateDir: string): void {
  const problem = untrustedDirectory(pathEntries(stateDir), process.getuid?.() ?? 0, true);
  if (!problem) return;
  const fix = problem.why.startsWith('can be written') ? `run \`chmod go-w ${problem.path}\` if it is yours, or ` : '';
  throw new MeadowrunError(
    `Refusing the local cloud's state directory ${stateDir}: ${problem.path} ${problem.why}, who could then ` +
      `take over your instances. To fix it, ${fix}choose another state directory ` +
      '(setting meadowrun.local.stateDirectory, --state-dir or MEADOWRUN_LOCAL_DIR).',
    'state-dir',
  );
}

/**
 * Refuses to place sshd's files where sshd itself would reject them (then every login would fail
 * with no reason given): each directory up to the home directory, or `/`, must be owned by root
 * or the user and writable by no one else.
 */
export function refuseUntrustedSshdDir(dir: string): void {
  const home = realpathOr(os.userInfo().homedir);
  const entries = pathEntries(dir);
  const upToHome = entries.findIndex((e) => e.path === home);
  const problem = untrustedDirectory(upToHome >= 0 ? entries.slice(0, upToHome + 1) : entries, process.getuid?.() ?? 0, false);
  if (!problem) return;
  throw new MeadowrunError(
    `Cannot keep the local instances' SSH keys in ${dir}: ${problem.path} ${problem.why}, so sshd would refuse ` +
      `them. Run \`chmod go-w ${problem.path}\` if it is yours, or set HOME to a private directory.`,
    'state-dir',
  );
}

/** `dir` and each parent up to `/`, with the parts that exist resolved through symbolic links. */
function pathEntries(dir: string): PathEntry[] {
  const missing: PathEntry[] = [];
  let existing = dir;
  while (!fs.existsSync(existing)) {
    missing.push({ path: existing });
    existing = path.dirname(existing);
  }
  const entries = missing;
  for (let p = fs.realpathSync(existing); ; p = path.dirname(p)) {
    const st = fs.statSync(p);
    entries.push({ path: p, uid: st.uid, mode: st.mode });
    if (p === path.dirname(p)) return entries;
  }
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}
