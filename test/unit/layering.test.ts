// The shape of the code, checked from its imports: core/ is pure, only ui/ talks to VS Code, the
// agent shares nothing with the client but wire types in remote/, and no two parts depend on each
// other (so a provider, the adjuster or the engine can each be loaded, tested and bundled alone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const src = path.join(__dirname, '..', '..', 'src');

interface Import {
  from: string; // file, relative to src/
  spec: string; // as written
  to?: string; // resolved file or folder, relative to src/, for relative imports
  /** import() or `import type`: loads nothing when the importer loads. */
  lazy: boolean;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

// Static imports and re-exports, side-effect imports, dynamic import() and require().
const IMPORT = /(?:^\s*(import\s+type\b)?[^'"`;]*?\bfrom\s+|(\bimport\s*\(\s*)|^\s*import\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/gm;

function imports(): Import[] {
  return sourceFiles(src).flatMap((file) =>
    [...fs.readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => ({
      from: path.relative(src, file),
      spec: m[3],
      to: m[3].startsWith('.') ? path.relative(src, path.resolve(path.dirname(file), m[3])) : undefined,
      lazy: !!(m[1] || m[2]),
    })),
  );
}

/**
 * The part of the code a file belongs to: its top folder; but in cloud/, each provider folder and
 * each shared file (ports, registry) is a part of its own — providers implement the ports that
 * remote/, jobs/ and management/ use, and use those in turn.
 */
function part(file: string): string {
  const [top, second, ...rest] = file.split(path.sep);
  if (second === undefined) return top.replace(/\.ts$/, '');
  if (top === 'cloud') return `cloud/${rest.length ? second : second.replace(/\.ts$/, '')}`;
  return top;
}

/** A cycle in the graph as a path "a → b → a", or undefined. */
function findCycle(edges: Map<string, Set<string>>): string | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'visiting') return [...stack.slice(stack.indexOf(n)), n].join(' → ');
    state.set(n, 'visiting');
    stack.push(n);
    for (const m of edges.get(n) ?? []) {
      const cycle = visit(m);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of edges.keys()) {
    const cycle = visit(n);
    if (cycle) return cycle;
  }
  return undefined;
}

function partGraph(all: Import[]): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const i of all) {
    if (!i.to) continue;
    const [a, b] = [part(i.from), part(i.to)];
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)!.add(b);
  }
  return edges;
}

test('the import scan sees the code (a scan that finds nothing would pass everything)', () => {
  const all = imports();
  assert.ok(all.some((i) => i.from === path.join('ui', 'services.ts') && i.spec === 'vscode'));
  assert.ok(all.some((i) => i.from === path.join('cloud', 'registry.ts') && i.spec === './local' && i.lazy), 'dynamic import() is seen');
  assert.ok(all.some((i) => i.from === path.join('ui', 'services.ts') && i.spec === '../jobs/engine' && i.lazy), 'import type is seen');
  assert.ok(all.some((i) => i.from === path.join('cli', 'program.ts') && i.spec === '../jobs/engine' && !i.lazy), 'a value import is not lazy');
  assert.equal(part(path.join('cloud', 'local', 'index.ts')), 'cloud/local');
  assert.equal(part(path.join('cloud', 'ports.ts')), 'cloud/ports');
  assert.equal(findCycle(new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])]])), 'a → b → c → a');
});

test('core/ is pure: it imports nothing outside core/, not even Node built-ins', () => {
  const bad = imports().filter((i) => part(i.from) === 'core' && (!i.to || part(i.to) !== 'core'));
  assert.deepEqual(bad.map((i) => `${i.from}: ${i.spec}`), []);
});

test("only ui/ (and the extension's entry point, which hands it the context) imports 'vscode'", () => {
  const bad = imports().filter((i) => i.spec === 'vscode' && part(i.from) !== 'ui' && i.from !== 'extension.ts');
  assert.deepEqual(bad.map((i) => i.from), []);
});

test('nothing outside agent/ imports it: the client shares only wire types, and those live in remote/', () => {
  const bad = imports().filter((i) => i.to && part(i.to) === 'agent' && part(i.from) !== 'agent');
  assert.deepEqual(bad.map((i) => `${i.from}: ${i.spec}`), []);
});

test('the front ends reach a provider only through cloud/registry, which loads it when chosen', () => {
  const provider = (i: Import) => !!i.to && /^cloud\/(?!ports$|registry$)/.test(part(i.to));
  const frontEnd = (i: Import) => ['ui', 'cli', 'extension'].includes(part(i.from));
  assert.deepEqual(imports().filter((i) => frontEnd(i) && provider(i)).map((i) => `${i.from}: ${i.spec}`), []);
  const eager = imports().filter((i) => part(i.from) === 'cloud/registry' && provider(i) && !i.lazy);
  assert.deepEqual(eager.map((i) => i.spec), [], 'the registry imports providers with import() (or types only)');
});

test('the AWS SDK loads only when AWS is used: outside cloud/aws, only import() or types reach it', () => {
  const aws = (i: Import) => i.spec.startsWith('@aws-sdk/') || (!!i.to && part(i.to) === 'cloud/aws');
  const eager = imports().filter((i) => aws(i) && !i.lazy && part(i.from) !== 'cloud/aws');
  assert.deepEqual(eager.map((i) => `${i.from}: ${i.spec}`), []);
});

test('no cycles between the parts of the code (cloud providers, ports, registry, remote, jobs, management, agent, …)', () => {
  assert.equal(findCycle(partGraph(imports())), undefined);
});
