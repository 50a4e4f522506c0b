// The agent's AWS side, on this machine against moto and a stand-in for the instance metadata service
// on 127.0.0.1 (never 169.254.169.254 from the host): the built dist/agent-aws.js `watch` frees a dead
// job's allocation in DynamoDB and fences the instance once IMDSv2 announces a spot interruption; the
// adapters opened from an AwsAgentConfig work the map queues and payloads; every AWS call they make
// goes through a recorder in front of moto, and the instance role's policy allows exactly those.
import assert from 'node:assert/strict';
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { openInstance } from '../../src/agent/instanceSides';
import { AwsAgentConfig } from '../../src/cloud/aws/agentConfig';
import { awsClient } from '../../src/cloud/aws/clients';
import { createAllocationTable, DynamoAllocationTable } from '../../src/cloud/aws/dynamoAllocationTable';
import { shutdown } from '../../src/cloud/aws/instanceSide';
import { instanceRolePolicy } from '../../src/cloud/aws/prepare';
import { ensurePayloadBucket } from '../../src/cloud/aws/s3PayloadStore';
import { SecretsManagerSecretStore } from '../../src/cloud/aws/secretsManagerSecretStore';
import { SqsTaskQueues } from '../../src/cloud/aws/sqsTaskQueues';
import { instanceRecord, job } from '../contracts/allocationTableContract';
import { waitFor } from '../support/localCloud';
import { motoUnavailable, startMoto, type Moto } from '../support/moto';
import { tempDir } from '../support/tempDir';

const dist = path.join(__dirname, '..', '..', 'dist');
const TABLE = 'meadowrun-side-test';
const BUCKET = 'meadowrun-side-payloads';
const PREFIX = 'meadowrun-side-';
const INSTANCE = 'i-0123456789abcdef0';

const unavailable = motoUnavailable();

/** SHA-256 (an HMAC with a secret) as the SDK's signer wants it. */
class Sha256 {
  private readonly hash: crypto.Hash | crypto.Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? crypto.createHash('sha256') : crypto.createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

function bytes(d: string | ArrayBuffer | ArrayBufferView): string | Buffer {
  if (typeof d === 'string') return d;
  return ArrayBuffer.isView(d) ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : Buffer.from(d);
}

/** What the stand-in metadata service hands out as the instance role's credentials. */
const ROLE_CREDENTIALS = { AccessKeyId: 'ASIAROLEROLEROLE0001', SecretAccessKey: 'role-secret-key', Token: 'role-session-token' };

/** IMDSv2 only: GETs without a token PUT issued are refused (401), as on an instance that requires v2. */
interface Imds {
  endpoint: string;
  spotAction?: { action: string; time: string };
  unauthorized: number;
  stop(): Promise<void>;
}
async function startImds(): Promise<Imds> {
  const tokens = new Set<string>();
  const imds: Imds = { endpoint: '', unauthorized: 0, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return res.writeHead(400).end();
      const token = `token-${tokens.size}`;
      tokens.add(token);
      return res.writeHead(200).end(token);
    }
    if (!tokens.has(String(req.headers['x-aws-ec2-metadata-token']))) {
      imds.unauthorized++;
      return res.writeHead(401).end();
    }
    if (req.method === 'GET' && req.url === '/latest/meta-data/iam/security-credentials/') return res.writeHead(200).end('meadowrun-instance');
    if (req.method === 'GET' && req.url === '/latest/meta-data/iam/security-credentials/meadowrun-instance') {
      return res.writeHead(200).end(JSON.stringify({ Code: 'Success', Type: 'AWS-HMAC', ...ROLE_CREDENTIALS, Expiration: new Date(Date.now() + 3_600_000).toISOString() }));
    }
    if (req.method === 'GET' && req.url === '/latest/meta-data/spot/instance-action' && imds.spotAction) {
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(imds.spotAction));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  imds.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  imds.stop = () => new Promise((r) => server.close(() => r()));
  return imds;
}

/** A proxy in front of moto that records each call as the IAM action it needs. */
interface Recorder {
  endpoint: string;
  actions: Set<string>;
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  stop(): Promise<void>;
}
async function startRecorder(target: string): Promise<Recorder> {
  const actions = new Set<string>();
  const requests: Recorder['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      actions.add(iamAction(req, body.toString('utf8')));
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: body.toString('utf8') });
      const out = http.request(new URL(req.url!, target), { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      out.on('error', () => res.writeHead(502).end());
      out.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    actions,
    requests,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}

/** DynamoDB and SQS name the operation in X-Amz-Target (SQS's query protocol in Action=); S3 by method and path. */
function iamAction(req: http.IncomingMessage, body: string): string {
  const target = req.headers['x-amz-target'];
  const operation = typeof target === 'string' ? target.split('.').pop()! : new URLSearchParams(body).get('Action');
  if (typeof target === 'string' && target.startsWith('DynamoDB_')) return `dynamodb:${operation}`;
  if (typeof target === 'string' && target.startsWith('secretsmanager.')) return `secretsmanager:${operation}`;
  // IAM has no actions for SQS batches: SendMessage allows SendMessageBatch, and so on.
  if (operation) return `sqs:${operation.replace(/Batch$/, '')}`;
  const [bucketAndKey, query] = req.url!.split('?');
  const hasKey = bucketAndKey.split('/').filter(Boolean).length > 1;
  if (hasKey && req.method === 'PUT') return 's3:PutObject';
  if (hasKey && (req.method === 'GET' || req.method === 'HEAD')) return 's3:GetObject';
  return `s3:unexpected ${req.method} ${bucketAndKey}${query ? '?' + query : ''}`;
}

describe('the AWS instance side', { skip: unavailable ? `skipped: moto could not be installed (${unavailable})` : false }, () => {
  let moto: Moto;
  let imds: Imds;
  let recorder: Recorder;
  let configFile: string;
  let config: AwsAgentConfig;
  let table: DynamoAllocationTable; // the client's view, straight to moto
  const children: ChildProcess[] = [];

  before(async () => {
    moto = await startMoto();
    Object.assign(process.env, moto.env);
    imds = await startImds();
    recorder = await startRecorder(moto.endpoint);
    await createAllocationTable(awsClient(DynamoDBClient, {}), TABLE);
    await ensurePayloadBucket(awsClient(S3Client, {}), BUCKET, moto.region);
    table = DynamoAllocationTable.open({}, TABLE);
    const dir = tempDir('aws-side');
    config = {
      provider: 'aws',
      instanceId: INSTANCE,
      workDir: path.join(dir, 'work'),
      region: moto.region,
      endpoint: recorder.endpoint,
      table: { tableName: TABLE },
      queues: { queuePrefix: PREFIX },
      payloads: { bucket: BUCKET },
      interruption: { imdsEndpoint: imds.endpoint },
      sweep: { intervalS: 1, graceS: 60 },
      // Never idle long enough to reach the watchdog's shutdown here.
      idle: { timeoutS: 86_400, marginS: 60 },
    };
    fs.mkdirSync(config.workDir, { recursive: true, mode: 0o700 });
    configFile = path.join(dir, 'agent.json');
    fs.writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await recorder?.stop();
    await imds?.stop();
    await moto?.stop();
  });

  /** The watch of dist/<bundle> on this config, its log collected. */
  function startWatch(bundle: string) {
    const child = spawn(process.execPath, [path.join(dist, bundle), 'watch'], {
      cwd: config.workDir,
      // As on an instance, but the keys and region come from moto's environment, not the instance role.
      env: { PATH: process.env.PATH, ...withoutEndpoint(moto.env), MEADOWRUN_AGENT_CONFIG: configFile },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    const watch = { child, log: '' };
    child.stderr!.on('data', (d: Buffer) => (watch.log += d));
    return watch;
  }

  test('the watch of agent-aws.js frees a dead job in DynamoDB, then fences the instance when IMDSv2 announces a spot interruption', async () => {
    await table.registerInstance({ ...instanceRecord(INSTANCE), spot: true, evictionRatePct: 5 });
    const etag = (await table.getInstance(INSTANCE))!.etag;
    // Allocated long ago and no process ever started: dead past the grace period.
    assert.equal(await table.allocateJobs(INSTANCE, etag, [{ ...job('dead-job'), allocatedAt: Date.now() - 3_600_000 }]), true);

    const watch = startWatch('agent-aws.js');
    await waitFor('the watch to free the dead job', async () => !(await table.getInstance(INSTANCE))?.jobs['dead-job'], 30_000).catch((e) => {
      throw new Error(`${(e as Error).message}\n${watch.log}`);
    });
    await waitFor('the watch to log it', () => /freed dead-job/.test(watch.log));
    assert.equal((await table.getInstance(INSTANCE))!.preventFurtherAllocation, false, 'no notice yet (IMDS answered 404)');

    imds.spotAction = { action: 'terminate', time: new Date(Date.now() + 120_000).toISOString() };
    await waitFor('the watch to fence the instance', async () => (await table.getInstance(INSTANCE))!.preventFurtherAllocation, 30_000).catch((e) => {
      throw new Error(`${(e as Error).message}\n${watch.log}`);
    });
    const fenced = await table.getInstance(INSTANCE);
    assert.equal(await table.allocateJobs(INSTANCE, fenced!.etag, [job('late-job')]), false, 'no allocation on a fenced instance');
    assert.equal(imds.unauthorized, 0, 'every metadata request carried an IMDSv2 token');
    assert.equal(watch.child.exitCode, null, 'the watch keeps running');
    watch.child.kill('SIGTERM');
  });

  test("agent.js (the local cloud's bundle) refuses an AWS config, naming the bundle that has its adapters", async () => {
    const watch = startWatch('agent.js');
    const code = await new Promise((r) => watch.child.on('exit', r));
    assert.equal(code, 1);
    assert.match(watch.log, /does not include the "aws" adapters: a client sends aws instances agent-aws\.js/);
    assert.ok(fs.statSync(path.join(dist, 'agent.js')).size * 4 < fs.statSync(path.join(dist, 'agent-aws.js')).size, 'agent.js carries no AWS SDK');
  });

  test('the queues and payload store opened from the config work a map job: send, receive, extend, acknowledge, big payloads', async () => {
    // The client creates the pair (its own credentials; instances may not create queues).
    const client = SqsTaskQueues.open({}, PREFIX);
    const pair = await client.createPair('job1');
    await client.send(pair.request, ['task-1', 'task-2']);

    const side = await openInstance(configFile);
    assert.equal(side.config.provider, 'aws');
    const got = await side.queues.receive(pair.request, 10, 30, { waitS: 1 });
    assert.deepEqual(got.map((m) => m.body).sort(), ['task-1', 'task-2']);
    assert.equal(await side.queues.extendVisibility(pair.request, got[0].receipt, 60), got[0].receipt);
    await side.queues.acknowledge(pair.request, got.map((m) => m.receipt));
    await side.queues.send(pair.result, ['result-1']);
    assert.deepEqual((await client.receive(pair.result, 10, 30, { waitS: 1 })).map((m) => m.body), ['result-1']);

    const ref = await side.payloads!.put('job1/big', Buffer.alloc(300 * 1024, 7));
    assert.equal((await side.payloads!.get(ref)).length, 300 * 1024);
    await client.deletePair('job1');

    // The idle watchdog's last write: the instance, its jobs all freed, deregisters itself.
    assert.equal(await side.table.deregisterInstance(INSTANCE), true);
    assert.equal(await table.getInstance(INSTANCE), undefined);
  });

  test("the user data's host key publisher writes the key to the instance's own row, signed (SigV4) with the role's credentials from IMDSv2", async () => {
    await table.registerInstance(instanceRecord(INSTANCE));
    const dir = tempDir('aws-side-hostkey');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host')]);
    const blob = fs.readFileSync(path.join(dir, 'host.pub'), 'utf8').split(' ')[1];
    const unauthorized = imds.unauthorized;
    // Not execFileSync: the metadata service and the recorder answer from this process.
    const { stdout: out } = await promisify(execFile)('python3', [path.join(__dirname, '../../src/cloud/aws/publishHostKey.py'), configFile, path.join(dir, 'host.pub')], { encoding: 'utf8' });
    assert.match(out, /meadowrun-host-key-published/);
    assert.equal(await table.publishedHostKey(INSTANCE), blob);
    assert.equal(imds.unauthorized, unauthorized, 'IMDSv2 only');
    // Signed as the SDK signs, with the role's keys (moto checks no signatures; this does).
    const sent = recorder.requests.find((r) => r.headers['x-amz-target'] === 'DynamoDB_20120810.UpdateItem' && r.body.includes(blob))!;
    assert.ok(sent, 'the UpdateItem went to the endpoint of the config');
    const signer = new SignatureV4({
      service: 'dynamodb',
      region: config.region,
      sha256: Sha256,
      applyChecksum: false,
      credentials: { accessKeyId: ROLE_CREDENTIALS.AccessKeyId, secretAccessKey: ROLE_CREDENTIALS.SecretAccessKey, sessionToken: ROLE_CREDENTIALS.Token },
    });
    const date = String(sent.headers['x-amz-date']);
    const signingDate = new Date(`${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`);
    const signedNames = /SignedHeaders=([^,]+)/.exec(String(sent.headers.authorization))![1].split(';');
    const headers = Object.fromEntries(signedNames.map((n) => [n, String(sent.headers[n])]));
    const url = new URL(recorder.endpoint);
    const expected = await signer.sign({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', query: {}, headers, body: sent.body }, { signingDate });
    assert.equal(sent.headers.authorization, expected.headers.authorization);
    assert.equal(await table.deregisterInstance(INSTANCE), true);
  });

  test('the instance side reads a user secret the client set (meadowrun-secret-NAME), and says when there is none', async () => {
    // The client sets it with its own credentials, straight to moto.
    await SecretsManagerSecretStore.open({}).putSecret('pypi-creds', 'alice:pw');
    const side = await openInstance(configFile);
    assert.equal(await side.side.secret(side.config, 'pypi-creds'), 'alice:pw');
    assert.equal(await side.side.secret(side.config, 'no-such-secret'), undefined);
  });

  test("the instance role's policy allows exactly what the instance side called, on meadowrun- resources only", () => {
    const policy = JSON.parse(instanceRolePolicy(TABLE)) as { Statement: { Effect: string; Action: string[]; Resource: string }[] };
    const allowed = new Set(policy.Statement.flatMap((s) => s.Action));
    // Not a call: S3 answers a missing key with 403 instead of 404 without it (see prepare.ts).
    const notCalled = new Set(['s3:ListBucket']);
    assert.deepEqual([...recorder.actions].sort(), [...allowed].filter((a) => !notCalled.has(a)).sort());
    for (const s of policy.Statement) {
      assert.equal(s.Effect, 'Allow');
      assert.match(s.Resource, /^arn:aws:(dynamodb:\*:\*:table\/meadowrun-side-test|sqs:\*:\*:meadowrun-\*|s3:::meadowrun-\*(\/\*)?|secretsmanager:\*:\*:secret:meadowrun-secret-\*)$/);
    }
    // IAM's wildcard: the SSH key's ARN (arn:…:secret:meadowrun-ssh-key-AbCdEf) is not matched.
    const secrets = policy.Statement.find((s) => s.Action.includes('secretsmanager:GetSecretValue'))!;
    const matches = (arn: string) => new RegExp(`^${secrets.Resource.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`).test(arn);
    assert.ok(matches('arn:aws:secretsmanager:us-east-1:123456789012:secret:meadowrun-secret-pypi-AbCdEf'));
    assert.ok(!matches('arn:aws:secretsmanager:us-east-1:123456789012:secret:meadowrun-ssh-key-AbCdEf'));
  });

  test('shutdown powers off only the instance cloud-init booted as the one the config names', async () => {
    const calls: string[][] = [];
    const run = async (command: string, args: string[]) => void calls.push([command, ...args]);
    const idFile = path.join(tempDir('aws-side-id'), 'instance-id');
    await assert.rejects(shutdown(config, { instanceIdFile: idFile, run }), /not powering off: this machine is not one cloud-init booted/);
    fs.writeFileSync(idFile, 'i-00000000000000001\n');
    await assert.rejects(shutdown(config, { instanceIdFile: idFile, run }), /this machine is instance i-00000000000000001, not i-0123/);
    assert.deepEqual(calls, []);
    fs.writeFileSync(idFile, `${INSTANCE}\n`);
    await shutdown(config, { instanceIdFile: idFile, run });
    const root = process.getuid?.() === 0;
    assert.deepEqual(calls, [root ? ['/usr/sbin/shutdown', '-h', 'now'] : ['sudo', '-n', '/usr/sbin/shutdown', '-h', 'now']]);
    // The default: this machine has no cloud-init instance id (it is no EC2 instance), so nothing runs.
    if (!fs.existsSync('/var/lib/cloud/data/instance-id')) {
      await assert.rejects(shutdown(config, { run }), /not powering off/);
      assert.equal(calls.length, 1);
    }
  });
});

/** The config names the endpoint (the recorder); the environment's would be moto's. */
function withoutEndpoint(env: Record<string, string>): Record<string, string> {
  const { AWS_ENDPOINT_URL: _, ...rest } = env;
  return rest;
}
