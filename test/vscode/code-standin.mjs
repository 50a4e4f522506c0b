#!/usr/bin/env node
// A stand-in "VS Code executable" for @vscode/test-electron's runTests (vscodeExecutablePath).
// No VS Code desktop build can be downloaded here, so this runs the extension tests in code-server
// (a real VS Code served over HTTP) instead: it starts code-server on a free loopback port, opens
// the web workbench in headless Chromium with the test run described in the `payload` query
// parameter (code-server rejects --extensionDevelopmentPath and friends on its command line), and
// exits with the test run's exit code, which the workbench reports through codeAutomationExit.
//
// Env: MEADOWRUN_VSCODE_TIMEOUT_MS (default 600000) bounds the whole run;
//      MEADOWRUN_VSCODE_VERBOSE=1 also prints code-server's and the browser console's output.
// Every other variable reaches the extension host, because code-server passes its env on.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const codeServerEntry = path.join(root, '.tools/code-server/node_modules/code-server/out/node/entry.js');
const timeoutMs = Number(process.env.MEADOWRUN_VSCODE_TIMEOUT_MS || 600_000);
const verbose = process.env.MEADOWRUN_VSCODE_VERBOSE === '1';

// Chromium flags that keep a headless run offline and quiet on this kind of machine.
const chromiumArgs = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// The workbench's own start-up log lines, which arrive through codeAutomationLog along with the
// test run's console output; only printed with MEADOWRUN_VSCODE_VERBOSE=1.
const workbenchChatter = new RegExp([
  '^Resolv(ing|ed) connection token', '^Creating a socket', '^\\[Service Worker\\]', '^ChatSessionStore:',
  'additional builtin extensions',
].join('|'));

function log(message) {
  console.log(`[code-standin] ${message}`);
}

// The VS Code CLI arguments runTests passes. Only the test run's paths and the folder matter; the
// rest (--no-sandbox, --disable-extensions, --user-data-dir, ...) is ignored because every run
// gets a fresh profile and extensions folder anyway.
function parseArgs(argv) {
  const parsed = { developmentPaths: [], testsPath: undefined, folder: undefined, ignored: [] };
  const takesValue = new Set(['--user-data-dir', '--extensions-dir', '--locale', '--log']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--extensionDevelopmentPath') parsed.developmentPaths.push(path.resolve(inline ?? argv[++i]));
    else if (flag === '--extensionTestsPath') parsed.testsPath = path.resolve(inline ?? argv[++i]);
    else if (flag.startsWith('-')) {
      if (inline === undefined && takesValue.has(flag)) i++;
      parsed.ignored.push(flag);
    } else parsed.folder = path.resolve(arg);
  }
  return parsed;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealthz(url, codeServer) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (codeServer.exitCode !== null) throw new Error(`code-server exited with ${codeServer.exitCode}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('code-server did not answer /healthz within 60 s');
}

function remoteUri(port, absPath) {
  return `vscode-remote://127.0.0.1:${port}${absPath.split(path.sep).map(encodeURIComponent).join('/')}`;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(codeServerEntry)) {
    log('code-server is not installed: run bash scripts/install-code-server.sh');
    process.exit(1);
  }
  if (args.developmentPaths.length > 1) log('only one --extensionDevelopmentPath is supported; using the last');
  if (args.ignored.length) log(`ignoring ${[...new Set(args.ignored)].join(' ')}`);

  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-code-standin-'));
  const userDataDir = path.join(temp, 'user-data');
  const extensionsDir = path.join(temp, 'extensions');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });
  fs.writeFileSync(path.join(userDataDir, 'User/settings.json'), JSON.stringify({ 'workbench.startupEditor': 'none' }));
  // Without its own config file code-server writes a default one under ~/.config.
  fs.writeFileSync(path.join(temp, 'config.yaml'), 'auth: none\n');

  let codeServer;
  let browser;
  let cleanedUp = false;
  const cleanup = async () => {
    if (cleanedUp) return;
    cleanedUp = true;
    await browser?.close().catch(() => {});
    if (codeServer?.pid) await killGroup(codeServer);
    codeServer = undefined; // so the exit hook below does not signal a process group id now reused
    try {
      fs.rmSync(temp, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      log(`could not remove ${temp}: ${err.message}`);
    }
  };
  // Last resort when the process exits some other way: never leave a code-server behind.
  process.on('exit', () => {
    if (codeServer?.pid) signalGroup(codeServer.pid, 'SIGKILL');
  });
  const finish = async (code) => {
    await cleanup();
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => { log(`${signal}: stopping`); finish(1); });
  const timer = setTimeout(() => { log(`timed out after ${timeoutMs} ms`); finish(1); }, timeoutMs);

  try {
    const port = await freePort();
    const env = { ...process.env };
    // Set in a VS Code terminal; code-server would then open the folder in that VS Code instead.
    delete env.VSCODE_IPC_HOOK_CLI;
    // No extension gallery: offline, its queries only fail and clutter the log.
    env.EXTENSIONS_GALLERY = '{}';
    const folderArgs = args.folder ? [args.folder] : [];
    // detached: code-server gets its own process group, so one kill reaches its extension host too.
    codeServer = spawn(process.execPath, [
      codeServerEntry, '--config', path.join(temp, 'config.yaml'), '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none', '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
      '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, ...folderArgs,
    ], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const codeServerOutput = [];
    for (const stream of [codeServer.stdout, codeServer.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        codeServerOutput.push(chunk);
        if (verbose) process.stdout.write(chunk.replace(/^/gm, '[code-server] '));
      });
    }
    const url = `http://127.0.0.1:${port}`;
    const started = Date.now();
    try {
      await waitForHealthz(url, codeServer);
    } catch (err) {
      process.stdout.write(codeServerOutput.join(''));
      throw err;
    }
    log(`code-server ready on ${url} in ${Date.now() - started} ms`);

    const payload = [];
    const developmentPath = args.developmentPaths.at(-1);
    if (developmentPath) payload.push(['extensionDevelopmentPath', remoteUri(port, developmentPath)]);
    if (args.testsPath) payload.push(['extensionTestsPath', remoteUri(port, args.testsPath)]);
    payload.push(['skipWelcome', 'true']);
    const query = new URLSearchParams();
    if (args.folder) query.set('folder', args.folder);
    query.set('payload', JSON.stringify(payload));

    browser = await chromium.launchPersistentContext(path.join(temp, 'chromium'), {
      executablePath: '/usr/bin/chromium', headless: true, args: chromiumArgs,
      // Our own signal handlers stop code-server too; Playwright's would exit before they run.
      handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    if (verbose) page.on('console', (m) => console.log(`[browser ${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => log(`page error: ${e.message}`));

    // The workbench reports the test run's console output and, when it ends, its exit code.
    let reportExit;
    const exitCode = new Promise((resolve) => { reportExit = resolve; });
    await page.exposeFunction('codeAutomationLog', (type, message) => {
      if (type === 'error') process.stderr.write(`${message}\n`);
      else if (verbose || !workbenchChatter.test(message)) process.stdout.write(`${message}\n`);
    });
    await page.exposeFunction('codeAutomationExit', (code) => reportExit(Number(code)));
    // Otherwise a crash would only end at the overall timeout.
    codeServer.on('exit', (c, signal) => {
      if (cleanedUp) return;
      log(`code-server exited early (${c ?? signal})`);
      reportExit(1);
    });
    page.on('crash', () => { log('the browser page crashed'); reportExit(1); });
    await page.goto(`${url}/?${query}`);
    const code = await exitCode;
    clearTimeout(timer);
    log(`test run exited with ${code}`);
    await finish(code);
  } catch (err) {
    log(`error: ${err?.stack ?? err}`);
    await finish(1);
  }
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // The group is gone.
  }
}

// SIGTERM first so code-server can stop its extension host; SIGKILL whatever is left after 3 s.
async function killGroup(child) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  signalGroup(child.pid, 'SIGTERM');
  for (const deadline = Date.now() + 3000; Date.now() < deadline; await sleep(100)) {
    if (!signalGroup(child.pid, 0)) return;
  }
  log('code-server did not stop within 3 s of SIGTERM: killing it');
  signalGroup(child.pid, 'SIGKILL');
  for (let i = 0; i < 20 && signalGroup(child.pid, 0); i++) await sleep(100);
}

await main();
