// Warm-path latency on a local instance, measured in one run against two baselines:
//   floor:    ssh2 exec of `python3 -c pass` over an already-open connection (a new SSH session per job)
//   baseline: a fresh connection per job: connect, SFTP the job file, exec, SFTP the result back
//   runFunction of a no-op through the engine (resident agent, warm fork server)
//   a new client per job, as each CLI run is: its own SSH connection to the same resident agent
// Target: runFunction ≤ 0.5 × floor.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createLocalCloud } from '../src/cloud/local';
import { Engine } from '../src/jobs/engine';
import { SshConnection } from '../src/remote/connection';

const N = Number(process.env.BENCH_N ?? 40);

async function timeEach(n: number, f: () => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await f();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return times;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-bench-'));
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-bench-project-'));
  fs.writeFileSync(path.join(project, 'noop.py'), 'def noop():\n    return None\n');
  const cloud = createLocalCloud({ stateDir });
  const engine = new Engine(cloud);
  try {
    // Launch and warm up the instance, the agent and the fork server.
    const first = await engine.runFunction('noop.py:noop', '[]', { projectDir: project });
    for (let i = 0; i < 5; i++) await engine.runFunction('noop.py:noop', '[]', { projectDir: project });
    const instance = (await cloud.table.getInstance(first.instanceId))!;
    const privateKey = (await cloud.secrets.getSshKeyPair()).privateKey;
    const open = () => SshConnection.open({ instanceId: instance.id, endpoint: instance.ssh!, privateKey });

    const conn = await open();
    await conn.exec('python3 -c pass');
    const floor = await timeEach(N, async () => {
      const r = await conn.exec('python3 -c pass');
      if (r.exitCode !== 0) throw new Error('floor command failed');
    });
    conn.close();

    const jobFile = path.join(project, 'job.json');
    const resultFile = path.join(project, 'result.json');
    fs.writeFileSync(jobFile, JSON.stringify({ target: 'noop.py:noop', args: [] }));
    const remoteDir = path.posix.join(instance.workDir!, 'bench');
    const fresh = await timeEach(Math.min(N, 20), async () => {
      const c = await open();
      await c.exec(`mkdir -p ${remoteDir}`);
      await c.upload(jobFile, `${remoteDir}/job.json`);
      const r = await c.exec(`cd ${remoteDir} && python3 -c "import json; json.load(open('job.json')); json.dump(None, open('result.json', 'w'))"`);
      if (r.exitCode !== 0) throw new Error(r.stderr.toString());
      await c.download(`${remoteDir}/result.json`, resultFile);
      c.close();
    });

    const run = await timeEach(N, async () => {
      const r = await engine.runFunction('noop.py:noop', '[]', { projectDir: project });
      if (r.outcome.status !== 'succeeded') throw new Error(JSON.stringify(r.outcome));
    });

    const newClient = await timeEach(Math.min(N, 20), async () => {
      const client = new Engine(cloud);
      try {
        const r = await client.runFunction('noop.py:noop', '[]', { projectDir: project });
        if (r.outcome.status !== 'succeeded') throw new Error(JSON.stringify(r.outcome));
      } finally {
        client.dispose();
      }
    });

    const f = median(floor);
    const b = median(fresh);
    const m = median(run);
    const c = median(newClient);
    console.log(`warm-latency (median of ${N} runs, ms)`);
    console.log(`  floor     ssh2 exec "python3 -c pass" on an open connection   ${f.toFixed(2)}`);
    console.log(`  baseline  fresh connection + SFTP job + exec + SFTP result     ${b.toFixed(2)}`);
    console.log(`  meadowrun runFunction(noop) on the warm instance               ${m.toFixed(2)}`);
    console.log(`  meadowrun runFunction(noop) from a new client (a CLI run)     ${c.toFixed(2)}`);
    console.log(`  ratio runFunction / floor     ${(m / f).toFixed(3)}  (target ≤ 0.5)`);
    console.log(`  ratio runFunction / baseline  ${(m / b).toFixed(3)}`);
    console.log(`  ratio new client / baseline   ${(c / b).toFixed(3)}`);
  } finally {
    engine.dispose();
    for (const r of await cloud.provider.listRunning()) await cloud.provider.terminate(r.id);
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.rmSync(project, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
