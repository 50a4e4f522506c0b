// AWS on its instances: what the agent and the instance's watch load (through
// src/agent/instanceSides.ts) for an AgentConfig whose provider is "aws". Credentials come from the
// instance role through IMDSv2 (the SDK's default chain); the spot notice from IMDSv2 too.
import { execFile } from 'child_process';
import { InstanceSide } from '../ports';
import { AwsAgentConfig } from './agentConfig';
import { DynamoAllocationTable } from './dynamoAllocationTable';
import { pendingPayloads, pendingQueues } from './pending';

export const awsInstanceSide: InstanceSide<AwsAgentConfig> = {
  table: (c) => DynamoAllocationTable.open({ region: c.region, endpoint: c.endpoint }, c.table.tableName),
  queues: () => pendingQueues,
  payloads: () => pendingPayloads,
  interruptionAnnounced: (c) => spotNotice(c.interruption.imdsEndpoint),
  // The instance was launched to terminate on shutdown; the user data lets the login user do this one thing as root.
  shutdown: () =>
    new Promise((resolve, reject) => execFile('sudo', ['-n', '/usr/sbin/shutdown', '-h', 'now'], (e) => (e ? reject(e) : resolve()))),
};

/** Whether EC2 has announced that this spot instance will be interrupted (IMDSv2 `spot/instance-action`). */
export async function spotNotice(imds: string): Promise<boolean> {
  const signal = AbortSignal.timeout(2000);
  const token = await fetch(`${imds}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, signal });
  if (!token.ok) throw new Error(`IMDSv2 token: HTTP ${token.status}`);
  const res = await fetch(`${imds}/latest/meta-data/spot/instance-action`, { headers: { 'X-aws-ec2-metadata-token': await token.text() }, signal });
  if (res.status === 404) return false;
  if (!res.ok) throw new Error(`IMDS spot/instance-action: HTTP ${res.status}`);
  return true;
}
