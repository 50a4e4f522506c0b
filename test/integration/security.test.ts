// Another local user must not be able to get a shell as you, nor read your jobs, through the local
// cloud: its state directory is refused when others could swap what is in it, the files the
// instance's sshd trusts live where only you can write (and sshd checks that itself, StrictModes),
// everything in the state directory is private, and the sshd forwards nothing but the agent's socket.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { Client } from 'ssh2';
import { createLocalCloud, LocalCloud } from '../../src/cloud/local';
import { InstanceRecord } from '../../src/cloud/ports';
import { MeadowrunError } from '../../src/core/errors';
import { agentSocketPath } from '../../src/remote/agentBundle';
import { testCloud, TestCloud } from '../support/localCloud';
import { tempDir } from '../support/tempDir';

const NOBODY = 65534;
const calc = { 'calc.py': 'def add(a, b):\n    return a + b\n' };
const clouds: TestCloud[] = [];
after(async () => {
  for (const c of clouds) await c.dispose();
});

function cloudIn(stateDir?: string): TestCloud {
  const t = testCloud(calc, { stateDir });
  clouds.push(t);
  return t;
}

function refusal(stateDir: string): MeadowrunError {
  try {
    createLocalCloud({ stateDir });
  } catch (e) {
    assert.ok(e instanceof MeadowrunError, `a MeadowrunError, not ${e}`);
    return e;
  }
  assert.fail(`the state directory ${stateDir} was accepted`);
}

test('a state directory under a folder others can write is refused, and nothing is created in it', () => {
  const shared = tempDir('shared');
  fs.chmodSync(shared, 0o777);
  const stateDir = path.join(shared, 'state');
  const e = refusal(stateDir);
  assert.match(e.message, new RegExp(`${shared} can be written by other users`));
  assert.match(e.message, new RegExp(`chmod go-w ${shared}`));
  assert.match(e.message, /--state-dir/);
  assert.equal(fs.existsSync(stateDir), false);
});

test('a state directory that belongs to another user is refused', () => {
  const theirs = path.join(tempDir('theirs'), 'state');
  fs.mkdirSync(theirs, { mode: 0o700 });
  fs.chownSync(theirs, NOBODY, NOBODY);
  assert.match(refusal(theirs).message, new RegExp(`${theirs} belongs to another user \\(uid ${NOBODY}\\)`));
});

test('in a shared sticky folder (like /tmp), the folder holding the state directory must be yours', () => {
  const sticky = tempDir('sticky');
  fs.chmodSync(sticky, 0o1777);
  const planted = path.join(sticky, 'planted');
  fs.mkdirSync(path.join(planted, 'state'), { recursive: true, mode: 0o755 });
  fs.chownSync(planted, NOBODY, NOBODY);
  assert.match(refusal(path.join(planted, 'state')).message, new RegExp(`${planted} belongs to another user`));
  // Yours, in the same sticky folder: fine.
  createLocalCloud({ stateDir: path.join(sticky, 'mine', 'state') });
});

/** The files a running instance's sshd reads: its configuration (from its command line) and what that names. */
function sshdFiles(cloud: LocalCloud, id: string) {
  const pid = fs.readFileSync(path.join(cloud.stateDir, 'instances', id, 'sshd.pid'), 'utf8').trim();
  // sshd retitles itself "sshd: /usr/sbin/sshd -D -e -f CONFIG [listener] ...".
  const title = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  const config = /-f (.*) \[listener\]/.exec(title)![1];
  const text = fs.readFileSync(config, 'utf8');
  const value = (key: string) => {
    const word = new RegExp(`^${key}\\s+(.*)$`, 'm').exec(text)![1];
    return word.startsWith('"') ? word.slice(1, -1).replace(/\\(.)/g, '$1') : word;
  };
  return { text, config, hostKey: value('HostKey'), authorizedKeys: value('AuthorizedKeysFile').replace(/%%/g, '%') };
}

/** A directory on the way to `file` that another user could write or own, the way sshd's StrictModes judges it. */
function writableByOthers(file: string): string | undefined {
  const home = fs.realpathSync(os.userInfo().homedir);
  for (let dir = path.dirname(fs.realpathSync(file)); ; dir = path.dirname(dir)) {
    const st = fs.statSync(dir);
    if ((st.uid !== 0 && st.uid !== process.getuid!()) || (st.mode & 0o022) !== 0) return dir;
    if (dir === home || dir === '/') return undefined;
  }
}

function connect(record: InstanceRecord, privateKey: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once('ready', () => resolve(client));
    client.once('error', reject);
    client.connect({ host: '127.0.0.1', port: record.ssh!.port, username: record.ssh!.user, privateKey, readyTimeout: 10_000 });
  });
}

test('the keys sshd trusts live where no other user can write, and sshd checks so itself (StrictModes)', async () => {
  const t = cloudIn();
  const run = await t.engine.runFunction('calc.py:add', '[1, 2]', { projectDir: t.project });
  const record = (await t.cloud.table.getInstance(run.instanceId))!;
  const files = sshdFiles(t.cloud, run.instanceId);
  for (const file of [files.config, files.hostKey, files.authorizedKeys]) {
    assert.equal(writableByOthers(file), undefined, `another user could replace ${file}`);
    assert.equal(fs.statSync(file).mode & 0o077, 0, `${file} is private`);
  }
  assert.match(files.text, /^StrictModes yes$/m);

  const key = await privateKey(t);
  (await connect(record, key)).end();
  fs.chmodSync(files.authorizedKeys, 0o666);
  await assert.rejects(connect(record, key), /authentication methods failed/);
  fs.chmodSync(files.authorizedKeys, 0o600);
  (await connect(record, key)).end();

  await t.cloud.provider.terminate(run.instanceId);
  for (const file of [files.config, files.hostKey, files.authorizedKeys]) assert.equal(fs.existsSync(file), false, `${file} is removed`);
});

/** Every directory below `dir` (and `dir`) has mode 0700, every file 0600. */
function assertPrivateTree(dir: string) {
  const st = fs.statSync(dir);
  assert.equal((st.mode & 0o777).toString(8), '700', dir);
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    if (fs.lstatSync(p).isDirectory()) assertPrivateTree(p);
    else assert.equal((fs.statSync(p).mode & 0o777).toString(8), '600', p);
  }
}

test('a state directory that already existed with mode 0755 ends up private, with all it holds', async () => {
  const stateDir = path.join(tempDir('existing'), 'state');
  for (const sub of ['', 'table', 'queues']) fs.mkdirSync(path.join(stateDir, sub), { mode: 0o755 });
  fs.chmodSync(stateDir, 0o755);
  const t = cloudIn(stateDir);
  const run = await t.engine.runFunction('calc.py:add', '[1, 2]', { projectDir: t.project });
  assert.equal(run.outcome.status, 'succeeded');
  const pair = await t.cloud.queues.createPair('job-1');
  await t.cloud.queues.send(pair.request, ['secret arguments']);
  await t.cloud.queues.receive(pair.request, 1, 60);
  await t.cloud.payloads.put('job-1/big-argument', Buffer.from('secret arguments too big for a message'));
  await t.cloud.management.runOnce({ dryRun: true });
  assert.equal((fs.statSync(stateDir).mode & 0o777).toString(8), '700');
  for (const sub of ['table', 'queues', 'payloads', 'secrets', 'management']) assertPrivateTree(path.join(stateDir, sub));
  const instanceDir = path.join(stateDir, 'instances', run.instanceId);
  assertPrivateTree(path.join(instanceDir, 'work', 'pids'));
  for (const name of fs.readdirSync(instanceDir).filter((n) => n !== 'work')) {
    assert.equal((fs.statSync(path.join(instanceDir, name)).mode & 0o777).toString(8), '600', name);
  }
});

async function privateKey(t: TestCloud): Promise<string> {
  return (await t.cloud.secrets.getSshKeyPair()).privateKey;
}

/** The resident agent runs, and a client reaches its socket through the instance's sshd. */
async function assertReachesAgent(record: InstanceRecord, client: Client) {
  const socket = agentSocketPath(record.workDir!);
  assert.ok(fs.existsSync(socket), 'the resident agent is running');
  const channel = await new Promise<NodeJS.ReadWriteStream>((resolve, reject) =>
    client.openssh_forwardOutStreamLocal(socket, (e, ch) => (e ? reject(e) : resolve(ch))),
  );
  channel.end();
}

test('a state directory whose path has a space and a % runs functions', async () => {
  const stateDir = path.join(tempDir('odd'), 'x y%z', 'state');
  const t = cloudIn(stateDir);
  const run = await t.engine.runFunction('calc.py:add', '[2, 3]', { projectDir: t.project });
  assert.equal(run.outcome.status === 'succeeded' && run.outcome.value!.repr, '5');
  const record = (await t.cloud.table.getInstance(run.instanceId))!;
  const client = await connect(record, await privateKey(t));
  try {
    await assertReachesAgent(record, client);
  } finally {
    client.end();
  }
});

test('the instance forwards no TCP, while the agent is reached over its forwarded socket', async () => {
  const t = cloudIn();
  const run = await t.engine.runFunction('calc.py:add', '[1, 2]', { projectDir: t.project });
  const record = (await t.cloud.table.getInstance(run.instanceId))!;
  const target = net.createServer((s) => s.end('reached\n'));
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const client = await connect(record, await privateKey(t));
  try {
    const port = (target.address() as net.AddressInfo).port;
    await assert.rejects(
      new Promise((resolve, reject) => client.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (e, ch) => (e ? reject(e) : resolve(ch)))),
      /Channel open failure/,
    );
    await assertReachesAgent(record, client);
  } finally {
    client.end();
    target.close();
  }
});
