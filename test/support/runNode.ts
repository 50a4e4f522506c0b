import { spawn, type ChildProcess } from 'node:child_process';

export interface NodeRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** From the start to the end of the process. */
  seconds: number;
}

export interface StartedNode {
  child: ChildProcess;
  /** The output so far, while it runs. */
  out: { stdout: string; stderr: string };
  /** Settles when `check` holds for the output so far, or when the process has ended (whichever is first). */
  until(check: (out: { stdout: string; stderr: string }) => boolean): Promise<void>;
  done: Promise<NodeRun>;
}

/** Starts a Node script (e.g. dist/cli.js) with `input` on its stdin, collecting its output. */
export function startNode(script: string, args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): StartedNode {
  const t0 = Date.now();
  const child = spawn(process.execPath, [script, ...args], { env: o.env, cwd: o.cwd });
  child.stdin.end(o.input ?? '');
  const out = { stdout: '', stderr: '' };
  let ended = false;
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  child.stdout.on('data', (d) => ((out.stdout += d), wake()));
  child.stderr.on('data', (d) => ((out.stderr += d), wake()));
  const done = new Promise<NodeRun>((resolve) =>
    child.on('close', (code) => {
      ended = true;
      wake();
      resolve({ code, ...out, seconds: (Date.now() - t0) / 1000 });
    }),
  );
  const until = (check: (o: typeof out) => boolean) =>
    new Promise<void>((resolve) => {
      const w = () => {
        if (!ended && !check(out)) return;
        waiters.delete(w);
        resolve();
      };
      waiters.add(w);
      w();
    });
  return { child, out, until, done };
}

/** Runs a Node script to its end (see startNode). */
export function runNode(script: string, args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<NodeRun> {
  return startNode(script, args, o).done;
}
