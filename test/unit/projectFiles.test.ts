// Which files a project syncs: exactly what `git ls-files --others --exclude-standard` lists,
// with symlinks kept when they stay inside the project.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { listProjectFiles } from '../../src/jobs/projectFiles';
import { tempDir } from '../support/tempDir';

// git with no configuration from this machine: no global excludes file, no system config.
const gitHome = tempDir('git-home');
const gitEnv = { ...process.env, HOME: gitHome, XDG_CONFIG_HOME: gitHome, GIT_CONFIG_NOSYSTEM: '1' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: gitEnv });

function gitListing(root: string): string[] {
  return git(root, 'ls-files', '-z', '--others', '--exclude-standard').toString().split('\0').filter(Boolean).sort();
}

function synced(root: string): string[] {
  const { files, skipped } = listProjectFiles(root);
  return [...files.map((f) => f.path), ...skipped].sort();
}

interface Tree {
  files: string[];
  links: { at: string; target: string }[];
  ignores: { dir: string; lines: string[] }[];
  exclude: string[];
}

/** Writes the tree; paths that clash with an earlier file or directory are left out. */
function materialize(root: string, tree: Tree): void {
  const taken = new Map<string, 'dir' | 'leaf'>();
  const claim = (rel: string, kind: 'dir' | 'leaf'): boolean => {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) if (taken.get(parts.slice(0, i).join('/')) === 'leaf') return false;
    const had = taken.get(rel);
    if (had) return had === 'dir' && kind === 'dir';
    for (let i = 1; i < parts.length; i++) taken.set(parts.slice(0, i).join('/'), 'dir');
    taken.set(rel, kind);
    return true;
  };
  for (const { dir, lines } of tree.ignores) {
    const file = dir ? `${dir}/.gitignore` : '.gitignore';
    if (!claim(file, 'leaf')) continue;
    fs.mkdirSync(path.join(root, dir), { recursive: true });
    fs.writeFileSync(path.join(root, file), lines.join('\n') + '\n');
  }
  for (const rel of tree.files) {
    if (!claim(rel, 'leaf')) continue;
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), rel);
  }
  for (const { at, target } of tree.links) {
    if (!claim(at, 'leaf')) continue;
    fs.mkdirSync(path.dirname(path.join(root, at)), { recursive: true });
    fs.symlinkSync(target, path.join(root, at));
  }
  fs.writeFileSync(path.join(root, '.git', 'info', 'exclude'), tree.exclude.join('\n') + '\n');
}

const dir = fc.array(fc.constantFrom('a', 'b', 'd', 'sub', 'A'), { maxLength: 3 }).map((parts) => parts.join('/'));
const name = fc.constantFrom('a', 'b', 'ab', 'x.py', 'y.txt', '.h', 'A', 'a b', 'b[1]', '!a', '#a');
const file = fc.tuple(dir, name).map(([d, n]) => (d ? `${d}/${n}` : n));
const token = fc.constantFrom('a', 'b', 'x', '.py', 'y', '.txt', 'd', 'sub', 'A', '*', '**', '?', '[ab]', '[!a]', '[a-c]', '[[:upper:]]', '\\*', ' ', '\\[');
const segment = fc.array(token, { minLength: 1, maxLength: 3 }).map((ts) => ts.join(''));
const pattern = fc
  .tuple(fc.boolean(), fc.boolean(), fc.array(segment, { minLength: 1, maxLength: 3 }), fc.boolean(), fc.constantFrom('', '', ' ', '  ', '\\ ', '\r'))
  .map(([negated, anchored, segments, dirOnly, tail]) => `${negated ? '!' : ''}${anchored ? '/' : ''}${segments.join('/')}${dirOnly ? '/' : ''}${tail}`);
const line = fc.oneof({ weight: 8, arbitrary: pattern }, fc.constantFrom('', '# a', '\\!a', '\\#a', '*', '!*/', '**', 'a/**', '**/a', '!b'));
const tree: fc.Arbitrary<Tree> = fc.record({
  files: fc.array(file, { maxLength: 12 }),
  links: fc.array(
    fc.record({ at: file, target: fc.constantFrom('a', 'x.py', 'sub', '..', '../a', '../../../../../../../..', '/etc', '/tmp', 'missing', 'a/../../..') }),
    { maxLength: 3 },
  ),
  ignores: fc.array(fc.record({ dir, lines: fc.array(line, { maxLength: 5 }) }), { maxLength: 4 }),
  exclude: fc.array(line, { maxLength: 2 }),
});

test('the synced files are what git lists as untracked and not ignored (random trees and .gitignore files)', () => {
  // One repository for every case, emptied in between: git init costs more than the case itself.
  const root = fs.realpathSync(tempDir('gitignore'));
  git(root, 'init', '-q');
  fc.assert(
    fc.property(tree, (t) => {
      try {
        materialize(root, t);
        assert.deepEqual(synced(root), gitListing(root));
        // Every link git lists is synced or reported, according to where it points.
        const { files, skipped } = listProjectFiles(root);
        const kept = new Set(files.map((f) => f.path));
        for (const link of [...kept, ...skipped].filter((p) => fs.lstatSync(path.join(root, p)).isSymbolicLink())) {
          const lexical = path.resolve(path.dirname(path.join(root, link)), fs.readlinkSync(path.join(root, link)));
          const real = (() => {
            try {
              return fs.realpathSync.native(path.join(root, link));
            } catch {
              return root;
            }
          })();
          const inside = (p: string) => p === root || p.startsWith(root + path.sep);
          assert.equal(kept.has(link), inside(lexical) && inside(real), `${link} -> ${fs.readlinkSync(path.join(root, link))}`);
        }
      } finally {
        for (const entry of fs.readdirSync(root)) if (entry !== '.git') fs.rmSync(path.join(root, entry), { recursive: true, force: true });
      }
    }),
    { numRuns: 200, seed: 20261130 },
  );
});

test('git semantics by example: nested negation, excluded directories, info/exclude, .git itself', () => {
  const root = tempDir('gitignore-examples');
  git(root, 'init', '-q');
  const files: Record<string, string> = {
    '.gitignore': '*.log\ndata/\nbuild/*\n!build/keep.txt\n',
    'src/.gitignore': '!important.log\n',
    'src/important.log': '',
    'src/other.log': '',
    'data/x.csv': '',
    'data/.gitignore': '!x.csv\n',
    'build/out.o': '',
    'build/keep.txt': '',
    'local.txt': '',
    'Main.PY': '',
    'pkg/__pycache__/m.cpython-312.pyc': '',
    'pkg/m.py': '',
  };
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
  fs.writeFileSync(path.join(root, '.git', 'info', 'exclude'), 'local.txt\n*.py\n');
  fs.writeFileSync(path.join(root, '.gitignore'), '*.log\ndata/\nbuild/*\n!build/keep.txt\n!pkg/*.py\n');
  const expected = ['.gitignore', 'Main.PY', 'build/keep.txt', 'pkg/m.py', 'src/.gitignore', 'src/important.log'];
  assert.deepEqual(synced(root), expected);
  assert.deepEqual(gitListing(root).filter((p) => !p.includes('__pycache__')), expected, 'git agrees (bytecode aside, which is never sent)');
});

test('symlinks inside the project are kept; ones leading outside are reported', () => {
  const root = tempDir('links');
  const outside = tempDir('outside');
  fs.mkdirSync(path.join(root, 'pkg'));
  fs.writeFileSync(path.join(root, 'pkg', 'real.py'), 'X = 1\n');
  fs.symlinkSync('real.py', path.join(root, 'pkg', 'alias.py'));
  fs.symlinkSync('pkg', path.join(root, 'pkg2'));
  fs.symlinkSync(outside, path.join(root, 'abs'));
  fs.symlinkSync('../' + path.basename(outside), path.join(root, 'rel'));
  fs.symlinkSync(path.join(outside), path.join(outside, 'back'));
  fs.symlinkSync(path.join(root, 'abs'), path.join(root, 'pkg', 'via'));
  // Inside on paper, but ".." after a link to the root climbs out of it.
  fs.symlinkSync('.', path.join(root, 'here'));
  fs.symlinkSync('here/..', path.join(root, 'up'));
  const { files, skipped } = listProjectFiles(root);
  assert.deepEqual(files.map((f) => f.path), ['here', 'pkg/alias.py', 'pkg/real.py', 'pkg2']);
  assert.deepEqual(skipped.sort(), ['abs', 'pkg/via', 'rel', 'up']);
});
