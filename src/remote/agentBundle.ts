import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { MeadowrunError } from '../core/errors';

export interface AgentBundle {
  path: string;
  /** Content hash: an instance that already has this agent is never sent it again. */
  hash: string;
}

let cached: AgentBundle | undefined;

/** The bundled agent (dist/agent.js) beside the running bundle, or found from the package root. */
export function agentBundle(): AgentBundle {
  if (cached) return cached;
  const candidates = [process.env.MEADOWRUN_AGENT_BUNDLE, path.join(__dirname, 'agent.js')];
  for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    candidates.push(path.join(dir, 'dist', 'agent.js'));
  }
  const found = candidates.find((p) => p && fs.existsSync(p));
  if (!found) throw new MeadowrunError('The Meadowrun agent is not built (dist/agent.js is missing): run `npm run build`.', 'agent-missing');
  const hash = crypto.createHash('sha256').update(fs.readFileSync(found)).digest('hex').slice(0, 16);
  cached = { path: found, hash };
  return cached;
}

/** Where the resident agent of this build listens on an instance. */
export function agentSocketPath(workDir: string): string {
  return path.posix.join(workDir, 'run', `agent-${agentBundle().hash}.sock`);
}

/**
 * A Node.js to run the agent with on this machine: $MEADOWRUN_LOCAL_NODE when set, else this
 * process's own, unless that is an Electron (VS Code) binary.
 */
export function localNodeCommand(): { command: string; env: Record<string, string> } {
  if (process.env.MEADOWRUN_LOCAL_NODE) return { command: process.env.MEADOWRUN_LOCAL_NODE, env: {} };
  if (!process.versions.electron) return { command: process.execPath, env: {} };
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'node');
    if (dir && fs.existsSync(candidate)) return { command: candidate, env: {} };
  }
  return { command: process.execPath, env: { ELECTRON_RUN_AS_NODE: '1' } };
}
