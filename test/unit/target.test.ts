import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseFunctionTarget } from '../../src/jobs/target';
import { preflight } from '../../src/jobs/preflight';
import { validateResources } from '../../src/core/resources';
import { tempDir } from '../support/tempDir';

const project = tempDir('target');
fs.mkdirSync(path.join(project, 'pkg', 'sub'), { recursive: true });
fs.writeFileSync(path.join(project, 'pkg', '__init__.py'), '');
fs.writeFileSync(path.join(project, 'pkg', 'sub', '__init__.py'), 'def f():\n    pass\n');
fs.writeFileSync(path.join(project, 'pkg', 'mod.py'), 'from os.path import join as g\nh = lambda: 1\nif True:\n    def k():\n        pass\ndef f(a, b):\n    return a\n');
fs.writeFileSync(path.join(project, 'bad.py'), 'def f(:\n');

test('targets: files relative to the project, absolute files, and module names', () => {
  assert.deepEqual(parseFunctionTarget('pkg/mod.py:f', project), { module: 'pkg/mod.py', function: 'f', localFile: path.join(project, 'pkg/mod.py') });
  assert.equal(parseFunctionTarget(`${project}/pkg/mod.py:f`, project).module, 'pkg/mod.py');
  assert.deepEqual(parseFunctionTarget('pkg.mod:f', project), { module: 'pkg.mod', function: 'f', localFile: path.join(project, 'pkg/mod.py') });
  assert.equal(parseFunctionTarget('pkg.sub:f', project).localFile, path.join(project, 'pkg/sub/__init__.py'));
  assert.equal(parseFunctionTarget('numpy.linalg:norm', project).localFile, undefined, 'not in the project: the instance resolves it');
});

test('targets: malformed ones are refused with the expected form', () => {
  for (const bad of ['pkg/mod.py', 'pkg/mod.py:', ':f', 'pkg/mod.py:1f', 'a-b:f']) {
    assert.throws(() => parseFunctionTarget(bad, project), /Expected FILE\.py:FUNCTION|neither a \.py file nor a module/, bad);
  }
  assert.throws(() => parseFunctionTarget('/etc/passwd.py:f', project), /outside the project folder/);
  assert.throws(() => parseFunctionTarget('nope.py:f', project), /No such file/);
});

test('preflight accepts every way a module binds a name, and rejects what is not there', async () => {
  const file = path.join(project, 'pkg', 'mod.py');
  for (const fn of ['f', 'g', 'h', 'k']) await preflight({ kind: 'function', localFile: file, displayName: 'pkg/mod.py', function: fn, args: '[1, 2]' });
  await assert.rejects(preflight({ kind: 'function', localFile: file, displayName: 'pkg/mod.py', function: 'zz' }), /pkg\/mod\.py has no function zz \(it defines: f\)/);
  await assert.rejects(preflight({ kind: 'function', localFile: file, displayName: 'pkg/mod.py', function: 'f', args: '{1: 2}' }), /Arguments must be a list/);
  await assert.rejects(preflight({ kind: 'function', localFile: file, displayName: 'pkg/mod.py', function: 'f', args: '[x]' }), /neither a Python literal nor JSON/);
  await assert.rejects(preflight({ kind: 'function', localFile: file, displayName: 'pkg/mod.py', function: 'f', kwargs: '[1]' }), /Keyword arguments must be a dict/);
  await assert.rejects(preflight({ kind: 'command', localFile: path.join(project, 'bad.py'), displayName: 'bad.py' }), /Syntax error in bad\.py, line 1/);
  // JSON's literals are accepted as well as Python's.
  await preflight({ kind: 'function', localFile: file, displayName: 'pkg/mod.py', function: 'f', args: '[true, null]' });
});

test('resources: nothing at or below zero, eviction rate within 0–100 %', () => {
  const ok = { cpu: 0.5, memoryGb: 1, gpus: 0, maxEvictionRatePct: 20 };
  assert.deepEqual(validateResources(ok), ok);
  assert.throws(() => validateResources({ ...ok, cpu: 0 }), /CPU must be more than 0/);
  assert.throws(() => validateResources({ ...ok, cpu: NaN }), /CPU must be more than 0/);
  assert.throws(() => validateResources({ ...ok, memoryGb: -2 }), /memory must be more than 0/);
  assert.throws(() => validateResources({ ...ok, gpus: 1.5 }), /GPUs must be a whole number/);
  assert.throws(() => validateResources({ ...ok, maxEvictionRatePct: 120 }), /max eviction rate/);
});
