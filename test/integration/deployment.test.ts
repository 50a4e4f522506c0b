// Deployments on the real local cloud: a project's requirements.txt or uv.lock becomes a virtual
// environment on the instance, built once per content hash from a package index served here (no
// public index is reachable, nor wanted), and reused by later jobs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { EnvironmentEvent } from '../../src/core/deployment';
import { MeadowrunError } from '../../src/core/errors';
import { JobOptions } from '../../src/jobs/engine';
import { agentProcesses } from '../support/instanceProcesses';
import { jobsOnAllInstances, makeProject, testCloud, TestCloud, waitFor } from '../support/localCloud';
import { PackageIndex, startPackageIndex, SYSTEM_PYTHON } from '../support/packageIndex';
import { NodeRun, runNode } from '../support/runNode';

let t: TestCloud;
let index: PackageIndex;

const VERSIONS = 'import tinya, tinyb, tinyc\ndef versions():\n    return [tinya.VERSION, tinyb.NAME, tinyc.VERSION]\n';

before(async () => {
  index = await startPackageIndex();
  t = testCloud({});
});

after(async () => {
  await t.dispose();
  await index.close();
});

function options(project: string, events: EnvironmentEvent[], extra: JobOptions = {}): JobOptions {
  return {
    projectDir: project,
    deployment: { kind: 'auto' },
    // Only our index: nothing may reach a public one.
    index: { indexUrl: index.url },
    onEvent: (e) => e.kind === 'environment' && events.push(e.event),
    ...extra,
  };
}

async function workDir(instanceId: string): Promise<string> {
  return (await t.cloud.table.getInstance(instanceId))!.workDir!;
}

/** The instance's built environments and what their markers say. */
function environments(work: string): Record<string, { builtAt: string }> {
  const dir = path.join(work, 'envs');
  if (!fs.existsSync(dir)) return {};
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .filter((d) => fs.existsSync(path.join(dir, d, 'meadowrun-environment.json')))
      .map((d) => [d, JSON.parse(fs.readFileSync(path.join(dir, d, 'meadowrun-environment.json'), 'utf8'))]),
  );
}

const requirementsProject = makeProject({
  'requirements.txt': '-r base.txt\ntinya==1.0\n',
  'base.txt': 'tinyb==1.0\ntinyc==0.1\n',
  'versions.py': VERSIONS,
});

let firstBuildS = 0;

test('a requirements.txt project imports the exact pinned versions remotely; its environment is built once, with its log streamed', async () => {
  const events: EnvironmentEvent[] = [];
  const began = Date.now();
  // Two CPUs: the instance has room for the two concurrent jobs below.
  const r = await t.engine.runFunction('versions.py:versions', '[]', options(requirementsProject, events, { resources: { cpu: 2, memoryGb: 2 } }));
  firstBuildS = (Date.now() - began) / 1000;
  assert.equal(r.outcome.status, 'succeeded', JSON.stringify(r.outcome));
  assert.equal(r.outcome.status === 'succeeded' && r.outcome.value?.json, '["1.0", "tinyb", "0.1"]');
  assert.equal(events[0].kind, 'building');
  assert.ok(events.some((e) => e.kind === 'log' && /Successfully installed .*tinya-1\.0/.test(e.line)), 'pip’s output is streamed');
  assert.equal(events.at(-1)!.kind, 'built');
  assert.equal(Object.keys(environments(await workDir(r.instanceId))).length, 1);
  // The job's own log on the instance has the build in it.
  const log = fs.readFileSync(r.logPath!, 'utf8');
  assert.match(log, /Building environment [0-9a-f]{16} from requirements\.txt \(first time on this instance\)/);
});

test('a second job with the same requirements starts in the built environment: nothing rebuilt, nothing downloaded', async () => {
  const downloadsBefore = new Map(index.downloads);
  const work = await workDir((await t.cloud.table.listInstances())[0].id);
  const builtBefore = environments(work);
  const events: EnvironmentEvent[] = [];
  const began = Date.now();
  const r = await t.engine.runFunction('versions.py:versions', '[]', options(requirementsProject, events));
  const hitS = (Date.now() - began) / 1000;
  assert.equal(r.outcome.status === 'succeeded' && r.outcome.value?.json, '["1.0", "tinyb", "0.1"]');
  assert.deepEqual(events.map((e) => e.kind), ['reused']);
  assert.deepEqual(environments(work), builtBefore, 'the environment was not rebuilt');
  assert.deepEqual(index.downloads, downloadsBefore);
  console.log(`# first job (build): ${firstBuildS.toFixed(2)} s; second job (cache hit): ${hitS.toFixed(2)} s`);
});

test('a map’s workers and its arguments run in the environment too', async () => {
  const project = makeProject({ 'requirements.txt': 'tinyb==1.0\ntinyc==0.1\ntinya==1.0\n', 'tasks.py': 'import tinya\ndef tag(x):\n    return f"{x}-{tinya.VERSION}"\n' });
  const events: EnvironmentEvent[] = [];
  const r = await t.engine.runMap('tasks.py:tag', { kind: 'expression', expr: '[__import__("tinya").VERSION] * 3' }, {
    ...options(project, events),
    workers: 2,
    resources: { cpu: 0.5, memoryGb: 0.5 },
  });
  assert.equal(r.status, 'succeeded');
  assert.deepEqual(r.results.map((x) => x?.ok && x.value.json), ['"1.0-1.0"', '"1.0-1.0"', '"1.0-1.0"']);
  // The same pins as the first test's requirements, flattened: that environment, reused.
  assert.ok(events.length > 0 && events.every((e) => e.kind === 'reused'), JSON.stringify(events));
});

function uvLock(): string {
  const wheel = (name: string, version: string) => {
    const f = index.file(name, version);
    return `wheels = [\n    { url = "${index.url.replace(/\/simple$/, '')}/files/${f.file}", hash = "sha256:${f.sha256}", size = 1000 },\n]`;
  };
  const registry = `source = { registry = "${index.url}" }`;
  return `version = 1
revision = 2
requires-python = ">=3.8"

[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "tinyb" },
    { name = "tinyc" },
]

[[package]]
name = "tinya"
version = "2.0"
${registry}
${wheel('tinya', '2.0')}

[[package]]
name = "tinyb"
version = "1.0"
${registry}
dependencies = [
    { name = "tinya" },
]
${wheel('tinyb', '1.0')}

[[package]]
name = "tinyc"
version = "0.1"
${registry}
${wheel('tinyc', '0.1')}
`;
}

test('a uv.lock project: two jobs at once on one instance build its environment once, and both run in it with the locked versions (hashes checked)', async () => {
  const project = makeProject({ 'uv.lock': uvLock(), 'pyproject.toml': '[project]\nname = "app"\nversion = "0.1.0"\ndependencies = ["tinyb", "tinyc"]\n', 'versions.py': VERSIONS });
  const wheel = index.file('tinya', '2.0').file;
  const downloadsBefore = index.downloads.get(wheel) ?? 0;
  const events: EnvironmentEvent[][] = [[], []];
  const [a, b] = await Promise.all(events.map((ev) => t.engine.runFunction('versions.py:versions', '[]', options(project, ev))));
  for (const r of [a, b]) assert.equal(r.outcome.status === 'succeeded' && r.outcome.value?.json, '["2.0", "tinyb", "0.1"]', JSON.stringify(r.outcome));
  assert.equal(a.instanceId, b.instanceId, 'both ran on the one warm instance');
  assert.equal((index.downloads.get(wheel) ?? 0) - downloadsBefore, 1, 'the wheel was downloaded by one build');
  // One job built it (pip's output is its); the other waited for that build.
  assert.equal(events.filter((ev) => ev.some((e) => e.kind === 'log')).length, 1);
  for (const ev of events) assert.deepEqual([ev[0].kind, ev.at(-1)!.kind], ['building', 'built']);
  assert.equal(Object.keys(environments(await workDir(a.instanceId))).length, 2);
});

test('a requirement no index has: one clear error naming pip’s failing line, at the environment stage, and nothing left allocated or half-built', async () => {
  const project = makeProject({ 'requirements.txt': 'tinya==1.0\nnothere==9.9\n', 'versions.py': VERSIONS });
  const work = await workDir((await t.cloud.table.listInstances())[0].id);
  const before = fs.readdirSync(path.join(work, 'envs')).sort();
  await assert.rejects(
    t.engine.runFunction('versions.py:versions', '[]', options(project, [])),
    (e: MeadowrunError) => {
      assert.equal(e.code, 'environment');
      assert.equal(e.stage, 'environment');
      assert.match(e.message, /^requirements\.txt: pip install failed: (No matching distribution found for nothere==9\.9|Could not find a version that satisfies the requirement nothere==9\.9)/);
      return true;
    },
  );
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
  assert.deepEqual(fs.readdirSync(path.join(work, 'envs')).sort(), before, 'no half-built environment or lock is left');
});

function wheelFile(name: string, version: string): { file: string; url: string; sha256: string } {
  const f = index.file(name, version);
  return { ...f, url: `${index.url.replace(/\/simple$/, '')}/files/${f.file}` };
}

test('poetry.lock, pylock.toml and pyproject.toml projects: each runs with what it names', async () => {
  const a1 = wheelFile('tinya', '1.0');
  const b = wheelFile('tinyb', '1.0');
  const c = wheelFile('tinyc', '0.1');
  const poetry = makeProject({
    'poetry.lock': [a1, b, c]
      .map((f, i) => `[[package]]\nname = "${['tinya', 'tinyb', 'tinyc'][i]}"\nversion = "${['1.0', '1.0', '0.1'][i]}"\ndescription = ""\noptional = false\npython-versions = "*"\ngroups = ["main"]\nfiles = [\n    {file = "${f.file}", hash = "sha256:${f.sha256}"},\n]\n`)
      .join('\n') + '\n[metadata]\nlock-version = "2.1"\npython-versions = "^3.8"\ncontent-hash = "0"\n',
    'versions.py': VERSIONS,
  });
  const pylock = makeProject({
    'pylock.toml':
      "lock-version = '1.0'\ncreated-by = 'test'\n" +
      [
        ['tinya', '2.0', wheelFile('tinya', '2.0')],
        ['tinyb', '1.0', b],
        ['tinyc', '0.1', c],
      ]
        .map(([n, v, f]) => {
          const w = f as { file: string; url: string; sha256: string };
          return `\n[[packages]]\nname = '${n}'\nversion = '${v}'\n\n[[packages.wheels]]\nname = '${w.file}'\nurl = '${w.url}'\nhashes = {sha256 = '${w.sha256}'}\n`;
        })
        .join('') +
      "\n[[packages]]\nname = 'app'\ndirectory = { path = '.', editable = true }\n",
    'versions.py': VERSIONS,
  });
  // PEP 621 ranges: pip resolves them against the index (the newest tinya that fits).
  const pyproject = makeProject({ 'pyproject.toml': '[project]\nname = "app"\nversion = "0"\ndependencies = ["tinyb", "tinyc", "tinya<3"]\n', 'versions.py': VERSIONS });
  for (const [project, expected, first] of [
    [poetry, '["1.0", "tinyb", "0.1"]', 'building'],
    // The same pins and hashes as the uv.lock above: the same environment, whichever file said so.
    [pylock, '["2.0", "tinyb", "0.1"]', 'reused'],
    [pyproject, '["2.0", "tinyb", "0.1"]', 'building'],
  ]) {
    const events: EnvironmentEvent[] = [];
    const r = await t.engine.runFunction('versions.py:versions', '[]', options(project, events));
    assert.equal(r.outcome.status === 'succeeded' && r.outcome.value?.json, expected, JSON.stringify(r.outcome));
    assert.equal(events[0].kind, first);
  }
});

test('a job cancelled while its environment builds ends cancelled and frees its allocation; the build finishes for the next job', async () => {
  const project = makeProject({ 'requirements.txt': 'tinyc==0.1\n', 'versions.py': 'import tinyc\ndef v():\n    return tinyc.VERSION\n' });
  const controller = new AbortController();
  const r = await t.engine.runFunction('versions.py:v', '[]', options(project, [], {
    signal: controller.signal,
    onEvent: (e) => e.kind === 'environment' && e.event.kind === 'building' && controller.abort(),
  }));
  assert.equal(r.outcome.status, 'cancelled');
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
  const events: EnvironmentEvent[] = [];
  const again = await t.engine.runFunction('versions.py:v', '[]', options(project, events));
  assert.equal(again.outcome.status === 'succeeded' && again.outcome.value?.json, '"0.1"');
  assert.deepEqual(events.map((e) => e.kind), ['reused']);
});

test('mirror: a local venv with packages from the index is reproduced remotely (the CLI’s --interpreter-local)', { timeout: 120_000 }, async () => {
  const venv = path.join(makeProject({}), 'venv');
  await new Promise<void>((resolve, reject) =>
    execFile(SYSTEM_PYTHON, ['-m', 'venv', venv], (e) => (e ? reject(e) : resolve())),
  );
  await new Promise<void>((resolve, reject) =>
    execFile(path.join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--no-input', '--index-url', index.url, 'tinyb==1.0', 'tinya==1.0'], (e, _out, err) => (e ? reject(new Error(err)) : resolve())),
  );
  const project = makeProject({ 'versions.py': 'import tinya, tinyb\ndef v():\n    return [tinya.VERSION, tinyb.VERSION]\n' });
  const r = await cli(project, 'run-function', 'versions.py:v', '--deployment', 'mirror', '--interpreter-local', path.join(venv, 'bin', 'python'), '--index-url', index.url, '--json');
  assert.equal(r.code, 0, r.stderr);
  const outcome = JSON.parse(r.stdout).outcome;
  assert.equal(outcome.value.json, '["1.0", "1.0"]');
});

/** The CLI, run without blocking this process: the package index is served from here. */
function cli(cwd: string, ...args: string[]): Promise<NodeRun> {
  return runNode(path.join(__dirname, '..', '..', 'dist', 'cli.js'), ['--state-dir', t.cloud.stateDir, ...args], { cwd });
}

test('the CLI: --deployment requirements=FILE and --index-url; a bad deployment is refused before anything is allocated', { timeout: 120_000 }, async () => {
  const project = makeProject({ 'reqs/prod.txt': 'tinya==2.0\n', 'versions.py': 'import tinya\ndef v():\n    return tinya.VERSION\n' });
  const run = (...args: string[]) => cli(project, ...args);
  const ok = await run('run-function', 'versions.py:v', '--deployment', 'requirements=reqs/prod.txt', '--index-url', index.url);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), "'2.0'");
  assert.match(ok.stderr, /^Libraries from reqs\/prod\.txt$/m);
  assert.match(ok.stderr, /^Building environment [0-9a-f]{4}… from reqs\/prod\.txt \(first time on this instance\)\n {2}\| \$ pip install/m);
  assert.match(ok.stderr, /^Environment [0-9a-f]{4}… built in [\d.]+ s$/m);
  const bad = await run('run-function', 'versions.py:v', '--deployment', 'docker');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Unknown deployment "docker"/);
  const missing = await run('run-function', 'versions.py:v', '--deployment', 'poetry');
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /check failed: Cannot read poetry\.lock/);
});

test('meadowrun envs list shows each instance’s environments; prune removes those unused, never one in use', { timeout: 60_000 }, async () => {
  const [instance] = await t.cloud.table.listInstances();
  const list = await cli(t.project, 'envs', 'list', '--json');
  assert.equal(list.code, 0, list.stderr);
  const listed = JSON.parse(list.stdout) as { hash: string; source: string; bytes: number; inUse: boolean }[];
  const onDisk = Object.keys(environments(instance.workDir!)).sort();
  assert.deepEqual(listed.map((e) => e.hash).sort(), onDisk);
  const sources = [...new Set(listed.map((e) => e.source))].sort();
  assert.match(sources[0], /venv\/bin\/python \(Python 3\.\d+\.\d+\)$/, 'the mirrored interpreter');
  assert.deepEqual(sources.slice(1), ['poetry.lock', 'pyproject.toml', 'reqs/prod.txt', 'requirements.txt', 'uv.lock']);
  assert.ok(listed.every((e) => e.bytes > 1_000_000), 'a venv with pip is over a megabyte');
  // The resident agent keeps a warm Python in each environment its jobs used: all in use, none pruned.
  assert.ok(listed.every((e) => e.inUse));
  const kept = await cli(t.project, 'envs', 'prune', '--older-than', '0', '--json');
  assert.equal(kept.code, 0, kept.stderr);
  assert.deepEqual(Object.keys(environments(instance.workDir!)).sort(), onDisk);
  // With the agent gone (its warm Pythons with it), nothing uses them.
  t.engine.dispose();
  for (const pid of agentProcesses(instance.id, 'daemon')) process.kill(pid, 'SIGKILL');
  await waitFor('the warm Pythons to exit', () => !fs.readdirSync('/proc').some((p) => /^\d+$/.test(p) && cmdline(p).startsWith(path.join(instance.workDir!, 'envs'))));
  const pruned = await cli(t.project, 'envs', 'prune', '--older-than', '0', '--json');
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.ok((JSON.parse(pruned.stdout) as { removed?: boolean }[]).every((e) => e.removed));
  assert.deepEqual(Object.keys(environments(instance.workDir!)), []);
});

function cmdline(pid: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

// micromamba is one binary no Debian package has; where it is, and a local channel with it, conda
// projects run end to end. Everywhere, the instance without it fails the build in one line.
const micromambaOnInstance = ['/usr/local/bin', '/usr/bin', '/bin'].some((d) => fs.existsSync(path.join(d, 'micromamba')));
const condaChannel = process.env.MEADOWRUN_TEST_CONDA_CHANNEL;

test('an environment.yml project on an instance without micromamba: one clear error at the environment stage, nothing left allocated', { skip: micromambaOnInstance && 'this instance has micromamba' }, async () => {
  const project = makeProject({ 'environment.yml': 'channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip:\n    - tinya==1.0\n', 'versions.py': VERSIONS });
  await assert.rejects(t.engine.runFunction('versions.py:versions', '[]', options(project, [])), (e: MeadowrunError) => {
    assert.equal(e.stage, 'environment');
    assert.equal(e.message, 'environment.yml: micromamba is not installed on the instance (put the micromamba binary on its PATH, or set MEADOWRUN_MICROMAMBA)');
    return true;
  });
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});

test('an environment.yml project end to end with micromamba and a local channel', { skip: !(micromambaOnInstance && condaChannel) && 'no micromamba and MEADOWRUN_TEST_CONDA_CHANNEL on this machine' }, async () => {
  const project = makeProject({ 'environment.yml': `channels: [${condaChannel}]\ndependencies:\n  - python\n  - pip:\n    - tinya==1.0\n`, 'versions.py': 'import tinya, sys\ndef versions():\n    return [tinya.VERSION, sys.prefix]\n' });
  const r = await t.engine.runFunction('versions.py:versions', '[]', options(project, []));
  assert.equal(r.outcome.status, 'succeeded', JSON.stringify(r.outcome));
});
if (!(micromambaOnInstance && condaChannel)) console.log('# conda end to end: not run here (needs micromamba on PATH and MEADOWRUN_TEST_CONDA_CHANNEL, a local channel); the missing-micromamba error is tested instead');
