// Code sync: the instance's code store and the client's side of the sync exchange, without SSH.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tar from 'tar';
import { CodeStore } from '../../src/agent/codeStore';
import { MeadowrunError } from '../../src/core/errors';
import { syncProject } from '../../src/jobs/codeSync';
import { AgentSession } from '../../src/remote/agentSession';
import { ClientMessage, FileEntry } from '../../src/remote/protocol';
import { makeProject } from '../support/localCloud';
import { tempDir } from '../support/tempDir';

test('the upload path of a fresh instance is in a directory that exists, private to its user', () => {
  const workDir = tempDir('work');
  const store = new CodeStore(workDir);
  const upload = store.uploadPath('proj-1', 'job-1');
  assert.equal(path.dirname(upload), path.join(workDir, 'projects'));
  assert.equal(fs.statSync(path.dirname(upload)).mode & 0o777, 0o700);
  assert.throws(() => store.uploadPath('proj-1', '../job'), /bad job id/);
  assert.throws(() => store.uploadPath('../proj', 'job-1'), /bad project name/);
});

test('an uploaded tarball is unpacked only from where the store asked for it', async () => {
  const workDir = tempDir('work');
  const store = new CodeStore(workDir);
  const elsewhere = path.join(tempDir('elsewhere'), '.proj-1.job-1.tgz');
  fs.writeFileSync(elsewhere, 'not a tarball');
  await assert.rejects(store.apply('proj-1', [], elsewhere), /not in/);
  assert.ok(fs.existsSync(elsewhere), 'a file outside the projects directory is left alone');
});

/** An agent session that answers sync requests like an agent, and whose SFTP upload fails. */
function sessionWithFailingUpload(): { session: AgentSession; sent: ClientMessage[] } {
  const sent: ClientMessage[] = [];
  let id = 1;
  const fake = {
    instanceId: 'local-0badf00d',
    newRequestId: () => id++,
    request: async (m: ClientMessage) => {
      sent.push(m);
      if (m.t === 'sync') return { t: 'sync-need', id: m.id, paths: m.files.map((f) => f.path), upToDate: false, uploadPath: '/work/projects/.p.j.tgz' };
      return { t: 'sync-done', id: 0 };
    },
    connection: {
      upload: async () => {
        throw new Error('No such file');
      },
    },
  };
  return { session: fake as unknown as AgentSession, sent };
}

test('an SFTP failure during sync names the stage and the instance', async () => {
  const project = makeProject({ 'm.py': 'def f():\n    return 42\n' });
  fs.writeFileSync(path.join(project, 'blob.bin'), crypto.randomBytes(1_200_000));
  const { session, sent } = sessionWithFailingUpload();
  await assert.rejects(syncProject(session, project, 'p', 'j'), (e: Error) => {
    assert.ok(e instanceof MeadowrunError, String(e));
    assert.equal(e.code, 'sync');
    assert.match(e.message, /^Sync failed on instance local-0badf00d: uploading 2 changed files \(1\.\d MiB\) to \/work\/projects\/\.p\.j\.tgz over SFTP: No such file$/);
    return true;
  });
  assert.deepEqual(sent.map((m) => m.t), ['sync'], 'nothing is applied after a failed upload');
});

/** `n` module entries that count how often their fields are read. */
function countedEntries(n: number, counter: { reads: number }): FileEntry[] {
  return Array.from({ length: n }, (_, i) => {
    const entry = { path: `pkg${i % 100}/m${i}.py`, hash: `h${i}` };
    return {
      get path() {
        counter.reads++;
        return entry.path;
      },
      get hash() {
        counter.reads++;
        return entry.hash;
      },
    };
  });
}

test('an unchanged re-sync does work linear in the number of files (20,000 vs 10,000)', async () => {
  const reads: Record<number, number> = {};
  for (const n of [10_000, 20_000]) {
    const store = new CodeStore(tempDir('work'));
    const setup = { reads: 0 };
    await store.apply('proj', countedEntries(n, setup), undefined);
    const counter = { reads: 0 };
    const files = countedEntries(n, counter);
    assert.deepEqual(store.needed('proj', files), { paths: [], upToDate: true });
    await store.apply('proj', files, undefined);
    reads[n] = counter.reads;
  }
  assert.ok(reads[20_000] <= 10 * 20_000, `${reads[20_000]} reads of 20,000 entries`);
  assert.ok(reads[20_000] / reads[10_000] < 2.5, `twice the files, ${(reads[20_000] / reads[10_000]).toFixed(2)} times the work`);
});

/** A gzipped tarball of `entries` made in a scratch directory: files, and symlinks as `{ link }`. */
async function tarball(entries: Record<string, string | { link: string }>): Promise<Buffer> {
  const dir = tempDir('tar-src');
  for (const [rel, content] of Object.entries(entries)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    if (typeof content === 'string') fs.writeFileSync(path.join(dir, rel), content);
    else fs.symlinkSync(content.link, path.join(dir, rel));
  }
  const chunks: Buffer[] = [];
  for await (const chunk of tar.c({ gzip: true, cwd: dir, portable: true }, Object.keys(entries))) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const entry = (p: string, hash = p): FileEntry => ({ path: p, hash });

test('a project is up to date only when it has every file and nothing more', async () => {
  const store = new CodeStore(tempDir('work'));
  const files = [entry('a.py'), entry('b.py')];
  await store.apply('proj', files, await tarball({ 'a.py': 'a', 'b.py': 'b' }));
  assert.deepEqual(store.needed('proj', files), { paths: [], upToDate: true });
  assert.deepEqual(store.needed('proj', [files[0]]), { paths: [], upToDate: false }, 'b.py is still to be deleted');
  assert.deepEqual(store.needed('proj', [files[0], entry('b.py', 'changed')]), { paths: ['b.py'], upToDate: false });
});

test('symlinks inside the project are unpacked as symlinks; ones leading outside are refused', async () => {
  const workDir = tempDir('work');
  const store = new CodeStore(workDir);
  const dir = store.projectDir('proj');
  await store.apply('proj', [entry('pkg/real.py'), entry('alias.py'), entry('pkgs')], await tarball({ 'pkg/real.py': 'X = 1\n', 'alias.py': { link: 'pkg/real.py' }, pkgs: { link: 'pkg' } }));
  assert.equal(fs.readlinkSync(path.join(dir, 'alias.py')), 'pkg/real.py');
  assert.equal(fs.readFileSync(path.join(dir, 'pkgs', 'real.py'), 'utf8'), 'X = 1\n');

  for (const [name, bad] of [['up', { up: { link: '../../etc' } }], ['abs', { abs: { link: '/etc' } }], ['m', { here: { link: '.' }, m: { link: 'here/..' } }]] as const) {
    const files = [entry('pkg/real.py'), entry('alias.py'), entry('pkgs'), ...Object.keys(bad).map((p) => entry(p))];
    await assert.rejects(store.apply('proj', files, await tarball(bad)), new RegExp(`refused symlinks pointing outside the project: ${name}$`));
    assert.equal(fs.lstatSync(path.join(dir, name), { throwIfNoEntry: false }), undefined, `${name} is not left on disk`);
    assert.deepEqual(store.needed('proj', files).paths, files.map((f) => f.path), 'after a refused sync, the next one sends everything');
  }
});

test('a directory can become a symlink, and a file a directory, from one sync to the next', async () => {
  const store = new CodeStore(tempDir('work'));
  const dir = store.projectDir('proj');
  await store.apply('proj', [entry('lib/a.py'), entry('real/a.py'), entry('x')], await tarball({ 'lib/a.py': '1', 'real/a.py': '2', x: 'file' }));
  fs.mkdirSync(path.join(dir, 'lib', '__pycache__'));
  await store.apply('proj', [entry('lib', 'link'), entry('real/a.py'), entry('x/y')], await tarball({ lib: { link: 'real' }, 'x/y': 'nested' }));
  assert.equal(fs.readlinkSync(path.join(dir, 'lib')), 'real');
  assert.equal(fs.readFileSync(path.join(dir, 'lib', 'a.py'), 'utf8'), '2');
  assert.equal(fs.readFileSync(path.join(dir, 'x', 'y'), 'utf8'), 'nested');
});
