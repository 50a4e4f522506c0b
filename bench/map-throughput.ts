// Map throughput on the local cloud: 10,000 no-op tasks on 4 workers, against two baselines
// measured in the same run on the same warm instance:
//   - one job per task: sequential runFunction calls (what a map saves you from);
//   - the floor: the same 10,000 calls in one local Python loop, JSON in and out, no queues at all.
// Target: ≥ 2,000 tasks/s.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createLocalCloud } from '../src/cloud/local';
import { Engine } from '../src/jobs/engine';

const TASKS = 10_000;
const WORKERS = 4;

async function main() {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-bench-'));
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-bench-project-'));
  fs.writeFileSync(path.join(project, 'noop.py'), 'def noop(x):\n    return None\n');
  const cloud = createLocalCloud({ stateDir });
  const engine = new Engine(cloud);
  const resources = { cpu: 0.5, memoryGb: 0.5 };
  try {
    // Warm up: launch the instance, start the agent, deploy the code.
    await engine.runMap('noop.py:noop', { kind: 'expression', expr: 'range(100)' }, { projectDir: project, workers: WORKERS, resources });

    let started = performance.now();
    const r = await engine.runMap('noop.py:noop', { kind: 'expression', expr: `range(${TASKS})` }, { projectDir: project, workers: WORKERS, resources });
    const mapSeconds = (performance.now() - started) / 1000;
    if (r.status !== 'succeeded' || r.results.length !== TASKS) throw new Error(`map failed: ${r.status}`);

    const perJob = 200;
    started = performance.now();
    for (let i = 0; i < perJob; i++) await engine.runFunction('noop.py:noop', `[${i}]`, { projectDir: project, resources });
    const jobSeconds = (performance.now() - started) / 1000;

    const loop = `import json, time\nfrom noop import noop\nt = time.perf_counter()\nfor i in range(${TASKS}):\n    json.dumps(noop(json.loads(json.dumps(i))))\nprint(time.perf_counter() - t)`;
    const floorSeconds = Number(execFileSync('python3', ['-c', loop], { cwd: project }).toString());

    const rate = TASKS / mapSeconds;
    const jobRate = perJob / jobSeconds;
    console.log(`map-throughput (${TASKS} no-op tasks, ${WORKERS} workers, local cloud)`);
    console.log(`  run_map                      ${rate.toFixed(0)} tasks/s, ${((mapSeconds / TASKS) * 1e6).toFixed(0)} µs per task  (target ≥ 2000)`);
    console.log(`  baseline: one job per task   ${jobRate.toFixed(0)} tasks/s, ${((jobSeconds / perJob) * 1e3).toFixed(2)} ms per task (${perJob} runFunction calls)`);
    console.log(`  floor: local Python loop     ${(TASKS / floorSeconds).toFixed(0)} tasks/s, ${((floorSeconds / TASKS) * 1e6).toFixed(1)} µs per task`);
    console.log(`  ratio run_map / one job per task  ${(rate / jobRate).toFixed(1)}×`);
  } finally {
    engine.dispose();
    for (const i of await cloud.provider.listRunning()) await cloud.provider.terminate(i.id);
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.rmSync(project, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
