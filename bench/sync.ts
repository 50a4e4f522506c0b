// Code sync of an unchanged project on a warm local instance, measured in one run against a baseline:
//   baseline: runFunction(noop) from a new client (a CLI run) in a one-file project
//   re-sync:  the same from a new client in projects of 10,000 and 20,000 unchanged files, so that
//             the client lists and compares every file and the agent checks its manifest
//   warm:     runFunction(noop) again on the same client, where the per-session digest skips the round trip
//   parts:    the client's listing of the project, and the instance's manifest check, alone
// Targets: 20k / 10k ≈ 2 (linear, not ≈ 4); re-sync of 20k adds well under a second to the baseline.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createLocalCloud } from '../src/cloud/local';
import { Engine } from '../src/jobs/engine';
import { listProjectFiles, remoteProjectName } from '../src/jobs/projectFiles';
import { CodeStore } from '../src/agent/codeStore';

const N = Number(process.env.BENCH_N ?? 7);

function project(files: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `meadowrun-bench-sync-${files}-`));
  fs.writeFileSync(path.join(dir, 'noop.py'), 'def noop():\n    return None\n');
  for (let i = 0; i < files - 1; i++) {
    const sub = path.join(dir, `pkg${Math.floor(i / 100)}`);
    if (i % 100 === 0) fs.mkdirSync(sub);
    fs.writeFileSync(path.join(sub, `m${i}.py`), `X = ${i}\n`);
  }
  return dir;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeEach(n: number, f: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await f();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(times);
}

async function main() {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-bench-'));
  const projects = { 1: project(1), 10_000: project(10_000), 20_000: project(20_000) };
  const cloud = createLocalCloud({ stateDir });
  const engine = new Engine(cloud);
  const noop = async (client: Engine, dir: string) => {
    const r = await client.runFunction('noop.py:noop', '[]', { projectDir: dir });
    if (r.outcome.status !== 'succeeded') throw new Error(JSON.stringify(r.outcome));
  };
  const fromNewClient = (dir: string) => async () => {
    const client = new Engine(cloud);
    try {
      await noop(client, dir);
    } finally {
      client.dispose();
    }
  };
  try {
    // Launch and warm up the instance, and send each project once.
    for (const dir of Object.values(projects)) await noop(engine, dir);
    const baseline = await timeEach(N, fromNewClient(projects[1]));
    const ten = await timeEach(N, fromNewClient(projects[10_000]));
    const twenty = await timeEach(N, fromNewClient(projects[20_000]));
    const warm = await timeEach(N, () => noop(engine, projects[20_000]));
    const warmBaseline = await timeEach(N, () => noop(engine, projects[1]));
    // The instance's side runs in this process here, on the instance's own work directory.
    const store = new CodeStore((await cloud.table.listInstances())[0].workDir!);
    const parts = async (dir: string) => {
      const { files } = listProjectFiles(dir);
      const list = await timeEach(N, async () => void listProjectFiles(dir));
      const check = await timeEach(N, async () => {
        if (!store.needed(remoteProjectName(dir), files).upToDate) throw new Error('the instance lacks the project');
      });
      return { list, check };
    };
    const parts10 = await parts(projects[10_000]);
    const parts20 = await parts(projects[20_000]);

    console.log(`sync (median of ${N} runs, ms)`);
    console.log(`  baseline  new client, 1-file project                 ${baseline.toFixed(1)}`);
    console.log(`  re-sync   new client, 10,000 unchanged files         ${ten.toFixed(1)}`);
    console.log(`  re-sync   new client, 20,000 unchanged files         ${twenty.toFixed(1)}`);
    console.log(`  warm      same client, 1-file / 20,000-file project  ${warmBaseline.toFixed(1)} / ${warm.toFixed(1)}`);
    console.log(`  parts     client listing 10k / 20k                   ${parts10.list.toFixed(1)} / ${parts20.list.toFixed(1)}`);
    console.log(`  parts     instance manifest check 10k / 20k          ${parts10.check.toFixed(1)} / ${parts20.check.toFixed(1)}`);
    console.log(`  ratio (20k - baseline) / (10k - baseline)  ${((twenty - baseline) / (ten - baseline)).toFixed(2)}  (target ≈ 2, not ≈ 4)`);
    console.log(`  ratio 20k re-sync / baseline               ${(twenty / baseline).toFixed(2)}`);
    console.log(`  cost of 20k re-sync over baseline (ms)     ${(twenty - baseline).toFixed(0)}  (target well under 1000)`);
    console.log(`  ratio instance check 20k / 10k             ${(parts20.check / parts10.check).toFixed(2)}  (target ≈ 2)`);
  } finally {
    engine.dispose();
    for (const r of await cloud.provider.listRunning()) await cloud.provider.terminate(r.id);
    fs.rmSync(stateDir, { recursive: true, force: true });
    for (const dir of Object.values(projects)) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
