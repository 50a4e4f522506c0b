// A proxy in front of the emulated AWS that records every call a process makes, as the IAM requests
// AWS would evaluate (action, resource ARN, condition keys), and a small evaluator of identity
// policies (Allow statements: Action and Resource globs, StringEquals conditions) to check them
// against a role's policy document. Requests are routed by the service in their signature: pricing to
// the fake Pricing API, everything else to moto.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  service: string;
  operation: string;
  method: string;
  path: string;
  query: URLSearchParams;
  /** The form (query protocol) or JSON body. */
  params: URLSearchParams;
  json: Record<string, unknown>;
  body: string;
}

export interface CallRecorder {
  endpoint: string;
  calls: RecordedCall[];
  stop(): Promise<void>;
}

export async function startCallRecorder(targets: { default: string; [service: string]: string }): Promise<CallRecorder> {
  const calls: RecordedCall[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      const service = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? 'unknown';
      const url = new URL(req.url!, 'http://x');
      const target = req.headers['x-amz-target'];
      const form = String(req.headers['content-type'] ?? '').includes('x-www-form-urlencoded') ? new URLSearchParams(text) : new URLSearchParams();
      let json: Record<string, unknown> = {};
      if (typeof target === 'string') json = text ? JSON.parse(text) : {};
      const operation = typeof target === 'string' ? target.split('.').pop()! : (form.get('Action') ?? url.searchParams.get('Action') ?? `${req.method} ${url.pathname}`);
      calls.push({ service, operation, method: req.method!, path: url.pathname, query: url.searchParams, params: form, json, body: text });
      const out = http.request(new URL(req.url!, targets[service] ?? targets.default), { method: req.method, headers: req.headers }, (answer) => {
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
    calls,
    stop: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** One authorization AWS makes for a call: an action on a resource, with the condition keys it sets. */
export interface IamRequest {
  action: string;
  resource: string;
  context: Record<string, string>;
  /** The call it comes from, for messages. */
  call: string;
}

/**
 * The IAM requests a recorded call makes, for the services the management function uses. `tagsOf`
 * gives an existing EC2 instance's tags (its aws:ResourceTag/… keys). Calls this does not know map
 * to an action no policy allows, so the check fails on them rather than passing them over.
 */
export function iamRequests(c: RecordedCall, o: { region: string; account: string; tagsOf: (instanceId: string) => Record<string, string> }): IamRequest[] {
  const { region, account } = o;
  const call = `${c.service} ${c.operation}`;
  const one = (action: string, resource: string, context: Record<string, string> = {}): IamRequest[] => [{ action, resource, context, call }];
  const numbered = (prefix: string) => [...c.params.entries()].filter(([k]) => new RegExp(`^${prefix}\\.\\d+$`).test(k)).map(([, v]) => v);
  switch (c.service) {
    case 'dynamodb':
      return one(`dynamodb:${c.operation}`, `arn:aws:dynamodb:${region}:${account}:table/${c.json.TableName}`);
    case 'ec2': {
      const instance = (id: string) => `arn:aws:ec2:${region}:${account}:instance/${id}`;
      const tags = (id: string) => Object.fromEntries(Object.entries(o.tagsOf(id)).map(([k, v]) => [`aws:ResourceTag/${k}`, v]));
      if (c.operation === 'TerminateInstances') return numbered('InstanceId').flatMap((id) => one('ec2:TerminateInstances', instance(id), tags(id)));
      if (c.operation === 'GetConsoleOutput') return one('ec2:GetConsoleOutput', instance(c.params.get('InstanceId')!), tags(c.params.get('InstanceId')!));
      if (c.operation === 'RunInstances') {
        // The tags asked for, per resource type: TagSpecification.N.ResourceType and .Tag.M.Key/Value.
        const requestTags: Record<string, Record<string, string>> = {};
        for (const [k, v] of c.params.entries()) {
          const m = /^TagSpecification\.(\d+)\.ResourceType$/.exec(k);
          if (!m) continue;
          const tags: Record<string, string> = {};
          for (let t = 1; c.params.has(`TagSpecification.${m[1]}.Tag.${t}.Key`); t++) {
            tags[`aws:RequestTag/${c.params.get(`TagSpecification.${m[1]}.Tag.${t}.Key`)}`] = c.params.get(`TagSpecification.${m[1]}.Tag.${t}.Value`)!;
          }
          requestTags[v] = tags;
        }
        const requests: IamRequest[] = [
          ...one('ec2:RunInstances', `arn:aws:ec2:${region}:${account}:instance/*`, requestTags.instance ?? {}),
          ...one('ec2:RunInstances', `arn:aws:ec2:${region}:${account}:volume/*`, requestTags.volume ?? {}),
          ...one('ec2:RunInstances', `arn:aws:ec2:${region}::image/${c.params.get('ImageId')}`),
          ...one('ec2:RunInstances', `arn:aws:ec2:${region}:${account}:subnet/*`),
          ...one('ec2:RunInstances', `arn:aws:ec2:${region}:${account}:network-interface/*`),
          ...numbered('SecurityGroupId').flatMap((g) => one('ec2:RunInstances', `arn:aws:ec2:${region}:${account}:security-group/${g}`)),
        ];
        for (const type of Object.keys(requestTags)) requests.push(...one('ec2:CreateTags', `arn:aws:ec2:${region}:${account}:${type}/*`, { 'ec2:CreateAction': 'RunInstances' }));
        // The profile's role is passed to EC2 (the profile is named after its role here).
        const profile = c.params.get('IamInstanceProfile.Name');
        if (profile) requests.push(...one('iam:PassRole', `arn:aws:iam::${account}:role/${profile}`, { 'iam:PassedToService': 'ec2.amazonaws.com' }));
        return requests;
      }
      if (/^Describe/.test(c.operation)) return one(`ec2:${c.operation}`, '*');
      return one(`ec2:${c.operation}`, 'unknown');
    }
    case 'sqs': {
      const op = c.operation.replace(/Batch$/, '');
      if (op === 'ListQueues') return one('sqs:ListQueues', '*');
      const url = String(c.json.QueueUrl ?? c.params.get('QueueUrl') ?? '');
      const name = String(c.json.QueueName ?? c.params.get('QueueName') ?? url.slice(url.lastIndexOf('/') + 1));
      return one(`sqs:${op}`, `arn:aws:sqs:${region}:${account}:${name}`);
    }
    case 's3': {
      const [bucket, ...key] = c.path.split('/').filter(Boolean);
      if (c.method === 'GET' && !key.length) return one('s3:ListBucket', `arn:aws:s3:::${bucket}`);
      if (c.method === 'POST' && c.query.has('delete')) {
        return [...c.body.matchAll(/<Key>([^<]*)<\/Key>/g)].flatMap((m) => one('s3:DeleteObject', `arn:aws:s3:::${bucket}/${m[1]}`));
      }
      return one(`s3:${c.method} ${c.path}`, 'unknown');
    }
    case 'ssm':
    case 'pricing':
      return one(`${c.service}:${c.operation}`, c.service === 'ssm' ? `arn:aws:ssm:${region}::parameter${c.json.Name}` : '*');
    default:
      return one(`${c.service}:${c.operation}`, 'unknown');
  }
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string>>;
}

const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);
const glob = (pattern: string) => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');

/** Whether an identity policy allows the request (no Deny statements are used here). */
export function allows(policy: { Statement: Statement[] }, r: IamRequest): boolean {
  return policy.Statement.some(
    (s) =>
      s.Effect === 'Allow' &&
      list(s.Action).some((a) => glob(a).test(r.action)) &&
      list(s.Resource).some((p) => (r.resource === '*' ? p === '*' : new RegExp(glob(p).source, '').test(r.resource))) &&
      Object.entries(s.Condition ?? {}).every(([operator, keys]) => {
        if (operator !== 'StringEquals') return false; // no other operator is used; refuse what this cannot judge
        return Object.entries(keys).every(([k, v]) => r.context[k] === v);
      }),
  );
}
