// Memory of the client (a CLI run) and of the resident agent while a job prints 1 GB and while a
// job returns 1 GB, against a no-op job measured in the same run. Peak RSS (VmHWM) is read from
// /proc; the agent's peak is reset before each job (clear_refs), so each row is that job's alone.
// Target: client and agent stay under ~100 MB above the no-op whatever a job prints or returns.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createLocalCloud } from '../src/cloud/local';
import { Engine } from '../src/jobs/engine';
import { agentProcesses } from '../test/support/instanceProcesses';

const GB = Number(process.env.BENCH_GB ?? 1);
const cli = path.join(__dirname, '..', 'dist', 'cli.js');

function peakMb(pid: number): number | undefined {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kb ? Number(kb[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

function resetPeak(pid: number): void {
  // "5" resets the peak RSS (Linux ≥ 4.0); without the right to do so, peaks include earlier jobs.
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    console.log('  (cannot reset the agent\'s peak RSS: its numbers include earlier jobs)');
  }
}

function agentPid(instanceId: string): number {
  const [pid] = agentProcesses(instanceId, 'daemon');
  if (!pid) throw new Error('no agent daemon found');
  return pid;
}

/** Runs the CLI, counting (and dropping) its stdout; returns the CLI's peak RSS and the bytes it printed. */
async function cliRun(stateDir: string, project: string, args: string[]): Promise<{ peak: number; bytes: number; seconds: number; stderr: string }> {
  const began = Date.now();
  const child = spawn(process.execPath, [cli, '--state-dir', stateDir, 'run-function', ...args, '--cpu', '0.5', '--memory', '0.5'], { cwd: project });
  let bytes = 0;
  let stderr = '';
  let peak = 0;
  child.stdout.on('data', (d: Buffer) => (bytes += d.length));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const poll = setInterval(() => (peak = Math.max(peak, peakMb(child.pid!) ?? 0)), 20);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(poll);
  if (code !== 0) throw new Error(`the CLI failed (${code}): ${stderr}`);
  return { peak, bytes, seconds: (Date.now() - began) / 1000, stderr };
}

async function main() {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-bench-'));
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-bench-project-'));
  fs.writeFileSync(
    path.join(project, 'jobs.py'),
    [
      'import os, sys',
      'def noop():',
      '    return None',
      'def shout(mb):',
      '    line = "x" * 1023 + "\\n"',
      '    for _ in range(mb * 1024):',
      '        sys.stdout.write(line)',
      'def blob(mb):',
      '    return bytes(mb * 1024 * 1024)',
    ].join('\n'),
  );
  const cloud = createLocalCloud({ stateDir });
  const engine = new Engine(cloud);
  try {
    const first = await engine.runFunction('jobs.py:noop', '[]', { projectDir: project, resources: { cpu: 0.5, memoryGb: 0.5 } });
    engine.dispose();
    const agent = agentPid(first.instanceId);
    const mb = Math.round(GB * 1024);
    const rows: [string, string[]][] = [
      ['no-op job (baseline)', ['jobs.py:noop']],
      [`print ${GB} GB`, ['jobs.py:shout', '--args', `[${mb}]`]],
      [`return ${GB} GB`, ['jobs.py:blob', '--args', `[${mb}]`]],
    ];
    const results: { name: string; client: number; agent: number; seconds: number; bytes: number }[] = [];
    for (const [name, args] of rows) {
      resetPeak(agent);
      const r = await cliRun(stateDir, project, args);
      const file = /is in (.+)\n/.exec(r.stderr)?.[1];
      if (file) fs.rmSync(file, { force: true });
      results.push({ name, client: r.peak, agent: peakMb(agent)!, seconds: r.seconds, bytes: r.bytes });
      if (agentPid(first.instanceId) !== agent) throw new Error(`the agent died during "${name}"`);
    }
    const [base] = results;
    console.log(`bounded-memory (peak RSS in MB; extra = above the no-op job)`);
    console.log(`  ${'job'.padEnd(22)} ${'client'.padStart(8)} ${'extra'.padStart(7)} ${'agent'.padStart(8)} ${'extra'.padStart(7)} ${'seconds'.padStart(8)}  stdout bytes`);
    for (const r of results) {
      console.log(
        `  ${r.name.padEnd(22)} ${r.client.toFixed(0).padStart(8)} ${(r.client - base.client).toFixed(0).padStart(7)} ${r.agent.toFixed(0).padStart(8)} ${(r.agent - base.agent).toFixed(0).padStart(7)} ${r.seconds.toFixed(1).padStart(8)}  ${r.bytes}`,
      );
    }
    const worst = Math.max(...results.slice(1).flatMap((r) => [r.client - base.client, r.agent - base.agent]));
    console.log(`  largest extra ${worst.toFixed(0)} MB  (target ≤ 100)`);
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
