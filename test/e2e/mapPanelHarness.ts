// Harness of the map progress panel's browser test (mapPanel.e2e.ts): the real host class
// (MapProgressPanel) and the real built front end (dist/webview/) talking to each other, with a
// fake 'vscode' module just big enough for the host and a headless Chromium page standing in for
// the webview. The page is exactly the HTML the host produced (same CSP), served with its
// resources over loopback HTTP; a stub acquireVsCodeApi carries messages both ways and keeps
// setState/getState in sessionStorage, so a page torn down and reloaded (a panel hidden and shown)
// finds its state again, as in VS Code.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import type { HostToPanel, PanelToHost } from '../../src/ui/mapPanel/protocol';
import { chromiumArgs } from './run';

export const root = path.resolve(__dirname, '../..');
const webviewDir = path.join(root, 'dist/webview');

// ---------------------------------------------------------------------------------------------
// Build

/** Builds the panel's bundle (webpack config "webview") when a source is newer than it. */
export function ensureWebviewBuilt(): void {
  const outputs = ['mapPanel.js', 'mapPanel.css', 'codicon.css', 'codicon.ttf'].map((f) => path.join(webviewDir, f));
  const built = Math.min(...outputs.map((f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : 0)));
  const newest = (p: string): number => {
    const st = fs.statSync(p);
    return st.isDirectory() ? Math.max(0, ...fs.readdirSync(p).map((e) => newest(path.join(p, e)))) : st.mtimeMs;
  };
  const sources = ['webview-ui/src', 'src/core/mapProgress.ts', 'src/ui/mapPanel/protocol.ts', 'webpack.config.js'];
  if (Math.max(...sources.map((s) => newest(path.join(root, s)))) > built) {
    console.log('map panel test: building the webview bundle (webpack --config-name webview)');
    execFileSync('npx', ['webpack', '--mode', 'production', '--config-name', 'webview'], { cwd: root, stdio: 'inherit' });
  }
}

// ---------------------------------------------------------------------------------------------
// A fake 'vscode': Uri, EventEmitter, ViewColumn, window.createWebviewPanel / showErrorMessage.

class FakeUri {
  constructor(readonly path: string) {}
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return this.path;
  }
  static file(p: string): FakeUri {
    return new FakeUri(p);
  }
  static joinPath(base: FakeUri, ...segments: string[]): FakeUri {
    return new FakeUri(path.join(base.path, ...segments));
  }
}

type Listener<T> = (value: T) => unknown;

class FakeEventEmitter<T> {
  private listeners = new Set<Listener<T>>();
  readonly event = (listener: Listener<T>) => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };
  fire(value: T): void {
    for (const l of [...this.listeners]) l(value);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export interface SentMessage {
  at: number;
  msg: HostToPanel;
}

/** The webview panel: its page is a Chromium page, (re)loaded when shown, blanked when hidden. */
export class FakeWebviewPanel {
  visible = false;
  disposed = false;
  /** Everything the host posted (also while hidden), serialized as VS Code does, when posted. */
  readonly sent: SentMessage[] = [];
  /** While true, messages to the page wait (to look at the page before the host's answer). */
  holding = false;
  private held: string[] = [];
  private page: Page | undefined;
  private delivery: Promise<unknown> = Promise.resolve();
  private readonly received = new FakeEventEmitter<PanelToHost>();
  private readonly viewState = new FakeEventEmitter<unknown>();
  private readonly disposedEmitter = new FakeEventEmitter<void>();
  readonly onDidChangeViewState = this.viewState.event;
  readonly onDidDispose = this.disposedEmitter.event;
  revealed = 0;

  readonly webview = {
    html: '',
    cspSource: '',
    asWebviewUri: (uri: FakeUri) => new FakeUri(`${this.origin}/${path.relative(root, uri.path).split(path.sep).join('/')}`),
    postMessage: (msg: HostToPanel): Promise<boolean> => {
      // When it was posted, before serializing: a big batch's stringify under load took the
      // recorded time several ms past the flush the next one is timed from.
      const at = Date.now();
      const json = JSON.stringify(msg);
      this.sent.push({ at, msg: JSON.parse(json) });
      if (!this.visible || this.disposed) return Promise.resolve(false);
      if (this.holding) this.held.push(json);
      else this.deliver(json);
      return Promise.resolve(true);
    },
    onDidReceiveMessage: this.received.event,
  };

  constructor(
    readonly viewType: string,
    readonly title: string,
    readonly showOptions: unknown,
    readonly options: { enableScripts?: boolean; localResourceRoots?: FakeUri[]; retainContextWhenHidden?: boolean },
    private readonly origin: string,
  ) {
    this.webview.cspSource = origin;
  }

  /** Called by the page's acquireVsCodeApi().postMessage. */
  fromPage(msg: PanelToHost): void {
    if (this.visible && !this.disposed) this.received.fire(msg);
  }

  /** Shows the panel: a fresh page loads the host's HTML. */
  async show(page: Page): Promise<void> {
    this.page = page;
    this.visible = true;
    this.viewState.fire({ webviewPanel: this });
    await page.goto(`${this.origin}/`);
  }

  /** Hides it: without retainContextWhenHidden, VS Code tears the page down. */
  async hide(): Promise<void> {
    this.visible = false;
    this.viewState.fire({ webviewPanel: this });
    await this.settled();
    await this.page?.goto('about:blank');
  }

  release(): void {
    this.holding = false;
    for (const json of this.held.splice(0)) this.deliver(json);
  }

  /** Resolves when every message posted so far has reached the page. */
  settled(): Promise<unknown> {
    return this.delivery;
  }

  reveal(): void {
    this.revealed++;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.visible = false;
    this.disposedEmitter.fire();
  }

  /** The HTML, for the server. */
  get html(): string {
    return this.webview.html;
  }

  private deliver(json: string): void {
    const page = this.page;
    if (!page) return;
    this.delivery = this.delivery.then(() =>
      page.evaluate((m) => (globalThis as unknown as { postMessage(m: unknown, o: string): void }).postMessage(JSON.parse(m), '*'), json).catch(() => undefined),
    );
  }
}

export interface FakeVscode {
  panels: FakeWebviewPanel[];
  errors: string[];
  origin: string;
}

let installed: FakeVscode | undefined;

/** Installs the fake as the module 'vscode' (once per process). */
export function installFakeVscode(origin: string): FakeVscode {
  if (installed) {
    installed.origin = origin;
    return installed;
  }
  const state: FakeVscode = { panels: [], errors: [], origin };
  const fake = {
    Uri: FakeUri,
    EventEmitter: FakeEventEmitter,
    ViewColumn: { Active: -1, Beside: -2, One: 1, Two: 2 },
    window: {
      activeTextEditor: undefined,
      createWebviewPanel(viewType: string, title: string, showOptions: unknown, options: FakeWebviewPanel['options']) {
        const panel = new FakeWebviewPanel(viewType, title, showOptions, options, state.origin);
        state.panels.push(panel);
        return panel;
      },
      showErrorMessage(message: string) {
        state.errors.push(message);
        return Promise.resolve(undefined);
      },
    },
  };
  const Module = require('node:module') as { _resolveFilename(request: string, ...rest: unknown[]): string };
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
    return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
  };
  require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: fake } as unknown as NodeModule;
  installed = state;
  return state;
}

// ---------------------------------------------------------------------------------------------
// The server: the current panel's HTML at /, and files under its localResourceRoots.

export interface PanelServer {
  origin: string;
  /** The panel whose HTML / serves. */
  panel: FakeWebviewPanel | undefined;
  /** Requests that got a 404 (resources outside localResourceRoots, typos). */
  notFound: string[];
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.ttf': 'font/ttf',
};

export async function startServer(): Promise<PanelServer> {
  const s: PanelServer = { origin: '', panel: undefined, notFound: [], close: async () => undefined };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', s.origin);
    const panel = s.panel;
    if (url.pathname === '/' && panel) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(panel.html);
      return;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end(); // Chromium asks; a webview never does
      return;
    }
    const file = path.join(root, decodeURIComponent(url.pathname));
    const allowed = (panel?.options.localResourceRoots ?? []).some((r) => file.startsWith(r.path + path.sep));
    if (!allowed || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      s.notFound.push(url.pathname);
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  s.origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  s.close = () => new Promise((resolve) => server.close(() => resolve()));
  return s;
}

// ---------------------------------------------------------------------------------------------
// The browser

// Subsets of VS Code's Dark Modern and Light Modern themes: what the panel and the components use.
const common = {
  '--vscode-font-family': 'system-ui, "Ubuntu", "Droid Sans", sans-serif',
  '--vscode-font-size': '13px',
  '--vscode-font-weight': 'normal',
  '--vscode-editor-font-family': '"Droid Sans Mono", "DejaVu Sans Mono", monospace',
  '--vscode-editor-font-size': '13px',
};
export const THEMES = {
  dark: {
    ...common,
    '--vscode-foreground': '#cccccc',
    '--vscode-descriptionForeground': '#9d9d9d',
    '--vscode-editor-background': '#1f1f1f',
    '--vscode-editor-foreground': '#cccccc',
    '--vscode-focusBorder': '#0078d4',
    '--vscode-charts-blue': '#3794ff',
    '--vscode-charts-green': '#89d185',
    '--vscode-charts-red': '#f14c4c',
    '--vscode-charts-yellow': '#cca700',
    '--vscode-button-background': '#0078d4',
    '--vscode-button-foreground': '#ffffff',
    '--vscode-button-hoverBackground': '#026ec1',
    '--vscode-button-border': '#ffffff12',
    '--vscode-button-secondaryBackground': '#313131',
    '--vscode-button-secondaryForeground': '#cccccc',
    '--vscode-button-secondaryHoverBackground': '#3c3c3c',
    '--vscode-badge-background': '#616161',
    '--vscode-badge-foreground': '#f8f8f8',
    '--vscode-list-hoverBackground': '#2a2d2e',
    '--vscode-editorHoverWidget-background': '#202020',
    '--vscode-editorHoverWidget-border': '#454545',
    '--vscode-editorHoverWidget-foreground': '#cccccc',
    '--vscode-widget-shadow': '#0000005c',
    '--vscode-textCodeBlock-background': '#2b2b2b',
    '--vscode-sideBar-background': '#181818',
    '--vscode-sideBarSectionHeader-background': '#181818',
    '--vscode-sideBarTitle-foreground': '#cccccc',
    '--vscode-icon-foreground': '#cccccc',
    '--vscode-progressBar-background': '#0078d4',
  },
  light: {
    ...common,
    '--vscode-foreground': '#3b3b3b',
    '--vscode-descriptionForeground': '#717171',
    '--vscode-editor-background': '#ffffff',
    '--vscode-editor-foreground': '#3b3b3b',
    '--vscode-focusBorder': '#005fb8',
    '--vscode-charts-blue': '#1a85ff',
    '--vscode-charts-green': '#388a34',
    '--vscode-charts-red': '#e51400',
    '--vscode-charts-yellow': '#bf8803',
    '--vscode-button-background': '#005fb8',
    '--vscode-button-foreground': '#ffffff',
    '--vscode-button-hoverBackground': '#0258a8',
    '--vscode-button-border': '#0000001a',
    '--vscode-button-secondaryBackground': '#e5e5e5',
    '--vscode-button-secondaryForeground': '#3b3b3b',
    '--vscode-button-secondaryHoverBackground': '#cccccc',
    '--vscode-badge-background': '#cccccc',
    '--vscode-badge-foreground': '#3b3b3b',
    '--vscode-list-hoverBackground': '#f2f2f2',
    '--vscode-editorHoverWidget-background': '#f8f8f8',
    '--vscode-editorHoverWidget-border': '#c8c8c8',
    '--vscode-editorHoverWidget-foreground': '#3b3b3b',
    '--vscode-widget-shadow': '#00000029',
    '--vscode-textCodeBlock-background': '#f3f3f3',
    '--vscode-sideBar-background': '#f8f8f8',
    '--vscode-sideBarSectionHeader-background': '#f8f8f8',
    '--vscode-sideBarTitle-foreground': '#3b3b3b',
    '--vscode-icon-foreground': '#3b3b3b',
    '--vscode-progressBar-background': '#005fb8',
  },
};
export type ThemeName = keyof typeof THEMES;

// Runs in the page before its scripts: the stub webview API, VS Code's theme variables (sessionStorage
// '__theme', dark by default) and a record of CSP violations.
const INIT_SCRIPT = `(() => {
  if (location.protocol !== 'http:') return; // about:blank, while the panel is hidden
  const themes = ${JSON.stringify(THEMES)};
  window.__posted = [];
  window.__csp = [];
  window.__setStates = 0;
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('An instance of the VS Code API has already been acquired');
    acquired = true;
    return Object.freeze({
      postMessage(msg) {
        const copy = JSON.parse(JSON.stringify(msg));
        window.__posted.push(copy);
        window.__toHost(copy);
      },
      getState() {
        const s = sessionStorage.getItem('__vscodeState');
        return s ? JSON.parse(s) : undefined;
      },
      setState(state) {
        sessionStorage.setItem('__vscodeState', JSON.stringify(state));
        window.__setStates++;
        return state;
      },
    });
  };
  window.__applyTheme = (name) => {
    sessionStorage.setItem('__theme', name);
    const vars = themes[name];
    for (const [k, v] of Object.entries(vars)) document.documentElement.style.setProperty(k, v);
    const apply = () => { document.body.className = name === 'dark' ? 'vscode-dark' : 'vscode-light'; };
    if (document.body) apply(); else document.addEventListener('DOMContentLoaded', apply, { once: true });
  };
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
  const theme = sessionStorage.getItem('__theme') || 'dark';
  if (document.documentElement) window.__applyTheme(theme);
  else new MutationObserver((_, o) => { if (document.documentElement) { o.disconnect(); window.__applyTheme(theme); } }).observe(document, { childList: true });
})();`;

export interface Browse {
  browser: Browser;
  page: Page;
  /** Console errors, page errors and failed requests. */
  problems: string[];
  /** Points the page's acquireVsCodeApi at a panel. */
  connect(panel: FakeWebviewPanel): void;
  close(): Promise<void>;
}

export async function openBrowser(viewport = { width: 1100, height: 900 }): Promise<Browse> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: chromiumArgs });
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, locale: 'en-US' });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  let target: FakeWebviewPanel | undefined;
  await page.exposeBinding('__toHost', (_source, msg: PanelToHost) => target?.fromPage(msg));
  await page.addInitScript({ content: INIT_SCRIPT });
  return {
    browser,
    page,
    problems,
    connect(panel) {
      target = panel;
    },
    close: () => browser.close(),
  };
}

export async function setTheme(page: Page, theme: ThemeName): Promise<void> {
  await page.evaluate((t) => (globalThis as unknown as { __applyTheme(t: string): void }).__applyTheme(t), theme);
}

/** What the page has posted to the host (the stub's record). */
export function postedByPage(page: Page): Promise<PanelToHost[]> {
  return page.evaluate(() => (globalThis as unknown as { __posted: PanelToHost[] }).__posted);
}

export function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (globalThis as unknown as { __csp: string[] }).__csp);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}
