import { spawn } from 'node:child_process';

export interface NodeRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a Node script (e.g. dist/cli.js) to its end, with `input` on its stdin, and collects its output. */
export function runNode(script: string, args: string[], o: { env: NodeJS.ProcessEnv; cwd?: string; input?: string }): Promise<NodeRun> {
  const child = spawn(process.execPath, [script, ...args], { env: o.env, cwd: o.cwd });
  child.stdin.end(o.input ?? '');
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
