// environment.yml read without a YAML library (the part of YAML those files use), and the
// micromamba command line that creates the environment on the instance.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { micromambaCreateArgs, parseEnvironmentYml } from '../../src/core/conda';
import { parseDeploymentChoice } from '../../src/core/deployment';

const CONDA_EXPORT = `name: analysis
channels:
  - conda-forge
  - defaults   # comments are dropped
dependencies:
  - python=3.11
  - numpy>=1.26
  - "pandas=2.1.*"
  - conda-forge::scipy
  - pip
  - pip:
    - tinya==1.0
    - 'tinyb @ https://example.invalid/tinyb-1.0.tar.gz#sha256=00'
prefix: /home/someone/miniconda3/envs/analysis
`;

test('environment.yml as conda env export writes it: channels, specs, the pip part; prefix ignored', () => {
  assert.deepEqual(parseEnvironmentYml(CONDA_EXPORT), {
    name: 'analysis',
    channels: ['conda-forge', 'defaults'],
    dependencies: ['python=3.11', 'numpy>=1.26', 'pandas=2.1.*', 'conda-forge::scipy', 'pip'],
    pip: ['tinya==1.0', 'tinyb @ https://example.invalid/tinyb-1.0.tar.gz#sha256=00'],
  });
});

test('flow lists, lists at the key’s indentation, no channels; python and pip added when missing', () => {
  const env = parseEnvironmentYml('channels: [conda-forge]\ndependencies:\n- numpy\n- pip:\n  - tinya==1.0\n');
  assert.deepEqual(env, { channels: ['conda-forge'], dependencies: ['numpy', 'pip', 'python'], pip: ['tinya==1.0'] });
  assert.deepEqual(parseEnvironmentYml('dependencies: []\n').dependencies, ['python']);
});

test('what is not an environment.yml, or uses YAML it doesn’t need, is refused by line', () => {
  assert.throws(() => parseEnvironmentYml('name: x\n'), /environment\.yml: no "dependencies:" list/);
  assert.throws(() => parseEnvironmentYml('dependencies:\n  - numpy\n   - scipy\n'), /line 3: unexpected indentation/);
  assert.throws(() => parseEnvironmentYml('dependencies: &deps\n  - numpy\n'), /line 1: .*anchors/);
  assert.throws(() => parseEnvironmentYml('dependencies:\n  - {a: 1}\n'), /line 2: .*flow mappings/);
  assert.throws(() => parseEnvironmentYml('dependencies:\n  - pip:\n    - -e ../lib\n'), /"-e \.\.\/lib" is a local path/);
  assert.throws(() => parseEnvironmentYml('dependencies:\n  - numpy\njust text\n', 'env/environment.yml'), /env\/environment\.yml, line 3: expected "key: value"/);
  assert.throws(() => parseEnvironmentYml('dependencies:\n\t- numpy\n'), /line 2: a tab in the indentation/);
});

test('micromamba create: only the file’s channels (conda-forge when it names none), no rc files, no questions', () => {
  const env = parseEnvironmentYml(CONDA_EXPORT);
  assert.deepEqual(micromambaCreateArgs('/w/envs/abc', env), [
    'create', '--yes', '--no-rc', '--prefix', '/w/envs/abc', '--override-channels', '--channel', 'conda-forge', '--channel', 'defaults',
    'python=3.11', 'numpy>=1.26', 'pandas=2.1.*', 'conda-forge::scipy', 'pip',
  ]);
  assert.deepEqual(micromambaCreateArgs('/p', { channels: [], dependencies: ['python'], pip: [] }), ['create', '--yes', '--no-rc', '--prefix', '/p', '--override-channels', '--channel', 'conda-forge', 'python']);
  assert.throws(() => micromambaCreateArgs('/p', { channels: [], dependencies: ['--offline'], pip: [] }), /"--offline" is not a package/);
});

test('--deployment conda[=FILE]', () => {
  assert.deepEqual(parseDeploymentChoice('conda'), { kind: 'conda' });
  assert.deepEqual(parseDeploymentChoice('conda=envs/gpu.yml'), { kind: 'conda', file: 'envs/gpu.yml' });
});
