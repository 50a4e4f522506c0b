// Code from a git repository on the real local cloud: the repository is served over SSH by an
// sshd this test starts, reachable only with a key that only the secret holds. The instance fetches
// it (into its cache of that repository) and runs the job in the commit asked for.
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { MeadowrunError } from '../../src/core/errors';
import { GitCode } from '../../src/agent/gitCode';
import { parseGitSource } from '../../src/core/git';
import { JobOptions } from '../../src/jobs/engine';
import { testCloud, TestCloud, waitFor } from '../support/localCloud';
import { processesHolding, startGitHttpServer } from '../support/gitHttpServer';
import { startPackageIndex } from '../support/packageIndex';
import { tempDir } from '../support/tempDir';

let t: TestCloud;
let sshd: ChildProcess;
let url: string;
let hostLine: string;
const dir = tempDir('git-srv');
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
const keygen = (file: string) => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', file]);
  return { priv: fs.readFileSync(file, 'utf8'), pub: fs.readFileSync(`${file}.pub`, 'utf8').trim() };
};

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

before(async () => {
  // The repository: main says "main", the tag v1 and the branch feature say otherwise.
  const work = path.join(dir, 'work');
  fs.mkdirSync(work);
  git(work, 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(work, 'job.py'), 'def where():\n    return "v1"\n');
  git(work, 'add', '.');
  git(work, 'commit', '-qm', 'v1');
  git(work, 'tag', 'v1');
  fs.writeFileSync(path.join(work, 'job.py'), 'import os\ndef where():\n    return "main"\ndef cwd():\n    return os.getcwd()\n');
  fs.mkdirSync(path.join(work, 'pkg'));
  fs.writeFileSync(path.join(work, 'pkg', '__init__.py'), '');
  fs.writeFileSync(path.join(work, 'pkg', 'mod.py'), 'def hello():\n    return "from pkg"\n');
  git(work, 'add', '.');
  git(work, 'commit', '-qm', 'main');
  git(work, 'checkout', '-q', '-b', 'feature');
  fs.writeFileSync(path.join(work, 'job.py'), 'def where():\n    return "feature"\n');
  git(work, 'commit', '-qam', 'feature');
  // A branch whose libraries its own requirements.txt names, which only the instance reads.
  git(work, 'checkout', '-q', '-b', 'with-libs', 'main');
  fs.writeFileSync(path.join(work, 'requirements.txt'), 'tinyc==0.1\n');
  fs.writeFileSync(path.join(work, 'libs.py'), 'import tinyc\ndef version():\n    return tinyc.VERSION\n');
  git(work, 'add', '.');
  git(work, 'commit', '-qm', 'libs');
  // A branch for maps: the function, and a module of its own that the function and the arguments use.
  git(work, 'checkout', '-q', '-b', 'map', 'main');
  // some_after_moving() also moves the branch on, in the served repository, as a colleague's push would mid-map.
  fs.writeFileSync(
    path.join(work, 'pkg', 'numbers.py'),
    [
      'import os, subprocess, tempfile',
      'OFFSET = 1000',
      'def some():',
      '    return [1, 2, 3, 4, 5, 6]',
      'def some_after_moving(bare):',
      '    w = tempfile.mkdtemp()',
      '    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")',
      '    subprocess.run(["git", "clone", "-q", "-b", "map", bare, w], check=True, env=env)',
      '    with open(os.path.join(w, "pkg", "numbers.py"), "a") as f:',
      '        f.write("OFFSET = 2000\\n")',
      '    subprocess.run(["git", "-C", w, "commit", "-qam", "moved on"], check=True, env=env)',
      '    subprocess.run(["git", "-C", w, "push", "-q", "origin", "map"], check=True, env=env)',
      '    return some()',
    ].join('\n') + '\n',
  );
  fs.writeFileSync(path.join(work, 'tasks.py'), 'import os\nfrom pkg.numbers import OFFSET\ndef shift(x):\n    return [x + OFFSET, os.getcwd()]\n');
  git(work, 'add', '.');
  git(work, 'commit', '-qm', 'map');
  git(work, 'checkout', '-q', 'main');
  git(dir, 'clone', '-q', '--bare', work, path.join(dir, 'repo.git'));

  // Its SSH server: one authorized key, whose private half only the secret holds.
  const key = keygen(path.join(dir, 'git_key'));
  const host = keygen(path.join(dir, 'host_key'));
  fs.writeFileSync(path.join(dir, 'authorized_keys'), `${key.pub}\n`, { mode: 0o600 });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    config,
    [`Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${dir}/host_key`, `AuthorizedKeysFile ${dir}/authorized_keys`, `PidFile ${dir}/sshd.pid`,
      'StrictModes no', 'UsePAM no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password', 'LogLevel VERBOSE'].join('\n') + '\n',
  );
  if (process.getuid?.() === 0) fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  sshd.stderr!.on('data', (d: Buffer) => (log += d));
  await waitFor('the git sshd to listen', () => /Server listening/.test(log), 10_000);
  url = `ssh://${os.userInfo().username}@127.0.0.1:${port}${dir}/repo.git`;
  hostLine = `[127.0.0.1]:${port} ${host.pub.split(' ').slice(0, 2).join(' ')}`;

  t = testCloud({});
  await t.cloud.secrets.putSecret('git-key', `${key.priv}${hostLine}\n`);
  await t.cloud.secrets.putSecret('git-key-tofu', key.priv);
  await t.cloud.secrets.putSecret('wrong-key', `${keygen(path.join(dir, 'other')).priv}${hostLine}\n`);
  await t.cloud.secrets.putSecret('wrong-host', `${key.priv}[127.0.0.1]:${port} ${keygen(path.join(dir, 'other_host')).pub.split(' ').slice(0, 2).join(' ')}\n`);
});

after(async () => {
  sshd?.kill();
  await t?.dispose();
});

const options = (ref: string | undefined, secret?: string): JobOptions => ({ projectDir: t.project, git: parseGitSource(ref ? `${url}@${ref}` : url, secret) });

async function value(target: string, o: JobOptions): Promise<unknown> {
  const r = await t.engine.runFunction(target, '[]', o);
  assert.equal(r.outcome.status, 'succeeded', JSON.stringify(r.outcome));
  return r.outcome.status === 'succeeded' && JSON.parse(r.outcome.value!.json!);
}

async function codeError(o: JobOptions): Promise<MeadowrunError> {
  const e = await t.engine.runFunction('job.py:where', '[]', o).then(() => assert.fail('should fail'), (x: unknown) => x as MeadowrunError);
  assert.ok(e instanceof MeadowrunError, String(e));
  assert.equal(e.stage, 'code', e.message);
  assert.ok(!e.message.includes('\n'), e.message);
  assert.ok(!e.message.includes('PRIVATE KEY'));
  return e;
}

test('a private repository over SSH, with the key (and host key) from a secret: the default branch, a tag, a branch, a module', async () => {
  assert.equal(await value('job.py:where', options(undefined, 'git-key')), 'main');
  assert.equal(await value('job.py:where', options('v1', 'git-key')), 'v1');
  assert.equal(await value('job.py:where', options('feature', 'git-key')), 'feature');
  assert.equal(await value('pkg.mod:hello', options('main', 'git-key')), 'from pkg');
  const cwd = (await value('job.py:cwd', options('main', 'git-key'))) as string;
  // One cached repository for the URL, a tree per commit, and no key left behind.
  const gitDir = path.dirname(path.dirname(path.dirname(cwd)));
  assert.equal(path.basename(gitDir), 'git');
  assert.deepEqual(fs.readdirSync(gitDir).filter((f) => !f.startsWith('.')).length, 1, 'one repository');
  assert.equal(fs.readdirSync(path.dirname(cwd)).filter((f) => /^[0-9a-f]{40}$/.test(f)).length, 3, 'main, v1 and feature');
  assert.deepEqual(fs.readdirSync(gitDir).filter((f) => f.startsWith('.fetch-')), [], 'the key file went with the fetch');
  // A commit the instance has needs no fetch, and no secret.
  const commit = path.basename(cwd);
  assert.equal(await value('job.py:where', options(commit)), 'main');
  // Another URL is another cache: its fetch is tried (and here refused: nothing listens on port 1).
  const other = await codeError({ projectDir: t.project, git: { url: 'ssh://127.0.0.1:1/x.git', ref: commit } });
  assert.match(other.message, /^git fetch ssh:\/\/127\.0\.0\.1:1\/x\.git failed: .*(refused|closed)/i);
});

test('a private repository over https, with a token from a secret: never in a URL, a command line or an environment; a wrong token is one code-stage message', async () => {
  const token = 'tok-8d1f0c2a9e';
  const leaks: string[] = [];
  const server = await startGitHttpServer(dir, 'alice', token, () => leaks.push(...processesHolding(token)));
  try {
    await t.cloud.secrets.putSecret('git-token', `alice:${token}`);
    await t.cloud.secrets.putSecret('git-token-wrong', 'alice:not-the-token');
    const https = (ref: string, secret?: string): JobOptions => ({ projectDir: t.project, git: parseGitSource(`${server.url}/repo.git@${ref}`, secret) });
    assert.equal(await value('job.py:where', https('feature', 'git-token')), 'feature');
    assert.ok(server.requests.some((r) => r.auth === 'accepted'), JSON.stringify(server.requests));
    assert.deepEqual(leaks, [], 'no process held the token in its command line or environment while git fetched');
    for (const r of server.requests) assert.ok(!r.url.includes(token) && !r.url.includes('alice'), r.url);
    const wrong = await codeError(https('main', 'git-token-wrong'));
    assert.match(wrong.message, /^http:\/\/127\.0\.0\.1:\d+\/repo\.git refused the credentials in secret git-token-wrong \(Authentication failed/);
    assert.ok(!wrong.message.includes('not-the-token'), wrong.message);
    assert.ok(server.requests.some((r) => r.auth === 'refused'));
    assert.match((await codeError(https('main'))).message, /asks for credentials .*--git-secret/);
  } finally {
    await server.stop();
  }
});

test("the repository's own requirements.txt is read on the instance and its environment built there", async () => {
  const index = await startPackageIndex([{ name: 'tinyc', version: '0.1' }]);
  try {
    const events: string[] = [];
    const o: JobOptions = { ...options('with-libs', 'git-key'), deployment: { kind: 'auto' }, index: { indexUrl: index.url }, onEvent: (e) => e.kind === 'environment' && events.push(e.event.kind) };
    assert.equal(await value('libs.py:version', o), '0.1');
    assert.ok(events.includes('building') && events.includes('built'), events.join());
    // The local project (t.project) has no requirements.txt: only the repository named it.
    assert.ok(!fs.existsSync(path.join(t.project, 'requirements.txt')));
  } finally {
    await index.close();
  }
});

test('without known_hosts lines in the secret, the host key is accepted for that fetch (accept-new)', async () => {
  assert.equal(await value('job.py:where', options('feature', 'git-key-tofu')), 'feature');
});

test('a wrong key, a host key that differs, a missing secret or none: one code-stage message naming the secret', async () => {
  assert.match((await codeError(options('main', 'wrong-key'))).message, /^ssh:\/\/.*repo\.git refused the credentials in secret wrong-key \(.*Permission denied/);
  assert.match((await codeError(options('main', 'wrong-host'))).message, /the SSH host key of .* is not the one in secret wrong-host's known_hosts lines/);
  assert.equal((await codeError(options('main', 'nosuch'))).message, 'there is no secret nosuch (the git secret): create it with `meadowrun secret set nosuch --file KEY`');
  assert.match((await codeError(options('main'))).message, /asks for credentials .*: keep a key or token in a secret .* --git-secret/);
  assert.match((await codeError(options('no-such-branch', 'git-key'))).message, /has no branch, tag or commit no-such-branch$/);
  // Nothing stays allocated.
  for (const r of await t.cloud.table.listInstances()) assert.deepEqual(Object.keys(r.jobs), []);
});

test('run-map with --git: every worker, and the arguments expression, run one commit of the repository, even when its branch moves on mid-map; nothing is synced; a refused secret fails the map at the code stage', async () => {
  // The local project has none of this code: only the repository does.
  assert.ok(!fs.existsSync(path.join(t.project, 'tasks.py')));
  const bare = path.join(dir, 'repo.git');
  const before = git(bare, 'rev-parse', 'map').trim();
  const o = { ...options('map', 'git-key'), workers: 3, resources: { cpu: 0.5, memoryGb: 0.5 } };
  // The arguments are evaluated first, on the branch's commit then, which the workers run too.
  const r = await t.engine.runMap('tasks.py:shift', { kind: 'expression', expr: `__import__("pkg.numbers").numbers.some_after_moving(${JSON.stringify(bare)})` }, o);
  assert.notEqual(git(bare, 'rev-parse', 'map').trim(), before, 'the branch moved on');
  assert.equal(r.status, 'succeeded');
  const values = r.results.map((x) => (x.ok ? JSON.parse(x.value.json!) : assert.fail(JSON.stringify(x))));
  assert.deepEqual(values.map((v) => v[0]), [1001, 1002, 1003, 1004, 1005, 1006]);
  // One commit's tree for all of them, in the instance's git cache; the synced projects are untouched.
  const trees = new Set(values.map((v) => v[1]));
  assert.equal(trees.size, 1, [...trees].join());
  assert.match([...trees][0], /\/git\/[0-9a-f]{16}\/trees\/[0-9a-f]{40}$/);
  assert.equal(path.basename([...trees][0]), before, 'the commit the arguments were evaluated on');
  const workDir = path.dirname(path.dirname(path.dirname(path.dirname([...trees][0]))));
  assert.deepEqual(fs.existsSync(path.join(workDir, 'projects')) ? fs.readdirSync(path.join(workDir, 'projects')) : [], [], 'no project was synced');
  const mapResult = await t.engine.runMap('tasks.py:shift', { kind: 'values', values: [1] }, { ...o, git: parseGitSource(`${url}@map`, 'wrong-key') }).then(
    () => assert.fail('should fail'),
    (e: unknown) => e as MeadowrunError,
  );
  assert.ok(mapResult instanceof MeadowrunError, String(mapResult));
  assert.equal(mapResult.stage, 'code', mapResult.message);
  assert.match(mapResult.message, /refused the credentials in secret wrong-key/);
  for (const i of await t.cloud.table.listInstances()) assert.deepEqual(Object.keys(i.jobs), [], 'nothing stays allocated');
});

test('--git sources: URL@REF, scp-like URLs, and refs that could pass for options are refused', () => {
  assert.deepEqual(parseGitSource('git@host:team/repo.git'), { url: 'git@host:team/repo.git' });
  assert.deepEqual(parseGitSource('git@host:team/repo.git@v2', 'k'), { url: 'git@host:team/repo.git', ref: 'v2', secret: 'k' });
  assert.deepEqual(parseGitSource('ssh://git@h:22/r.git@feature/x'), { url: 'ssh://git@h:22/r.git', ref: 'feature/x' });
  assert.deepEqual(parseGitSource('ssh://git@h:22/r.git'), { url: 'ssh://git@h:22/r.git' });
  assert.deepEqual(parseGitSource('/srv/r.git@main'), { url: '/srv/r.git', ref: 'main' });
  assert.deepEqual(parseGitSource('https://h/r.git@0123abc'), { url: 'https://h/r.git', ref: '0123abc' });
  assert.throws(() => parseGitSource('--upload-pack=evil'), /not a git repository URL/);
  assert.throws(() => parseGitSource('https://h/r.git@-x'), /not a branch, tag or commit name/);
  assert.throws(() => parseGitSource('https://h/r.git@a..b'), /not a branch, tag or commit name/);
  assert.throws(() => parseGitSource('https://h/r.git', '../k'), /not a secret name/);
});

test('the CLI: --git URL@REF with --git-secret runs the repository\'s file; --git-secret alone is refused', () => {
  const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
  const meadowrun = (...args: string[]) => spawnSync(process.execPath, [cli, '--state-dir', t.cloud.stateDir, ...args], { cwd: t.project, encoding: 'utf8', timeout: 120_000 });
  const r = meadowrun('run-function', 'job.py:where', '--git', `${url}@v1`, '--git-secret', 'git-key');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "'v1'\n");
  const alone = meadowrun('run-function', 'job.py:where', '--git-secret', 'git-key');
  assert.equal(alone.status, 1);
  assert.match(alone.stderr, /^meadowrun: check failed: --git-secret is for a git repository: add --git URL\[@REF\]\n/);
  const wrong = meadowrun('run-command', 'job.py', '--git', `${url}@main`, '--git-secret', 'wrong-key');
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /\nmeadowrun: code failed on local-[0-9a-f]+: ssh:\/\/.* refused the credentials in secret wrong-key/);
});

test('jobs of one agent asking for the same source at once share one fetch (a map\'s workers starting together)', async () => {
  const code = new GitCode(tempDir('git-shared'), (name) => t.cloud.secrets.getSecret(name));
  const logs: string[][] = [[], [], []];
  const got = await Promise.all(logs.map((log) => code.checkout(parseGitSource(`${url}@feature`, 'git-key'), (line) => log.push(line))));
  assert.equal(new Set(got.map((g) => g.commit)).size, 1);
  assert.equal(logs.flat().filter((l) => l.startsWith('$ git fetch')).length, 1, JSON.stringify(logs));
  for (const log of logs) assert.match(log.at(-1)!, /^\[meadowrun\] Code: ssh:\/\/.* at feature \([0-9a-f]{12}\)$/);
  // Once it is done, a later job fetches again (the branch may have moved).
  const later: string[] = [];
  await code.checkout(parseGitSource(`${url}@feature`, 'git-key'), (line) => later.push(line));
  assert.equal(later.filter((l) => l.startsWith('$ git fetch')).length, 1);
});

test('two agents of one instance fetching the same repository at once take turns (its lock) and both get their commit', async () => {
  const work = tempDir('git-agents');
  const secret = (name: string) => t.cloud.secrets.getSecret(name);
  const [a, b] = [new GitCode(work, secret), new GitCode(work, secret)];
  const [x, y] = await Promise.all([a.checkout(parseGitSource(`${url}@feature`, 'git-key')), b.checkout(parseGitSource(`${url}@v1`, 'git-key'))]);
  assert.match(fs.readFileSync(path.join(x.dir, 'job.py'), 'utf8'), /"feature"/);
  assert.match(fs.readFileSync(path.join(y.dir, 'job.py'), 'utf8'), /"v1"/);
  assert.deepEqual(fs.readdirSync(path.join(work, 'git')).filter((f) => f.endsWith('.lock') || f.startsWith('.fetch-')), [], 'no lock or key left');
});
