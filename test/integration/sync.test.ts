// Code sync on fresh instances through the `meadowrun` command line: projects whose changed files
// are too big to travel inline go over SFTP, before the instance has ever seen the project.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { makeProject } from '../support/localCloud';
import { tempDir } from '../support/tempDir';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const stateDirs: string[] = [];

function meadowrun(project: string, stateDir: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [cli, '--state-dir', stateDir, ...args], { cwd: project, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A project with `m.py` beside a data file of random bytes (incompressible), on a fresh state dir. */
function freshProject(dataName: string, size: number) {
  const project = makeProject({ 'm.py': `import os\ndef f():\n    return 42\ndef size():\n    return os.path.getsize(${JSON.stringify(dataName)})\n` });
  fs.mkdirSync(path.dirname(path.join(project, dataName)), { recursive: true });
  fs.writeFileSync(path.join(project, dataName), crypto.randomBytes(size));
  const stateDir = tempDir('sync-state');
  stateDirs.push(stateDir);
  return { project, stateDir };
}

after(() => {
  for (const stateDir of stateDirs) spawnSync(process.execPath, [cli, '--state-dir', stateDir, 'local', 'down'], { encoding: 'utf8' });
});

test('a project of 1.2 MB random bytes runs on a fresh instance, and again on the warm one', () => {
  const { project, stateDir } = freshProject('blob.bin', 1_200_000);
  const first = meadowrun(project, stateDir, 'run-function', 'm.py:f');
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout.trim(), '42');
  assert.match(first.stderr, /Synced 2 of 2 project files/);
  const again = meadowrun(project, stateDir, 'run-function', 'm.py:size');
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.trim(), '1200000');
});

test('a project with a 40 MB data file: the function reads it by relative path on a fresh instance', () => {
  const { project, stateDir } = freshProject('data/big.bin', 40_000_000);
  const r = meadowrun(project, stateDir, 'run-function', 'm.py:size');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '40000000');
});

test('symlinks inside the project arrive as symlinks; one leading outside is named in one warning line', () => {
  const project = makeProject({ 'm.py': 'import os\ndef f():\n    return [os.readlink("data.txt"), open("data.txt").read(), os.path.exists("outside")]\n', 'real/data.txt': 'hi' });
  fs.symlinkSync('real/data.txt', path.join(project, 'data.txt'));
  fs.symlinkSync(tempDir('outside'), path.join(project, 'outside'));
  const stateDir = tempDir('sync-state');
  stateDirs.push(stateDir);
  const r = meadowrun(project, stateDir, 'run-function', 'm.py:f');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "['real/data.txt', 'hi', False]");
  assert.deepEqual(r.stderr.split('\n').filter((l) => /warning/i.test(l)), ['Warning: not synced, symlinks pointing outside the project: outside']);
});
