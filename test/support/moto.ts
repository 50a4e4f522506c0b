// moto server, the AWS API emulator, for one test file: started on a free port of 127.0.0.1 behind
// a small proxy of ours that (1) injects launch errors moto never produces, (2) answers
// GetConsoleOutput with an emulated instance's real console, (3) remembers the instance profile of
// every launched instance (moto 5.1.1 attaches it to the first of several only), and (4) can also
// listen on the EC2 emulator's gateway address, so emulated instances reach the same moto.
// Every process that is not inside an emulated instance must run with AWS_EC2_METADATA_DISABLED=true,
// so a missing credential never becomes a request to 169.254.169.254 from this machine.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { findAll, parseXml, type XmlNode } from './ec2emu/awsQuery';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

const root = path.resolve(__dirname, '../..');
const motoDir = path.join(root, '.tools/moto');
const sitePackages = path.join(motoDir, 'usr/lib/python3/dist-packages');

/** Installs moto into .tools/moto when it is not there yet (scripts/install-moto.sh). */
export function ensureMoto(): void {
  if (fs.existsSync(path.join(motoDir, '.installed'))) return;
  const r = spawnSync('bash', [path.join(root, 'scripts/install-moto.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error('moto: scripts/install-moto.sh failed (see its output above)');
}

/** Why moto cannot run here (its install failed), or undefined when it can: for a suite's skip. */
export function motoUnavailable(): string | undefined {
  try {
    ensureMoto();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** A launch error to answer RunInstances with instead of moto, e.g. no capacity for one type. */
export interface LaunchErrorRule {
  code: string;
  message?: string;
  /** Only launches of this type / in this AZ / of this market; any when absent. */
  instanceType?: string;
  availabilityZone?: string;
  market?: 'spot' | 'on-demand';
  /** How many launches it fails before it stops applying; every one when absent. */
  times?: number;
  /** HTTP status of the error answer (AWS uses 400 for these client errors; 5xx ones the SDK retries). */
  status?: number;
}

export interface LaunchAttempt {
  instanceType?: string;
  availabilityZone?: string;
  market: 'spot' | 'on-demand';
  /** The injected error's code, or the instances moto launched. */
  error?: string;
  instanceIds?: string[];
}

export interface Moto {
  /** For clients on this machine: http://127.0.0.1:PORT (the proxy). */
  endpoint: string;
  port: number;
  region: string;
  /** moto itself, bypassing the proxy (for the emulator's own polling). */
  directEndpoint: string;
  /** Environment for a client process: fake credentials, the endpoint, the region, IMDS off. */
  env: Record<string, string>;
  launchAttempts: LaunchAttempt[];
  /** instance id → the IamInstanceProfile it was launched with (Name or Arn as given). */
  instanceProfiles: Map<string, { name?: string; arn?: string }>;
  injectLaunchError(rule: LaunchErrorRule): void;
  clearLaunchErrors(): void;
  /** Set by the EC2 emulator: an instance's console, or undefined to let moto answer. */
  consoleOutput?: (instanceId: string) => string | undefined;
  /** Serves the same proxy on ADDRESS:port too (the emulator's gateway, for its instances). */
  listenAlso(address: string): Promise<void>;
  /** Clears every AWS resource in moto and every injected error. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMoto(options: { region?: string; privateCidr?: string; publicCidr?: string } = {}): Promise<Moto> {
  ensureMoto();
  const region = options.region ?? 'us-east-1';
  const motoPort = await freePort();
  const child = spawn('/usr/bin/python3', [path.join(root, 'scripts/moto-server.py'), '127.0.0.1', String(motoPort)], {
    env: {
      ...process.env,
      PYTHONPATH: sitePackages,
      AWS_EC2_METADATA_DISABLED: 'true',
      MEADOWRUN_MOTO_PRIVATE_CIDR: options.privateCidr ?? '',
      MEADOWRUN_MOTO_PUBLIC_CIDR: options.publicCidr ?? '',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const directEndpoint = `http://127.0.0.1:${motoPort}`;
  await waitReady(directEndpoint, child, () => stderr);

  const rules: LaunchErrorRule[] = [];
  const servers: http.Server[] = [];
  const moto: Moto = {
    endpoint: '',
    port: 0,
    region,
    directEndpoint,
    env: {},
    launchAttempts: [],
    instanceProfiles: new Map(),
    injectLaunchError: (rule) => void rules.push({ ...rule }),
    clearLaunchErrors: () => void rules.splice(0),
    async listenAlso(address) {
      servers.push(await listen(handler, address, moto.port));
    },
    async reset() {
      rules.splice(0);
      moto.launchAttempts.splice(0);
      moto.instanceProfiles.clear();
      const res = await fetch(`${directEndpoint}/moto-api/reset`, { method: 'POST' });
      if (!res.ok) throw new Error(`moto: reset failed with HTTP ${res.status}`);
    },
    async stop() {
      for (const s of servers) s.closeAllConnections();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      await stopChild(child);
      process.off('exit', killOnExit);
    },
  };

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      const params = new URLSearchParams(new URL(req.url ?? '/', 'http://x').search);
      if ((req.headers['content-type'] ?? '').includes('x-www-form-urlencoded')) {
        for (const [k, v] of new URLSearchParams(body.toString())) params.set(k, v);
      }
      const action = params.get('Action');
      let attempt: LaunchAttempt | undefined;
      if (action === 'RunInstances') {
        attempt = {
          instanceType: params.get('InstanceType') ?? undefined,
          availabilityZone: params.get('Placement.AvailabilityZone') ?? undefined,
          market: params.get('InstanceMarketOptions.MarketType') === 'spot' ? 'spot' : 'on-demand',
        };
        moto.launchAttempts.push(attempt);
        const rule = rules.find(
          (r) =>
            (r.times === undefined || r.times > 0) &&
            (!r.instanceType || r.instanceType === attempt!.instanceType) &&
            (!r.availabilityZone || r.availabilityZone === attempt!.availabilityZone) &&
            (!r.market || r.market === attempt!.market),
        );
        if (rule) {
          if (rule.times !== undefined) rule.times--;
          attempt.error = rule.code;
          const message = rule.message ?? `We currently do not have sufficient ${attempt.instanceType} capacity (injected by the test).`;
          return send(res, rule.status ?? 400, errorXml(rule.code, message));
        }
      }
      if (action === 'GetConsoleOutput' && moto.consoleOutput) {
        const id = params.get('InstanceId') ?? '';
        const out = moto.consoleOutput(id);
        if (out !== undefined) return send(res, 200, consoleXml(id, out));
      }
      const answer = await forward(motoPort, req, body);
      if (attempt && answer.status === 200) {
        const ids = findAll(answer.tree(), 'instanceId').map((n) => n.text.trim());
        attempt.instanceIds = ids;
        const name = params.get('IamInstanceProfile.Name') ?? undefined;
        const arn = params.get('IamInstanceProfile.Arn') ?? undefined;
        if (name || arn) for (const id of ids) moto.instanceProfiles.set(id, { name, arn });
      }
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    } catch (e) {
      if (!res.headersSent) send(res, 500, errorXml('InternalError', `moto proxy: ${(e as Error).message}`));
      else res.destroy();
    }
  };
  const main = await listen(handler, '127.0.0.1', 0);
  servers.push(main);
  moto.port = (main.address() as AddressInfo).port;
  moto.endpoint = `http://127.0.0.1:${moto.port}`;
  moto.env = {
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  return moto;
}

async function forward(port: number, req: http.IncomingMessage, body: Buffer) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; tree: () => XmlNode }>(
    (resolve, reject) => {
      const headers = { ...req.headers, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      const out = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const b = Buffer.concat(chunks);
          const h = { ...res.headers };
          delete h['transfer-encoding'];
          h['content-length'] = String(b.length);
          resolve({ status: res.statusCode ?? 500, headers: h, body: b, tree: () => parseXml(b.toString()) });
        });
      });
      out.on('error', reject);
      out.end(body);
    },
  );
}

function send(res: http.ServerResponse, status: number, xml: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) });
  res.end(xml);
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${esc(code)}</Code><Message>${esc(message)}</Message></Error></Errors><RequestID>${crypto.randomUUID()}</RequestID></Response>`;
}

function consoleXml(instanceId: string, output: string): string {
  // Like EC2: the last 64 KB, base64.
  const tail = Buffer.from(output).subarray(-64 * 1024).toString('base64');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<GetConsoleOutputResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${crypto.randomUUID()}</requestId><instanceId>${esc(instanceId)}</instanceId><timestamp>${new Date().toISOString()}</timestamp><output>${tail}</output></GetConsoleOutputResponse>`;
}

function listen(handler: http.RequestListener, host: string, port: number): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const server = http.createServer(handler);
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

export async function freePort(): Promise<number> {
  const s = await listen(() => undefined, '127.0.0.1', 0);
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitReady(endpoint: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto: the server exited (${child.exitCode}) before it was ready:\n${stderr()}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`moto: not ready after 30 s:\n${stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

