// Environments on a warm local instance, measured in one run: the first job with a new 5-package
// uv-style lock (it builds the environment), the next ones (cache hits), and the same no-op job with
// no deployment (the baseline). Packages come from an index served here. As root with Debian's Docker
// engine (scripts/install-docker.sh), also the same job in a container image (no target: Docker
// creating and starting a container per job is the cost).
// Target: a cache hit adds under 50 ms to a warm run_function. Run: node --import tsx bench/environment.ts
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createLocalCloud } from '../src/cloud/local';
import { Engine, JobOptions } from '../src/jobs/engine';
import { startPackageIndex } from '../test/support/packageIndex';
import { buildPythonImage, Docker, dockerUnavailable, startDocker } from '../test/support/docker';

const N = Number(process.env.BENCH_N ?? 30);
const TARGET_MS = 50;
const PACKAGES = ['bench-one', 'bench-two', 'bench-three', 'bench-four', 'bench-five'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const index = await startPackageIndex(PACKAGES.map((name) => ({ name, version: '1.0' })));
  // Before the instance launches: its agent uses the engine the client's DOCKER_HOST names.
  const docker: Docker | undefined = dockerUnavailable() || !fs.existsSync('/usr/sbin/dockerd') ? undefined : await startDocker();
  if (docker) {
    process.env.DOCKER_HOST = docker.host;
    await buildPythonImage(docker, 'bench-python:1');
  }
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-bench-'));
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-bench-project-'));
  fs.writeFileSync(path.join(project, 'noop.py'), 'def noop():\n    return None\n');
  const cloud = createLocalCloud({ stateDir });
  const engine = new Engine(cloud);
  const time = async (o: JobOptions) => {
    const began = process.hrtime.bigint();
    const r = await engine.runFunction('noop.py:noop', '[]', { projectDir: project, ...o });
    if (r.outcome.status !== 'succeeded') throw new Error(JSON.stringify(r.outcome));
    return Number(process.hrtime.bigint() - began) / 1e6;
  };
  try {
    // Launch and warm the instance, the agent and the base fork server.
    for (let i = 0; i < 5; i++) await time({});
    // The lock names the project's own index, as uv writes it; the pins are the five packages.
    const lock = [
      'version = 1',
      '[[package]]\nname = "bench"\nversion = "0"\nsource = { virtual = "." }',
      `dependencies = [${PACKAGES.map((p) => `{ name = "${p}" }`).join(', ')}]`,
      ...PACKAGES.map((p) => {
        const f = index.file(p, '1.0');
        return `[[package]]\nname = "${p}"\nversion = "1.0"\nsource = { registry = "${index.url}" }\nwheels = [{ url = "${index.url.replace(/\/simple$/, '')}/files/${f.file}", hash = "sha256:${f.sha256}" }]`;
      }),
    ].join('\n');
    fs.writeFileSync(path.join(project, 'uv.lock'), lock + '\n');
    const withLock: JobOptions = { deployment: { kind: 'uv' }, index: { indexUrl: index.url } };
    const build = await time(withLock);
    // Warm the environment's own fork server, then alternate so both see the same machine load.
    await time(withLock);
    const hits: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < N; i++) {
      hits.push(await time(withLock));
      plain.push(await time({ deployment: { kind: 'none' } }));
    }
    const added = median(hits) - median(plain);
    console.log('environment (run_function of a no-op on a warm local instance, ms)');
    console.log(`  first job, 5-package lock (builds)    ${build.toFixed(0)}`);
    console.log(`  cache hit, median of ${N}              ${median(hits).toFixed(1)}`);
    console.log(`  no deployment, median of ${N}          ${median(plain).toFixed(1)}`);
    console.log(`  added by a cache hit                  ${added.toFixed(1)}  (target < ${TARGET_MS})`);
    console.log(`  ratio build / cache hit               ${(build / median(hits)).toFixed(0)}`);
    if (docker) {
      const image: JobOptions = { deployment: { kind: 'image', image: 'bench-python:1' } };
      await time(image);
      const boxed: number[] = [];
      const n = Math.min(N, 10);
      for (let i = 0; i < n; i++) boxed.push(await time(image));
      console.log(`  in a container image, median of ${n}   ${median(boxed).toFixed(1)}  (+${(median(boxed) - median(plain)).toFixed(0)}: docker run --rm --init per job)`);
    } else console.log(`  in a container image                  not measured (${dockerUnavailable() ?? 'no dockerd: scripts/install-docker.sh'})`);
    if (added >= TARGET_MS) process.exitCode = 1;
  } finally {
    engine.dispose();
    for (const r of await cloud.provider.listRunning()) await cloud.provider.terminate(r.id);
    await index.close();
    await docker?.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.rmSync(project, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
