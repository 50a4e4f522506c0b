// AWS on its instances: what the agent and the instance's watch load (through
// src/agent/instanceSides.ts) for an AgentConfig whose provider is "aws". It is only in
// dist/agent-aws.js, the agent sent to EC2 instances (see CONTRIBUTING.md, "Agent bundles").
// Credentials are the instance role's, from the SDK's default chain (on an instance: IMDSv2); the
// spot interruption notice is IMDSv2's `spot/instance-action`.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import { MeadowrunError } from '../../core/errors';
import { InstanceSide, PayloadStore } from '../ports';
import { AwsAgentConfig } from './agentConfig';
import { AwsSettings } from './clients';
import { DynamoAllocationTable } from './dynamoAllocationTable';
import { S3PayloadStore } from './s3PayloadStore';
import { SecretsManagerSecretStore } from './secretsManagerSecretStore';
import { SqsTaskQueues } from './sqsTaskQueues';

/** The command that powers the instance off (launched to terminate on shutdown); the user data lets the login user run exactly this with sudo. */
export const SHUTDOWN_COMMAND = ['/usr/sbin/shutdown', '-h', 'now'];

const settings = (c: AwsAgentConfig): AwsSettings => ({ region: c.region, ...(c.endpoint && { endpoint: c.endpoint }) });

export const awsInstanceSide: InstanceSide<AwsAgentConfig> = {
  table: (c) => DynamoAllocationTable.open(settings(c), c.table.tableName),
  queues: (c) => SqsTaskQueues.open(settings(c), c.queues.queuePrefix),
  payloads: (c) => (c.payloads.bucket ? S3PayloadStore.open(settings(c), c.payloads.bucket) : noBucket),
  interruptionAnnounced: (c) => spotInterruptionAnnounced(c.interruption.imdsEndpoint),
  shutdown: (c) => shutdown(c),
  // The instance role may read meadowrun-secret-* (prepare.ts), never the SSH key.
  secret: (c, name) => SecretsManagerSecretStore.open(settings(c)).getSecret(name),
};

/** An instance launched without a payload bucket: single jobs never need one; a map's big payload says why it fails. */
const noBucket: PayloadStore = {
  put: async () => refuse(),
  get: async () => refuse(),
  deleteJob: async () => undefined,
};
function refuse(): never {
  throw new MeadowrunError("This instance was launched without a payload bucket, so a map task's argument or result over 256 KiB cannot be passed: run `meadowrun aws prepare` and relaunch", 'bad-config');
}

/**
 * Whether EC2 has announced that this spot instance will be stopped or terminated: IMDSv2 (a token
 * from PUT /latest/api/token, then GET spot/instance-action with it). 404 until there is a notice.
 * `imds` is the config's endpoint: 169.254.169.254 on an instance, a stand-in on 127.0.0.1 in tests.
 */
export async function spotInterruptionAnnounced(imds: string): Promise<boolean> {
  const token = await imdsRequest(imds, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' });
  if (token.status !== 200 || !token.body) throw new Error(`the instance metadata service gave no IMDSv2 token (HTTP ${token.status})`);
  const action = await imdsRequest(imds, 'GET', '/latest/meta-data/spot/instance-action', { 'X-aws-ec2-metadata-token': token.body });
  if (action.status === 404) return false;
  if (action.status !== 200) throw new Error(`the instance metadata service answered spot/instance-action with HTTP ${action.status}`);
  return true; // {"action":"terminate|stop|hibernate","time":"…"}: any action ends the instance's use
}

/** One request to the metadata service (node:http, not fetch: fetch warns as experimental on Node 18). */
function imdsRequest(base: string, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method, headers, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`the instance metadata service (${base}) did not answer within 2 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Where cloud-init keeps the id of the instance it booted (from the metadata service). */
export const CLOUD_INIT_INSTANCE_ID = '/var/lib/cloud/data/instance-id';

/**
 * Powers the instance off; EC2 then terminates it. As root directly, else through sudo (never
 * asking for a password). Only on the instance the config names: a config copied to another
 * machine (a developer's, a test's) must not power that one off.
 */
export async function shutdown(
  c: AwsAgentConfig,
  o: { instanceIdFile?: string; run?: (command: string, args: string[]) => Promise<void> } = {},
): Promise<void> {
  const instanceIdFile = o.instanceIdFile ?? CLOUD_INIT_INSTANCE_ID;
  let booted: string;
  try {
    booted = fs.readFileSync(instanceIdFile, 'utf8').trim();
  } catch {
    booted = '';
  }
  if (booted !== c.instanceId) {
    throw new Error(`not powering off: this machine is ${booted ? `instance ${booted}` : `not one cloud-init booted as an EC2 instance (no ${instanceIdFile})`}, not ${c.instanceId}`);
  }
  const [command, args] = process.getuid?.() === 0 ? [SHUTDOWN_COMMAND[0], SHUTDOWN_COMMAND.slice(1)] : ['sudo', ['-n', ...SHUTDOWN_COMMAND]];
  await (o.run ?? run)(command, args);
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(command, args, (e, _stdout, stderr) => (e ? reject(new Error(`${[command, ...args].join(' ')} failed: ${stderr.trim() || e.message}`)) : resolve())),
  );
}
