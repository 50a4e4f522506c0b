// Deployments read from project files: each lock format into exact pins (with markers and hashes),
// requirements files flattened with their includes and constraints, and `auto`'s detection order.
// The files are written as the formats' documentation describes them, as uv, poetry and pip-tools
// write them.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { parse } from 'smol-toml';
import {
  environmentKey,
  failingLine,
  venvFailure,
  parseDeploymentChoice,
  pinsFromInstalled,
  pinsFromPoetryLock,
  pinsFromPylock,
  pinsFromUvLock,
  requirementsFromPyproject,
} from '../../src/core/deployment';
import { MeadowrunError } from '../../src/core/errors';
import { resolveDeployment } from '../../src/jobs/deployment';
import { tempDir } from '../support/tempDir';

const h = (c: string) => `sha256:${c.repeat(64)}`;

const UV_LOCK = `version = 1
revision = 2
requires-python = ">=3.9"
resolution-markers = [
    "python_full_version >= '3.10'",
    "python_full_version < '3.10'",
]

[[package]]
name = "anyio"
version = "4.9.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "exceptiongroup", marker = "python_full_version < '3.11'" },
    { name = "idna" },
    { name = "sniffio" },
]
sdist = { url = "https://files.example/anyio-4.9.0.tar.gz", hash = "${h('a')}", size = 190949, upload-time = "2025-03-17T00:02:54.77Z" }
wheels = [
    { url = "https://files.example/anyio-4.9.0-py3-none-any.whl", hash = "${h('b')}", size = 100916, upload-time = "2025-03-17T00:02:52.713Z" },
]

[[package]]
name = "exceptiongroup"
version = "1.3.0"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://files.example/exceptiongroup-1.3.0.tar.gz", hash = "${h('c')}", size = 29749 }
wheels = [
    { url = "https://files.example/exceptiongroup-1.3.0-py3-none-any.whl", hash = "${h('d')}", size = 16674 },
]

[[package]]
name = "idna"
version = "3.10"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.example/idna-3.10-py3-none-any.whl", hash = "${h('e')}", size = 70442 },
]

[[package]]
name = "numpy"
version = "2.0.2"
source = { registry = "https://pypi.org/simple" }
resolution-markers = [
    "python_full_version < '3.10'",
]
wheels = [
    { url = "https://files.example/numpy-2.0.2-cp39-cp39-manylinux_2_17_x86_64.whl", hash = "${h('f')}", size = 19000000 },
]

[[package]]
name = "numpy"
version = "2.2.6"
source = { registry = "https://pypi.org/simple" }
resolution-markers = [
    "python_full_version >= '3.10'",
]
wheels = [
    { url = "https://files.example/numpy-2.2.6-cp311-cp311-manylinux_2_17_x86_64.whl", hash = "${h('0')}", size = 16800000 },
]

[[package]]
name = "pysocks"
version = "1.7.1"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.example/PySocks-1.7.1-py3-none-any.whl", hash = "${h('1')}", size = 16725 },
]

[[package]]
name = "pytest"
version = "8.3.5"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.example/pytest-8.3.5-py3-none-any.whl", hash = "${h('2')}", size = 343634 },
]

[[package]]
name = "requests"
version = "2.32.3"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "idna" },
]
wheels = [
    { url = "https://files.example/requests-2.32.3-py3-none-any.whl", hash = "${h('3')}", size = 64928 },
]

[package.optional-dependencies]
socks = [
    { name = "pysocks" },
]

[[package]]
name = "sniffio"
version = "1.3.1"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.example/sniffio-1.3.1-py3-none-any.whl", hash = "${h('4')}", size = 10235 },
]

[[package]]
name = "unused"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.example/unused-1.0-py3-none-any.whl", hash = "${h('5')}", size = 100 },
]

[[package]]
name = "example"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "anyio" },
    { name = "numpy", version = "2.0.2", source = { registry = "https://pypi.org/simple" }, marker = "python_full_version < '3.10'" },
    { name = "numpy", version = "2.2.6", source = { registry = "https://pypi.org/simple" }, marker = "python_full_version >= '3.10'" },
    { name = "requests", extra = ["socks"] },
]

[package.dev-dependencies]
dev = [
    { name = "pytest" },
]

[package.metadata]
requires-dist = [
    { name = "anyio", specifier = ">=4" },
    { name = "numpy" },
    { name = "requests", extras = ["socks"] },
]

[package.metadata.requires-dev]
dev = [{ name = "pytest", specifier = ">=8" }]
`;

test('uv.lock: the project’s runtime dependencies, walked from it with their markers, forks and extras; dev groups and unreached packages left out', () => {
  const text = pinsFromUvLock(parse(UV_LOCK));
  const lines = text.split('\n').filter((l) => !l.startsWith('    --hash')).filter(Boolean);
  assert.deepEqual(lines, [
    "anyio==4.9.0 \\",
    "exceptiongroup==1.3.0 ; python_full_version < '3.11' \\",
    'idna==3.10 \\',
    "numpy==2.0.2 ; python_full_version < '3.10' \\",
    "numpy==2.2.6 ; python_full_version >= '3.10' \\",
    'pysocks==1.7.1 \\',
    'requests==2.32.3 \\',
    'sniffio==1.3.1 \\',
  ]);
  // Every file's hash is kept, the sdist's too: pip checks whichever it downloads.
  assert.match(text, new RegExp(`anyio==4.9.0 \\\\\n    --hash=${h('b')} \\\\\n    --hash=${h('a')}\n`));
  assert.doesNotMatch(text, /pytest|unused|example/);
});

test('uv.lock: a package reached along two paths installs under either path’s markers', () => {
  const lock = parse(`version = 1
[[package]]
name = "app"
version = "0"
source = { virtual = "." }
dependencies = [{ name = "a", marker = "sys_platform == 'linux'" }, { name = "b", marker = "sys_platform == 'darwin'" }]
[[package]]
name = "a"
version = "1"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "c", marker = "python_version < '3.12'" }]
[[package]]
name = "b"
version = "1"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "c" }]
[[package]]
name = "c"
version = "1"
source = { registry = "https://pypi.org/simple" }
`);
  const text = pinsFromUvLock(lock);
  // No hashes anywhere: none are written.
  assert.equal(
    text,
    "a==1 ; sys_platform == 'linux'\n" +
      "b==1 ; sys_platform == 'darwin'\n" +
      "c==1 ; ((sys_platform == 'linux') and (python_version < '3.12')) or (sys_platform == 'darwin')\n",
  );
});

test('uv.lock: git and path sources, unknown versions and missing packages are one readable error', () => {
  const git = parse(`version = 1
[[package]]
name = "app"
version = "0"
source = { editable = "." }
dependencies = [{ name = "lib" }]
[[package]]
name = "lib"
version = "0.3"
source = { git = "https://example.com/lib.git?rev=main#0123abcd" }
`);
  assert.throws(() => pinsFromUvLock(git), (e: MeadowrunError) => e.code === 'bad-deployment' && /lib comes from git/.test(e.message));
  assert.throws(() => pinsFromUvLock(parse('version = 2\n[[package]]\nname = "x"\nversion = "1"\n')), /version 2 is not supported/);
  assert.throws(() => pinsFromUvLock(parse('[tool]\n')), /not a uv lock file/);
  const missing = parse(`version = 1
[[package]]
name = "app"
version = "0"
source = { editable = "." }
dependencies = [{ name = "ghost" }]
`);
  assert.throws(() => pinsFromUvLock(missing), /depends on ghost, which the lock does not list/);
});

const PYLOCK = `lock-version = '1.0'
environments = ["sys_platform == 'linux'"]
requires-python = '>=3.9'
extras = []
dependency-groups = []
default-groups = []
created-by = 'mousebender'

[[packages]]
name = 'attrs'
version = '25.1.0'
requires-python = '>=3.8'
index = 'https://pypi.org/simple'

[[packages.wheels]]
name = 'attrs-25.1.0-py3-none-any.whl'
upload-time = 2025-01-25T11:30:10.164985+00:00
url = 'https://files.example/attrs-25.1.0-py3-none-any.whl'
size = 63152
hashes = {sha256 = '${'c'.repeat(64)}'}

[packages.sdist]
name = 'attrs-25.1.0.tar.gz'
url = 'https://files.example/attrs-25.1.0.tar.gz'
size = 810562
hashes = {sha256 = '${'d'.repeat(64)}'}

[[packages]]
name = 'tomli'
version = '2.2.1'
marker = "python_version < '3.11'"
index = 'https://pypi.org/simple'

[[packages.wheels]]
name = 'tomli-2.2.1-py3-none-any.whl'
url = 'https://files.example/tomli-2.2.1-py3-none-any.whl'
hashes = {sha256 = '${'e'.repeat(64)}'}

[[packages]]
name = 'myproject'
directory = { path = '.', editable = true }

[tool.mousebender]
note = 'tools may add their own tables'
`;

test('pylock.toml (PEP 751): pins with their markers and every file’s hashes; the project’s own directory is synced, not installed', () => {
  assert.equal(
    pinsFromPylock(parse(PYLOCK)),
    `attrs==25.1.0 \\\n    --hash=sha256:${'c'.repeat(64)} \\\n    --hash=sha256:${'d'.repeat(64)}\n` +
      `tomli==2.2.1 ; python_version < '3.11' \\\n    --hash=sha256:${'e'.repeat(64)}\n`,
  );
  assert.throws(() => pinsFromPylock(parse(`lock-version = '2.0'\n[[packages]]\nname = 'x'\nversion = '1'\n`)), /lock-version 2.0 is not supported/);
  assert.throws(
    () => pinsFromPylock(parse(`lock-version = '1.0'\n[[packages]]\nname = 'x'\nvcs = { type = 'git', url = 'https://example.com/x.git', commit-id = 'abc' }\n`)),
    /x comes from version control/,
  );
});

const POETRY_LOCK = `# This file is automatically @generated by Poetry 2.1.1 and should not be changed by hand.

[[package]]
name = "certifi"
version = "2025.1.31"
description = "Python package for providing Mozilla's CA Bundle."
optional = false
python-versions = ">=3.6"
groups = ["main"]
files = [
    {file = "certifi-2025.1.31-py3-none-any.whl", hash = "${h('6')}"},
    {file = "certifi-2025.1.31.tar.gz", hash = "${h('7')}"},
]

[[package]]
name = "colorama"
version = "0.4.6"
description = "Cross-platform colored terminal text."
optional = false
python-versions = "!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*,!=3.4.*,!=3.5.*,!=3.6.*,>=2.7"
groups = ["main", "dev"]
markers = {main = "platform_system == \\"Windows\\"", dev = "sys_platform == \\"win32\\""}
files = [
    {file = "colorama-0.4.6-py2.py3-none-any.whl", hash = "${h('8')}"},
]

[[package]]
name = "pytest"
version = "8.3.5"
description = "pytest: simple powerful testing with Python"
optional = false
python-versions = ">=3.8"
groups = ["dev"]
files = [
    {file = "pytest-8.3.5-py3-none-any.whl", hash = "${h('9')}"},
]

[package.dependencies]
colorama = {version = "*", markers = "sys_platform == \\"win32\\""}

[[package]]
name = "private-lib"
version = "1.2.0"
description = ""
optional = false
python-versions = ">=3.9"
groups = ["main"]
files = [
    {file = "private_lib-1.2.0-py3-none-any.whl", hash = "${h('a')}"},
]

[package.source]
type = "legacy"
url = "https://pypi.internal.example/simple"
reference = "internal"

[metadata]
lock-version = "2.1"
python-versions = "^3.9"
content-hash = "0f3c9e6a1d2b"
`;

test('poetry.lock: the main group’s packages with their main-group markers and file hashes; dev-only ones left out', () => {
  assert.equal(
    pinsFromPoetryLock(parse(POETRY_LOCK)),
    `certifi==2025.1.31 \\\n    --hash=${h('6')} \\\n    --hash=${h('7')}\n` +
      `colorama==0.4.6 ; platform_system == "Windows" \\\n    --hash=${h('8')}\n` +
      `private-lib==1.2.0 \\\n    --hash=${h('a')}\n`,
  );
  // Poetry 1's lock says `category` instead of `groups`.
  const old = parse(`[[package]]\nname = "six"\nversion = "1.16.0"\ncategory = "main"\noptional = false\npython-versions = "*"\n\n[[package]]\nname = "mypy"\nversion = "1.0"\ncategory = "dev"\noptional = false\npython-versions = "*"\n\n[metadata]\nlock-version = "1.1"\n`);
  assert.equal(pinsFromPoetryLock(old), 'six==1.16.0\n');
  assert.throws(
    () => pinsFromPoetryLock(parse(`[[package]]\nname = "mine"\nversion = "0.1"\ngroups = ["main"]\n[package.source]\ntype = "directory"\nurl = "../mine"\n`)),
    /mine comes from a directory source/,
  );
});

test('pyproject.toml: PEP 621 dependencies as they are; dynamic ones and a missing [project] are refused', () => {
  const doc = parse(`[project]\nname = "app"\nversion = "0.1"\ndependencies = ["requests>=2.31", "numpy ; python_version >= '3.10'"]\n[project.optional-dependencies]\nplot = ["matplotlib"]\n`);
  assert.equal(requirementsFromPyproject(doc), "requests>=2.31\nnumpy ; python_version >= '3.10'\n");
  assert.throws(() => requirementsFromPyproject(parse('[project]\nname = "app"\ndynamic = ["dependencies"]\n')), /dynamic/);
  assert.throws(() => requirementsFromPyproject(parse('[tool.poetry]\nname = "app"\n')), /no \[project\] table/);
});

function project(files: Record<string, string>): string {
  const dir = tempDir('deploy');
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

test('requirements.txt: -r includes and -c constraints (relative to the file naming them) flattened, hashes and options kept, comments and index URLs taken out', async () => {
  const dir = project({
    'requirements.txt': [
      '# app requirements',
      '--index-url https://pypi.internal.example/simple',
      '--extra-index-url=https://extra.example/simple',
      '-r reqs/base.txt',
      '-c constraints.txt',
      'tinya==1.0 \\',
      `    --hash=${h('1')} \\`,
      `    --hash=${h('2')}  # two wheels`,
      '',
    ].join('\n'),
    'reqs/base.txt': 'requests[socks]>=2 ; python_version >= "3.8"\n--prefer-binary\n-r more.txt\n-r ../requirements.txt\n',
    'reqs/more.txt': 'idna\n',
    'constraints.txt': 'urllib3<3\n',
  });
  const spec = await resolveDeployment(dir, { kind: 'requirements' });
  assert.deepEqual(spec, {
    source: 'requirements.txt',
    requirements: `requests[socks]>=2 ; python_version >= "3.8"\n--prefer-binary\nidna\ntinya==1.0 --hash=${h('1')} --hash=${h('2')}\n`,
    constraints: 'urllib3<3\n',
    indexUrl: 'https://pypi.internal.example/simple',
    extraIndexUrls: ['https://extra.example/simple'],
  });
  // The configured index overrides the file's; extra ones add up.
  const overridden = await resolveDeployment(dir, { kind: 'requirements' }, { indexUrl: 'http://127.0.0.1:1/simple', extraIndexUrls: ['http://127.0.0.1:2/simple'] });
  assert.equal(overridden?.indexUrl, 'http://127.0.0.1:1/simple');
  assert.deepEqual(overridden?.extraIndexUrls, ['https://extra.example/simple', 'http://127.0.0.1:2/simple']);
});

test('requirements.txt: editable and local-path requirements, and a missing include, name the file and line', async () => {
  // Lines are counted as in the file, continued ones too.
  const editable = project({ 'requirements.txt': `idna==3.10 \\\n    --hash=${h('1')}\n-e ./lib\n` });
  await assert.rejects(() => resolveDeployment(editable, { kind: 'requirements' }), /requirements\.txt, line 3: editable requirements \(-e \.\/lib\)/);
  const local = project({ 'requirements.txt': './wheels/x-1.0-py3-none-any.whl\n' });
  await assert.rejects(() => resolveDeployment(local, { kind: 'requirements' }), /line 1: a local path/);
  const missing = project({ 'requirements.txt': '-r nothere.txt\n' });
  await assert.rejects(() => resolveDeployment(missing, { kind: 'requirements' }), (e: MeadowrunError) => e.code === 'bad-deployment' && /nothere\.txt \(named in .*requirements\.txt\)/.test(e.message));
});

test('auto: uv.lock, then pylock.toml, poetry.lock, requirements.txt, pyproject.toml with dependencies; none found means the instance’s Python as it is', async () => {
  const files: Record<string, string> = {
    'uv.lock': 'version = 1\n[[package]]\nname = "a"\nversion = "1"\nsource = { registry = "https://pypi.org/simple" }\n',
    'pylock.toml': "lock-version = '1.0'\n[[packages]]\nname = 'b'\nversion = '1'\n",
    'poetry.lock': '[[package]]\nname = "c"\nversion = "1"\ngroups = ["main"]\n',
    'requirements.txt': 'd==1\n',
    'pyproject.toml': '[project]\nname = "p"\ndependencies = ["e==1"]\n',
  };
  const order = ['uv.lock', 'pylock.toml', 'poetry.lock', 'requirements.txt', 'pyproject.toml'];
  for (let i = 0; i < order.length; i++) {
    const dir = project(Object.fromEntries(order.slice(i).map((f) => [f, files[f]])));
    const spec = await resolveDeployment(dir, { kind: 'auto' });
    assert.equal(spec?.source, order[i]);
    assert.equal(spec?.requirements, `${'abcde'[i]}==1\n`);
  }
  assert.equal(await resolveDeployment(project({ 'pyproject.toml': '[project]\nname = "p"\n' }), { kind: 'auto' }), undefined);
  assert.equal(await resolveDeployment(project({ 'main.py': '' }), { kind: 'auto' }), undefined);
  assert.equal(await resolveDeployment(project({ 'requirements.txt': 'd==1\n' }), { kind: 'none' }), undefined);
  // An explicit kind that finds no file says so.
  await assert.rejects(() => resolveDeployment(project({}), { kind: 'poetry' }), /Cannot read poetry\.lock/);
  await assert.rejects(() => resolveDeployment(project({ 'uv.lock': 'version = [' }), { kind: 'uv' }), /uv\.lock is not valid TOML/);
});

test('deployment choices as typed: a kind, optionally =FILE; anything else names the kinds', () => {
  assert.deepEqual(parseDeploymentChoice('auto'), { kind: 'auto' });
  assert.deepEqual(parseDeploymentChoice('requirements=reqs/prod.txt'), { kind: 'requirements', file: 'reqs/prod.txt' });
  assert.throws(() => parseDeploymentChoice('docker'), /Unknown deployment "docker": use one of auto, mirror, uv, pylock, poetry, requirements, pyproject, conda, image, none/);
  assert.throws(() => parseDeploymentChoice('none=x'), /only uv, pylock, poetry, requirements, pyproject and conda take a file/);
});

test('an environment is named by its pins and its Python, not by where they are downloaded from', () => {
  const spec = { source: 'uv.lock', requirements: 'a==1\n' };
  assert.equal(environmentKey(spec, 'cpython-311 linux-x86_64'), environmentKey({ ...spec, indexUrl: 'http://mirror/simple' }, 'cpython-311 linux-x86_64'));
  assert.notEqual(environmentKey(spec, 'cpython-311 linux-x86_64'), environmentKey(spec, 'cpython-312 linux-x86_64'));
  assert.notEqual(environmentKey(spec, 'cpython-311 linux-x86_64'), environmentKey({ ...spec, requirements: 'a==2\n' }, 'cpython-311 linux-x86_64'));
});

test("pip's failing line: its last ERROR line, else its last line", () => {
  const log = 'Looking in indexes: http://127.0.0.1:5/simple\nERROR: Could not find a version that satisfies the requirement nothere==9 (from versions: none)\nERROR: No matching distribution found for nothere==9\n';
  assert.equal(failingLine(log), 'No matching distribution found for nothere==9');
  assert.equal(failingLine('a\nsomething broke\n\n'), 'something broke');
});

test('mirror: what the local interpreter has, as pins; installers left out, the project’s own editable install synced instead, another local package refused by name', () => {
  const inProject = (url: string) => url.startsWith('file:///home/me/app');
  const dists = [
    { name: 'tinyb', version: '1.0' },
    { name: 'pip', version: '23.2.1' },
    { name: 'setuptools', version: '65.5.0' },
    { name: 'Tiny_A', version: '1.0' },
    { name: 'app', version: '0.1', url: 'file:///home/me/app', editable: true },
    { name: 'fromgit', version: '0.2', url: 'git+https://example.com/fromgit.git@0123abcd' },
    // A second copy further down sys.path is shadowed, as at import time.
    { name: 'tinyb', version: '0.9' },
  ];
  assert.equal(pinsFromInstalled(dists, '/venv/bin/python', inProject), 'fromgit @ git+https://example.com/fromgit.git@0123abcd\nTiny_A==1.0\ntinyb==1.0\n');
  assert.throws(
    () => pinsFromInstalled([{ name: 'mylib', version: '1', url: 'file:///home/me/mylib', editable: true }], '/venv/bin/python', inProject),
    /\/venv\/bin\/python has mylib installed from file:\/\/\/home\/me\/mylib \(editable\): local packages outside the project can't be mirrored yet/,
  );
});

test('venv’s failure on a Python without ensurepip (Debian, Ubuntu) says which package to install', () => {
  const debian = [
    'The virtual environment was not created successfully because ensurepip is not',
    'available.  On Debian/Ubuntu systems, you need to install the python3-venv',
    'package using the following command.',
    '',
    '    apt install python3.11-venv',
    '',
    'You may need to use sudo with that command.  After installing the python3-venv',
    'package, recreate your virtual environment.',
  ].join('\n');
  assert.match(venvFailure(debian), /apt-get install python3-venv/);
  assert.equal(venvFailure('Error: [Errno 28] No space left on device\n'), 'Error: [Errno 28] No space left on device');
});
