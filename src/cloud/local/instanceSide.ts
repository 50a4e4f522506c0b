// The local cloud on its instances: what the agent and the instance's watch load (through
// src/agent/instanceSides.ts) for an AgentConfig whose provider is "local".
import * as fs from 'fs';
import { AgentConfig, InstanceSide } from '../ports';
import { FileAllocationTable } from './fileAllocationTable';
import { readUserSecret } from './userSecrets';
import { FilePayloadStore } from './filePayloadStore';
import { FileTaskQueues } from './fileTaskQueues';
import { stopLocalInstance } from './stopInstance';

export type LocalAgentConfig = AgentConfig<{ dir: string }, { dir: string }, { noticeFile: string }, { dir: string }> & {
  provider: 'local';
  /**
   * What stopping the instance removes: its directory in the state directory and its sshd's files;
   * and the store whose user secrets the instance reads (it runs as the user: its "identity").
   */
  local: { instanceDir: string; sshdDir: string; secretsDir?: string };
};

export const localInstanceSide: InstanceSide<LocalAgentConfig> = {
  table: (c) => new FileAllocationTable(c.table.dir),
  queues: (c) => new FileTaskQueues(c.queues.dir),
  payloads: (c) => new FilePayloadStore(c.payloads.dir),
  // The local stand-in for a spot interruption notice (EC2's instance metadata, Azure's scheduled
  // events): a file, by default `interruption-notice` in the instance's work directory.
  interruptionAnnounced: async (c) => fs.existsSync(c.interruption.noticeFile),
  shutdown: async (c) => stopLocalInstance(c.instanceId, c.local.instanceDir, c.local.sshdDir),
  secret: async (c, name) => {
    if (!c.local.secretsDir) throw new Error('this instance was launched before jobs could use secrets: terminate it');
    return readUserSecret(c.local.secretsDir, name);
  },
};
