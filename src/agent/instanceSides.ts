// The agent's view of its provider: the AgentConfig the provider wrote to the instance at launch,
// and that provider's adapters (table, queues, interruption notice, shutdown), loaded by name.
import * as fs from 'fs';
import { AgentConfig, InstanceSide } from '../cloud/ports';
import { agentBundleName } from '../remote/agentBundle';

/**
 * One loader per provider. A provider's adapters are loaded with import() only when its config
 * names it, so a cloud SDK never loads on another cloud's instances. Each agent bundle is one file
 * copied to an instance as it is: the local adapters are in every bundle ("eager"); a cloud's are
 * only in that cloud's bundle (agent-aws.js, agent-azure.js, see webpack.config.js and CONTRIBUTING.md, "Agent
 * bundles"), and missing from the others, where loading them says so.
 */
const loaders: Record<string, () => Promise<InstanceSide<never>>> = {
  local: async () => (await import(/* webpackMode: "eager" */ '../cloud/local/instanceSide')).localInstanceSide,
  aws: async () => (await import(/* webpackMode: "eager" */ '../cloud/aws/instanceSide')).awsInstanceSide,
  // Node 18's missing global crypto is put there by the Azure instance side itself (cloud/azure/node18.ts).
  azure: async () => (await import(/* webpackMode: "eager" */ '../cloud/azure/instanceSide')).azureInstanceSide,
};

export async function instanceSide(provider: string): Promise<InstanceSide> {
  const load = loaders[provider];
  if (!load) throw new Error(`this agent knows no provider "${provider}" (known: ${Object.keys(loaders).join(', ')})`);
  try {
    return (await load()) as InstanceSide;
  } catch (e) {
    // The bundle left this provider's adapters out (webpack's IgnorePlugin): the client sent the wrong one.
    if ((e as NodeJS.ErrnoException)?.code === 'MODULE_NOT_FOUND') {
      throw new Error(`this agent bundle does not include the "${provider}" adapters: a client sends ${provider} instances ${agentBundleName(provider)}`);
    }
    throw e;
  }
}

/** Where the provider put the config: $MEADOWRUN_AGENT_CONFIG (the local cloud's sshd sets it), else the VM default. */
export function agentConfigPath(): string {
  return process.env.MEADOWRUN_AGENT_CONFIG || '/etc/meadowrun/agent.json';
}

export function readAgentConfig(file = agentConfigPath()): AgentConfig {
  let config: AgentConfig;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as AgentConfig;
  } catch (e) {
    throw new Error(
      `cannot read this instance's configuration ${file} (${(e as Error).message}); ` +
        'an instance launched by an older Meadowrun has none: terminate it',
    );
  }
  for (const field of ['provider', 'instanceId', 'workDir'] as const) {
    if (typeof config[field] !== 'string' || !config[field]) throw new Error(`this instance's configuration ${file} has no ${field}`);
  }
  return config;
}

/** The config and its provider's adapters, opened. */
export async function openInstance(file?: string) {
  const config = readAgentConfig(file);
  const side = await instanceSide(config.provider);
  // An instance launched before payloads were configured runs no map worker (serve says so).
  return { config, side, table: side.table(config), queues: side.queues(config), payloads: config.payloads ? side.payloads(config) : undefined };
}
