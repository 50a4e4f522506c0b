// The management functions' code runs on Node 22 in the cloud (Lambda's nodejs22.x, Azure Functions'
// node 22); the tests run it there too: Node 22 from .tools/node22 (scripts/install-node22.sh), and a
// harness script (lambdaInvoke.cjs, functionInvoke.cjs) that makes one invocation and prints its
// answer as its last line, "RESULT <json>".
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');
export const node22 = path.join(root, '.tools', 'node22', 'node_modules', `node-linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}`, 'bin', 'node');

/** Why Node 22 is not there (after trying to install it), or undefined. */
export function node22Unavailable(): string | undefined {
  if (fs.existsSync(node22)) return undefined;
  const r = spawnSync('bash', [path.join(root, 'scripts/install-node22.sh')], { stdio: 'inherit' });
  return r.status === 0 && fs.existsSync(node22) ? undefined : 'Node 22 could not be installed (scripts/install-node22.sh)';
}

/** Runs `harness` (a file in test/support) on Node 22 and returns its answer and everything it printed. */
export async function invokeOnNode22(harness: string, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ result: any; log: string }> {
  const child = spawn(node22, [path.join(__dirname, harness), ...args], { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.on('exit', r));
  const last = out.trimEnd().split('\n').pop()!;
  assert.ok(last.startsWith('RESULT '), `the invocation answered (exit ${code}):\n${out}`);
  return { result: JSON.parse(last.slice(7)), log: out };
}
