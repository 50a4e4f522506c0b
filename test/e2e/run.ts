// The harness of the UI tests: packages the extension as a .vsix, installs it into a fresh
// code-server (a real VS Code served over HTTP), serves a copy of the sample workspace with a
// fresh local cloud, and opens the workbench in headless Chromium — a normal session, as a user
// would have it, with the packaged build rather than the development folder.
// The tests themselves are in workbench.e2e.ts.
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { BrowserContext, chromium, Page } from 'playwright-core';
import { ensureExtensionBuilt } from '../vscode/runTests';

const root = path.resolve(__dirname, '../..');
const codeServerEntry = path.join(root, '.tools/code-server/node_modules/code-server/out/node/entry.js');
export const vsixPath = path.join(root, 'dist/meadowrun.vsix');
export const screenshotDir = path.join(root, 'test-output/screenshots');

// Flags that keep headless Chromium offline and quiet on this kind of machine.
export const chromiumArgs = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export interface Workbench {
  page: Page;
  url: string;
  workspace: string;
  localDir: string;
  /** Closes the browser, stops code-server and every local instance, removes the temp folder. */
  close(): Promise<void>;
}

let packaged = false;
/** Builds the extension when stale and packages it, once per test process; returns the .vsix size in MB. */
export function packageExtension(): number {
  if (!packaged) {
    ensureExtensionBuilt();
    execFileSync('npx', ['vsce', 'package', '--no-dependencies', '-o', vsixPath], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    packaged = true;
  }
  return fs.statSync(vsixPath).size / 1024 / 1024;
}

function codeServerArgs(temp: string): string[] {
  return [
    codeServerEntry,
    // Its own config file, or code-server writes a default one under ~/.config.
    '--config', path.join(temp, 'config.yaml'),
    '--user-data-dir', path.join(temp, 'user-data'),
    '--extensions-dir', path.join(temp, 'extensions'),
  ];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealthz(url: string, codeServer: ChildProcess, output: string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (codeServer.exitCode !== null) throw new Error(`code-server exited with ${codeServer.exitCode}:\n${output.join('')}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`code-server did not answer /healthz within 60 s:\n${output.join('')}`);
}

function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // The group is gone.
  }
}

// SIGTERM first so code-server can stop its extension host; SIGKILL whatever is left after 3 s.
async function killGroup(pid: number): Promise<void> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  signalGroup(pid, 'SIGTERM');
  for (const deadline = Date.now() + 3000; Date.now() < deadline; await sleep(100)) {
    if (!signalGroup(pid, 0)) return;
  }
  signalGroup(pid, 'SIGKILL');
  for (let i = 0; i < 20 && signalGroup(pid, 0); i++) await sleep(100);
}

/**
 * `settings`: user settings beyond the harness's own, as a user would have written them; `env`:
 * more environment for code-server and its extension host (an emulated AWS's endpoint, say).
 */
export async function startWorkbench(o: { settings?: Record<string, unknown>; env?: Record<string, string> } = {}): Promise<Workbench> {
  if (!fs.existsSync(codeServerEntry)) throw new Error('code-server is not installed: run bash scripts/install-code-server.sh');
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-e2e-'));
  const workspace = path.join(temp, 'workspace');
  const localDir = path.join(temp, 'local-cloud');
  fs.cpSync(path.join(root, 'test/vscode/workspace'), workspace, { recursive: true });
  fs.mkdirSync(localDir);
  fs.mkdirSync(path.join(temp, 'user-data/User'), { recursive: true });
  fs.mkdirSync(path.join(temp, 'extensions'));
  fs.writeFileSync(path.join(temp, 'user-data/User/settings.json'), JSON.stringify({ 'workbench.startupEditor': 'none', ...o.settings }));
  fs.writeFileSync(path.join(temp, 'config.yaml'), 'auth: none\n');

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MEADOWRUN_LOCAL_DIR: localDir,
    // No extension gallery: offline, its queries only fail and clutter the log.
    EXTENSIONS_GALLERY: '{}',
    // Never a request to the instance metadata service from this machine (an AWS SDK in the extension host).
    AWS_EC2_METADATA_DISABLED: 'true',
    ...o.env,
  };
  // Set in a VS Code terminal; code-server would then open the folder in that VS Code instead.
  delete env.VSCODE_IPC_HOOK_CLI;
  execFileSync(process.execPath, [...codeServerArgs(temp), '--install-extension', vsixPath], { env, stdio: ['ignore', 'ignore', 'inherit'] });

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // detached: code-server gets its own process group, so one kill reaches its extension host too.
  const codeServer = spawn(process.execPath, [
    ...codeServerArgs(temp), '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none',
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', workspace,
  ], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  codeServer.stdout!.on('data', (d) => output.push(String(d)));
  codeServer.stderr!.on('data', (d) => output.push(String(d)));

  // Instances the test started are sshd daemons that outlive VS Code: stop them.
  const localDown = () => {
    try {
      execFileSync(process.execPath, [path.join(root, 'dist/cli.js'), '--state-dir', localDir, 'local', 'down'], { stdio: 'inherit' });
      return true;
    } catch (err) {
      console.error(`e2e: local down failed (${(err as Error).message}); state kept in ${localDir}`);
      return false;
    }
  };
  // Last resort when the test process exits without close() (e.g. Ctrl+C, which Playwright turns
  // into an exit after closing the browser): never leave code-server or instances behind.
  const onExit = () => {
    signalGroup(codeServer.pid!, 'SIGKILL');
    localDown();
  };
  process.on('exit', onExit);

  let browser: BrowserContext | undefined;
  const close = async () => {
    process.off('exit', onExit);
    await browser?.close().catch(() => undefined);
    await killGroup(codeServer.pid!);
    if (localDown()) fs.rmSync(temp, { recursive: true, force: true, maxRetries: 3 });
  };
  try {
    await waitForHealthz(url, codeServer, output);
    browser = await chromium.launchPersistentContext(path.join(temp, 'chromium'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: chromiumArgs,
      viewport: { width: 1400, height: 900 },
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(`${url}/?${new URLSearchParams({ folder: workspace })}`);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    return { page, url, workspace, localDir, close };
  } catch (err) {
    await close();
    throw err;
  }
}

// `node --import tsx test/e2e/run.ts` runs the UI tests on their own, with the usual closing line.
if (require.main === module) {
  const child = spawn(process.execPath, [path.join(root, 'scripts/run-tests.mjs'), 'test/e2e/workbench.e2e.ts'], { cwd: root, stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 1));
}
