import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { MeadowrunError } from '../core/errors';

export interface AgentBundle {
  path: string;
  /** Content hash: an instance that already has this agent is never sent it again. */
  hash: string;
}

/**
 * The agent bundle an instance of `provider` is sent: agent.js (with the local cloud's adapters
 * only), or the cloud's own, which adds its adapters and SDK clients (see CONTRIBUTING.md, "Agent
 * bundles"), so the local agent does not carry a cloud SDK.
 */
export function agentBundleName(provider?: string): string {
  return provider === 'aws' || provider === 'azure' ? `agent-${provider}.js` : 'agent.js';
}

const cached = new Map<string, AgentBundle>();

/**
 * The bundled agent for `provider`'s instances (dist/agent.js, dist/agent-aws.js, dist/agent-azure.js) beside the
 * running bundle, or found from the package root; $MEADOWRUN_AGENT_BUNDLE overrides agent.js.
 */
export function agentBundle(provider?: string): AgentBundle {
  const name = agentBundleName(provider);
  const known = cached.get(name);
  if (known) return known;
  const candidates = [name === 'agent.js' ? process.env.MEADOWRUN_AGENT_BUNDLE : undefined, path.join(__dirname, name)];
  for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    candidates.push(path.join(dir, 'dist', name));
  }
  const found = candidates.find((p) => p && fs.existsSync(p));
  if (!found) throw new MeadowrunError(`The Meadowrun agent is not built (dist/${name} is missing): run \`npm run build\`.`, 'agent-missing');
  const hash = crypto.createHash('sha256').update(fs.readFileSync(found)).digest('hex').slice(0, 16);
  const bundle = { path: found, hash };
  cached.set(name, bundle);
  return bundle;
}

/** Where the resident agent of this build (for `provider`'s instances) listens on an instance. */
export function agentSocketPath(workDir: string, provider?: string): string {
  return path.posix.join(workDir, 'run', `agent-${agentBundle(provider).hash}.sock`);
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
