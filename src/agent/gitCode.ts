// Job code from a git repository (`--git URL[@REF]`, core/git.ts), on the instance: one bare
// repository per URL under `<workDir>/git`, fetched into (not cloned again) by later jobs, and one
// read-only tree per commit, extracted with `git archive`, which jobs of that commit share.
//
// Credentials come from a user secret, read with the instance's identity:
// - an SSH private key (OpenSSH or PEM), optionally followed by known_hosts lines (`ssh-keyscan
//   HOST` output). It goes into a 0600 file in a private directory made for this fetch, and to git
//   through GIT_SSH_COMMAND with that directory's own known_hosts: with the secret's lines it is
//   StrictHostKeyChecking=yes (a host key that differs is refused); without them, accept-new (the
//   key the server shows first is taken, for this fetch only; nothing is remembered for later ones).
// - anything else is an https token, `user:token` or a bare token (user x-access-token), answered
//   by a GIT_ASKPASS script from 0600 files in that private directory: never in a URL, a command
//   line, the environment or .git/config, and kept by no credential helper.
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { describeError } from '../core/errors';
import { GitSource, redactUrl } from '../core/git';
import { shellQuote } from '../remote/shellQuote';
import type { SecretReader } from './environments';

/** Fetching or checking out failed: the message says why, in a line. */
export class GitCodeError extends Error {}

interface Credentials {
  env: Record<string, string>;
  /** Values that must not appear in a message (the token). */
  hidden: string[];
}

export class GitCode {
  private readonly dir: string;
  /** One fetch at a time per repository in this agent (git locks refs; two at once would fail). */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Checkouts under way, by source: a job asking for the same (a map's workers starting together) shares its fetch. */
  private readonly inflight = new Map<string, Promise<{ dir: string; commit: string }>>();

  constructor(workDir: string, private readonly secret: SecretReader = async () => undefined) {
    this.dir = path.join(workDir, 'git');
  }

  /** The directory holding `source`'s commit, fetched and extracted first when need be; `onLine` hears git's progress. */
  async checkout(source: GitSource, onLine: (line: string) => void = () => undefined): Promise<{ dir: string; commit: string }> {
    const same = JSON.stringify([source.url, source.ref ?? '', source.secret ?? '']);
    const shared = this.inflight.get(same);
    if (shared) {
      const done = await shared;
      onLine(codeLine(source, done.commit));
      return done;
    }
    const mine = this.checkoutQueued(source, onLine);
    this.inflight.set(same, mine);
    try {
      return await mine;
    } finally {
      this.inflight.delete(same);
    }
  }

  private async checkoutQueued(source: GitSource, onLine: (line: string) => void): Promise<{ dir: string; commit: string }> {
    const key = crypto.createHash('sha256').update(source.url).digest('hex').slice(0, 16);
    const previous = this.queues.get(key) ?? Promise.resolve();
    const repo = path.join(this.dir, key);
    const mine = previous.catch(() => undefined).then(() => locked(repo, () => this.checkoutNow(source, repo, onLine)));
    this.queues.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.queues.get(key) === mine) this.queues.delete(key);
    }
  }

  private async checkoutNow(source: GitSource, repo: string, onLine: (line: string) => void): Promise<{ dir: string; commit: string }> {
    fs.mkdirSync(repo, { recursive: true, mode: 0o700 });
    if (!fs.existsSync(path.join(repo, 'HEAD'))) await this.git(['init', '--quiet', '--bare', repo], {}, []);
    // A full commit id already here needs no fetch (and no secret).
    let commit = /^[0-9a-f]{40}$/.test(source.ref ?? '') ? await this.resolve(repo, source.ref!) : undefined;
    if (!commit) {
      const temp = fs.mkdtempSync(path.join(this.dir, '.fetch-'));
      try {
        const credentials = source.secret ? await this.credentials(source.secret, temp) : { env: { GIT_SSH_COMMAND: sshCommand(temp) }, hidden: [] };
        onLine(`$ git fetch ${redactUrl(source.url)}${source.secret ? ` (credentials from secret ${source.secret})` : ''}`);
        await this.git(
          ['-C', repo, 'fetch', '--quiet', '--force', '--prune', '--tags', '--', source.url, '+HEAD:refs/remotes/origin/HEAD', '+refs/heads/*:refs/remotes/origin/*'],
          credentials.env,
          credentials.hidden,
          (why) => this.fetchFailure(source, why),
        );
      } finally {
        fs.rmSync(temp, { recursive: true, force: true });
      }
      const ref = source.ref ?? 'HEAD';
      commit = (await this.resolve(repo, `refs/remotes/origin/${ref}`)) ?? (await this.resolve(repo, `refs/tags/${ref}`)) ?? (await this.resolve(repo, ref));
      if (!commit) throw new GitCodeError(`${redactUrl(source.url)} has no branch, tag or commit ${ref}`);
    }
    const tree = path.join(repo, 'trees', commit);
    if (!fs.existsSync(tree)) {
      fs.mkdirSync(path.dirname(tree), { recursive: true, mode: 0o700 });
      const temp = fs.mkdtempSync(`${tree}.`);
      try {
        await this.extract(repo, commit, temp);
        fs.renameSync(temp, tree);
      } catch (e) {
        fs.rmSync(temp, { recursive: true, force: true });
        // Another agent extracted it meanwhile: theirs will do.
        if (!fs.existsSync(tree)) throw e;
      }
    }
    onLine(codeLine(source, commit));
    return { dir: tree, commit };
  }

  private async resolve(repo: string, ref: string): Promise<string | undefined> {
    const r = await run('git', ['-C', repo, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`], {});
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  private fetchFailure(source: GitSource, why: string): string {
    const url = redactUrl(source.url);
    const denied = /Permission denied|Authentication failed|could not read Username|terminal prompts disabled|403|401/i.test(why);
    if (denied && source.secret) return `${url} refused the credentials in secret ${source.secret} (${why})`;
    if (denied) return `${url} asks for credentials (${why}): keep a key or token in a secret (\`meadowrun secret set NAME --file KEY\`) and name it with --git-secret`;
    if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(why)) {
      return `the SSH host key of ${url} is not the one in secret ${source.secret}'s known_hosts lines (${why})`;
    }
    return `git fetch ${url} failed: ${why}`;
  }

  /** GIT_SSH_COMMAND with the key (and known hosts) written into `temp`, or GIT_ASKPASS for a token. */
  private async credentials(name: string, temp: string): Promise<Credentials> {
    let value: string | undefined;
    try {
      value = await this.secret(name);
    } catch (e) {
      throw new GitCodeError(`cannot read the git secret ${name} on the instance: ${describeError(e)}`);
    }
    if (value === undefined) throw new GitCodeError(`there is no secret ${name} (the git secret): create it with \`meadowrun secret set ${name} --file KEY\``);
    const key = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/.exec(value);
    if (key) {
      const keyFile = path.join(temp, 'key');
      fs.writeFileSync(keyFile, `${key[0].trim()}\n`, { mode: 0o600 });
      const knownHosts = path.join(temp, 'known_hosts');
      const hostLines = value.slice(key.index + key[0].length).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
      fs.writeFileSync(knownHosts, hostLines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
      return { env: { GIT_SSH_COMMAND: sshCommand(temp, keyFile, hostLines.length > 0) }, hidden: [] };
    }
    const text = value.trim();
    const colon = text.indexOf(':');
    const [user, token] = colon < 0 ? ['x-access-token', text] : [text.slice(0, colon), text.slice(colon + 1)];
    // The user and token in 0600 files that git's askpass prints: nothing secret in the environment
    // git passes on to its helpers, nor in any command line.
    const [userFile, tokenFile, askpass] = ['user', 'token', 'askpass'].map((f) => path.join(temp, f));
    fs.writeFileSync(userFile, `${user}\n`, { mode: 0o600 });
    fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    fs.writeFileSync(askpass, `#!/bin/sh\ncase "$1" in\n  Username*) exec cat ${shellQuote(userFile)} ;;\n  *) exec cat ${shellQuote(tokenFile)} ;;\nesac\n`, { mode: 0o700 });
    // No credential helper of the instance's git configuration may keep the token (credential.helper= resets the list).
    const noHelper = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'credential.helper', GIT_CONFIG_VALUE_0: '' };
    return { env: { GIT_ASKPASS: askpass, ...noHelper }, hidden: [token] };
  }

  /** `git archive COMMIT | tar -x` into `dir`: the files of the commit, without the repository. */
  private async extract(repo: string, commit: string, dir: string): Promise<void> {
    const archive = spawn('git', ['-C', repo, 'archive', '--format=tar', commit], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
    archive.stdout!.pipe(tar.stdin!);
    let errors = '';
    archive.stderr!.on('data', (d: Buffer) => (errors += d));
    tar.stderr!.on('data', (d: Buffer) => (errors += d));
    // Both must have ended, each with 0: one's end says nothing of the other's.
    const ended = (p: ChildProcess) => new Promise<number | null>((resolve, reject) => p.on('error', reject).on('close', (code) => resolve(code)));
    const [a, t] = await Promise.all([ended(archive), ended(tar)]);
    if (a !== 0 || t !== 0) throw new GitCodeError(`extracting ${commit.slice(0, 12)} failed: ${lastLine(errors)}`);
  }

  private async git(args: string[], env: Record<string, string>, hidden: string[], explain: (why: string) => string = (why) => why): Promise<string> {
    let r: { code: number; stdout: string; stderr: string };
    try {
      r = await run('git', args, env);
    } catch (e) {
      throw new GitCodeError((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'git is not installed on the instance' : `git could not be started: ${(e as Error).message}`);
    }
    if (r.code !== 0) {
      let why = lastLine(r.stderr);
      for (const h of hidden) why = why.split(h).join('***');
      throw new GitCodeError(explain(redactUrl(why)));
    }
    return r.stdout;
  }
}

/**
 * Runs `work` holding `<repo>.lock` (a directory naming its holder's pid), so that agents on the
 * instance fetch one at a time; a dead holder's lock is taken over, as environments' are.
 */
async function locked<T>(repo: string, work: () => Promise<T>): Promise<T> {
  const lock = `${repo}.lock`;
  fs.mkdirSync(path.dirname(lock), { recursive: true, mode: 0o700 });
  for (;;) {
    try {
      fs.mkdirSync(lock, { mode: 0o700 });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (lockIsStale(lock)) fs.rmSync(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    fs.writeFileSync(path.join(lock, 'pid'), String(process.pid), { mode: 0o600 });
    return await work();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function lockIsStale(lock: string): boolean {
  let pid: number | undefined;
  try {
    pid = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8')) || undefined;
  } catch {
    pid = undefined;
  }
  if (pid === undefined) {
    try {
      return Date.now() - fs.statSync(lock).mtimeMs > 30_000;
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'EPERM';
  }
}

/**
 * ssh for git: never a prompt or the agent's ssh-agent; known hosts only from `temp/known_hosts`
 * (the secret's lines, checked strictly; else accept-new, for this fetch alone); the key, when given, alone.
 */
function sshCommand(temp: string, keyFile?: string, strict = false): string {
  const knownHosts = path.join(temp, 'known_hosts');
  if (!fs.existsSync(knownHosts)) fs.writeFileSync(knownHosts, '', { mode: 0o600 });
  const ssh = [
    'ssh', '-F', '/dev/null', ...(keyFile ? ['-i', keyFile, '-o', 'IdentitiesOnly=yes'] : []), '-o', 'IdentityAgent=none', '-o', 'BatchMode=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', `StrictHostKeyChecking=${strict ? 'yes' : 'accept-new'}`,
  ];
  return ssh.map(shellQuote).join(' ');
}

/** What the job's log says of its code. */
function codeLine(source: GitSource, commit: string): string {
  return `[meadowrun] Code: ${redactUrl(source.url)} at ${source.ref ? `${source.ref} (${commit.slice(0, 12)})` : commit.slice(0, 12)}`;
}

/** git's last message line that says something ("fatal: …" is the reason; the rest is context). */
function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const fatal = lines.filter((l) => /^(fatal|error):/.test(l)).map((l) => l.replace(/^(fatal|error):\s*/, ''));
  // ssh's own line says more than git's "Could not read from remote repository".
  const ssh = lines.filter((l) => /^ssh:|Permission denied|Host key verification failed/.test(l)).pop();
  return ssh ?? fatal.pop() ?? lines.pop() ?? 'no output';
}

function run(command: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Never a prompt, never the agent's own ssh-agent or a user's git configuration of credentials.
    const { SSH_AUTH_SOCK: _, ...base } = process.env;
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...base, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d).slice(-65536)));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), stdout, stderr }));
  });
}
