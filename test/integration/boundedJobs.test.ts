// Whatever a job prints, returns or leaves running, the shared agent survives it, memory stays
// bounded on both ends, and the job ends when its function returns.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { agentProcesses } from '../support/instanceProcesses';
import { jobsOnAllInstances, testCloud, TestCloud, waitFor } from '../support/localCloud';
import { tempDir } from '../support/tempDir';

const MB = 1024 * 1024;
let t: TestCloud;
let stateDir: string;
let instanceId: string;

before(async () => {
  stateDir = tempDir('bounded-state');
  t = testCloud(
    {
      'jobs.py': [
        'import os, subprocess, sys, time',
        'def blob(mb):',
        '    return os.urandom(mb * 1024 * 1024)',
        'def shout(mb, pause=0):',
        '    line = "x" * 1023 + "\\n"',
        '    for _ in range(mb * 1024):',
        '        sys.stdout.write(line)',
        '        time.sleep(pause)',
        '    return "done"',
        'def numbered(n):',
        '    for i in range(n):',
        '        print("line %06d %s" % (i, "y" * 80))',
        '    return n',
        'def nap(s):',
        '    print("napping", flush=True)',
        '    time.sleep(s)',
        '    return "rested"',
        'def leave_children():',
        '    # One holds our stdout (and would keep the result waiting); one escapes into its own session.',
        '    a = subprocess.Popen(["sleep", "600"])',
        '    b = subprocess.Popen(["sleep", "600"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)',
        '    return [a.pid, b.pid]',
        'def long_text():',
        '    return "x" * 200000',
        'class Sulky:',
        '    def __repr__(self):',
        '        raise RuntimeError("no repr for you")',
        'def sulky():',
        '    return Sulky()',
        'def chatty():',
        '    for i in range(2000):',
        '        print("chat %d" % i, flush=True)',
        '        time.sleep(0.005)',
        '    return "talked"',
      ].join('\n'),
    },
    { stateDir },
  );
  const first = await t.engine.runFunction('jobs.py:nap', '[0]', { projectDir: t.project, resources: { cpu: 0.5, memoryGb: 0.5 } });
  instanceId = first.instanceId;
});

after(() => t.dispose());

const small = { cpu: 0.5, memoryGb: 0.5 };

/** The resident agent daemon serving the instance. */
function agentPid(): number {
  const found = agentProcesses(instanceId, 'daemon');
  assert.equal(found.length, 1, `one agent daemon for ${instanceId}`);
  return Number(found[0]);
}

/** Peak resident memory of a process, in MB. */
function peakRssMb(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
  return Number(kb) / 1024;
}

/** Processes whose environment carries this job's id: what the job started. */
function processesOfJob(jobId: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/environ`, 'latin1').split('\0').includes(`MEADOWRUN_JOB_ID=${jobId}`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

test('a 300 MB result comes back as a file while another job on the instance completes; the agent survives', { timeout: 180_000 }, async () => {
  const agent = agentPid();
  const resultDir = tempDir('results');
  const [big, other] = await Promise.all([
    t.engine.runFunction('jobs.py:blob', '[300]', { projectDir: t.project, resources: small, resultDir }),
    t.engine.runFunction('jobs.py:nap', '[1]', { projectDir: t.project, resources: small }),
  ]);
  assert.equal(big.instanceId, instanceId);
  assert.equal(other.instanceId, instanceId);
  assert.equal(other.outcome.status === 'succeeded' && other.outcome.value!.repr, "'rested'");
  assert.equal(big.outcome.status, 'succeeded', JSON.stringify(big.outcome).slice(0, 500));
  const value = big.outcome.status === 'succeeded' ? big.outcome.value! : undefined;
  assert.ok(value?.pickleFile && value.pickleBytes! > 300 * MB);
  assert.equal(fs.statSync(value.pickleFile).size, value.pickleBytes);
  assert.match(value.repr, /… \[truncated, \d+ characters total\]$/);
  assert.equal(agentPid(), agent, 'the same agent still serves the instance');
  // The value never passed through the agent.
  const peak = peakRssMb(agent);
  assert.ok(peak < 250, `agent peak RSS ${peak.toFixed(0)} MB`);
  fs.rmSync(resultDir, { recursive: true, force: true });
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});

test('a slow client gets all of a 100 MB print, and the agent does not hold it in memory', { timeout: 180_000 }, async () => {
  const agent = agentPid();
  let received = 0;
  const r = await t.engine.runFunction('jobs.py:shout', '[100]', {
    projectDir: t.project,
    resources: small,
    onOutput: (_stream, data) => {
      // A slow reader: this end stops for a while after every MB.
      if (Math.floor((received + data.length) / MB) > Math.floor(received / MB)) {
        const until = Date.now() + 25;
        while (Date.now() < until);
      }
      received += data.length;
    },
  });
  assert.equal(r.outcome.status === 'succeeded' && r.outcome.value!.repr, "'done'");
  assert.equal(received, 100 * MB, 'no output was lost');
  const peak = peakRssMb(agent);
  assert.ok(peak < 200, `agent peak RSS ${peak.toFixed(0)} MB`);
  assert.equal(agentPid(), agent);
});

test('the job log is capped: the newest output is kept behind a note of what was dropped', async () => {
  const out: Buffer[] = [];
  const r = await t.engine.runFunction('jobs.py:numbered', '[20000]', { projectDir: t.project, resources: small, logCapMb: 0.5, onOutput: (_s, d) => out.push(d) });
  assert.equal(r.outcome.status, 'succeeded');
  const client = Buffer.concat(out).toString();
  assert.equal(client.split('\n').length - 1, 20000, 'the client still gets everything');
  const log = fs.readFileSync(r.logPath!, 'utf8');
  assert.ok(log.length <= 0.5 * MB, `log of ${log.length} bytes`);
  assert.ok(log.length > 0.2 * MB, `log of ${log.length} bytes keeps a good part`);
  assert.match(log, /^\[meadowrun\] the log is capped at 0\.5 MB: \d+ bytes of earlier output were dropped\n/);
  assert.ok(log.endsWith(`line 019999 ${'y'.repeat(80)}\n`), 'the tail is kept');
  const lines = log.split('\n').slice(1, -1);
  assert.ok(lines.slice(1).every((l) => /^line \d{6} y{80}$/.test(l)), 'whole lines after the first kept one');
});

test('a function that leaves children running returns at once: they are stopped and the allocation freed', { timeout: 60_000 }, async () => {
  const r = await t.engine.runFunction('jobs.py:leave_children', '[]', { projectDir: t.project, resources: small });
  assert.equal(r.outcome.status, 'succeeded');
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
  await waitFor('the children to be stopped', () => processesOfJob(r.jobId).length === 0, 5000);
});

test('when the agent dies, its jobs die with it and the sweep frees their allocations', async () => {
  let pid = 0;
  const run = t.engine.runFunction('jobs.py:nap', '[120]', {
    projectDir: t.project,
    resources: small,
    onEvent: (e) => e.kind === 'started' && (pid = e.pid),
    onOutput: () => process.kill(agentPid(), 'SIGKILL'),
  });
  await assert.rejects(run, /Lost the agent/);
  assert.ok(pid > 0);
  await waitFor('the job process to die', () => !fs.existsSync(`/proc/${pid}`), 5000);
  await waitFor('the sweep to free the allocation', async () => (await jobsOnAllInstances(t.cloud)).length === 0);
  // The next job gets a fresh agent.
  const again = await t.engine.runFunction('jobs.py:nap', '[0]', { projectDir: t.project, resources: small });
  assert.equal(again.outcome.status, 'succeeded');
});

test('a long repr is cut with a marker that says so', async () => {
  const r = await t.engine.runFunction('jobs.py:long_text', '[]', { projectDir: t.project, resources: small });
  assert.ok(r.outcome.status === 'succeeded');
  const repr = r.outcome.value!.repr;
  assert.ok(repr.endsWith('… [truncated, 200002 characters total]'), repr.slice(-80));
  assert.equal(repr.indexOf('…'), 100_000);
});

test('a value whose repr raises is reported as unserialisable, not as the function raising', async () => {
  const r = await t.engine.runFunction('jobs.py:sulky', '[]', { projectDir: t.project, resources: small });
  assert.equal(r.outcome.status, 'unserializable', JSON.stringify(r.outcome));
  assert.ok(r.outcome.status === 'unserializable');
  assert.match(r.outcome.message, /repr\(\) raised RuntimeError: no repr for you/);
  assert.match(r.outcome.error.traceback, /jobs\.py", line \d+, in __repr__/);
  assert.deepEqual(await jobsOnAllInstances(t.cloud), []);
});

test('`meadowrun run-function … | head -1`: the CLI stops quietly when its reader goes', { timeout: 60_000 }, async () => {
  const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
  const child = spawn(process.execPath, [cli, '--state-dir', stateDir, 'run-function', 'jobs.py:chatty', '--cpu', '0.5', '--memory', '0.5'], { cwd: t.project });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  // Like head -1: read the first line, then close the pipe.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 141, stderr);
  assert.doesNotMatch(stderr, /EPIPE|\n\s+at /, 'no stack trace');
  await waitFor('the cancelled job to be freed', async () => (await jobsOnAllInstances(t.cloud)).length === 0);
});

test('the CLI prints where a large result went, not the value', { timeout: 60_000 }, () => {
  const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
  const r = spawnSync(process.execPath, [cli, '--state-dir', stateDir, 'run-function', 'jobs.py:blob', '--args', '[2]', '--cpu', '0.5', '--memory', '0.5'], {
    cwd: t.project,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.length < 100_100, `printed ${r.stdout.length} characters`);
  assert.match(r.stdout, /… \[truncated, \d+ characters total\]\n$/);
  const file = /The pickled value \((\d+) bytes\) is in (.+)\n/.exec(r.stderr);
  assert.ok(file, r.stderr);
  assert.equal(fs.statSync(file[2]).size, Number(file[1]));
  assert.equal(fs.statSync(file[2]).mode & 0o777, 0o600);
  fs.rmSync(file[2]);
});
