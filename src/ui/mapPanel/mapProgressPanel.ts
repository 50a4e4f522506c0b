// The map progress panel's host: a webview panel showing one map job (its front end is
// webview-ui/, built to dist/webview/). It keeps the job's MapState itself, folding the engine's
// events as they come, and sends the page a snapshot whenever the page (re)loads — the panel
// doesn't retain its page while hidden, so that snapshot is what brings it back — and the events
// since, batched, at most one message every FLUSH_INTERVAL_MS however fast tasks finish.
import * as vscode from 'vscode';
import { emptyMapState, MapEvent, MapState, reduceMap } from '../../core/mapProgress';
import { makeNonce, panelHtml, WEBVIEW_DIST } from './panelHtml';
import type { HostToPanel, PanelToHost } from './protocol';

export interface MapProgressHandlers {
  /** The user pressed Cancel (only forwarded while the job runs). */
  onCancel(): void;
  /** The user clicked a worker's row. */
  onOpenWorkerLog(workerId: string): void;
}

export const FLUSH_INTERVAL_MS = 250;

export class MapProgressPanel implements vscode.Disposable {
  static readonly viewType = 'meadowrun.mapProgress';

  private readonly mapState: MapState = emptyMapState();
  private pending: MapEvent[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private lastFlush = 0;
  /** The page has said it is ready and has not been torn down since. */
  private ready = false;
  private disposed = false;
  private readonly disposeEmitter = new vscode.EventEmitter<void>();
  private readonly subscriptions: vscode.Disposable[] = [];
  /** Fires once, when the panel is closed (by the user or dispose()). */
  readonly onDidDispose = this.disposeEmitter.event;

  /** Opens a panel beside the active editor (or in the active column when there is none). */
  static open(extensionUri: vscode.Uri, title: string, handlers: MapProgressHandlers): MapProgressPanel {
    const root = vscode.Uri.joinPath(extensionUri, ...WEBVIEW_DIST);
    const panel = vscode.window.createWebviewPanel(
      MapProgressPanel.viewType,
      title,
      { viewColumn: vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active, preserveFocus: true },
      { enableScripts: true, localResourceRoots: [root], retainContextWhenHidden: false },
    );
    return new MapProgressPanel(panel, root, title, handlers);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    root: vscode.Uri,
    title: string,
    private readonly handlers: MapProgressHandlers,
  ) {
    const webview = panel.webview;
    const uri = (file: string) => webview.asWebviewUri(vscode.Uri.joinPath(root, file)).toString();
    webview.html = panelHtml({
      cspSource: webview.cspSource,
      scriptUri: uri('mapPanel.js'),
      styleUri: uri('mapPanel.css'),
      codiconUri: uri('codicon.css'),
      nonce: makeNonce(),
      title,
    });
    this.subscriptions.push(
      webview.onDidReceiveMessage((msg: PanelToHost) => this.onMessage(msg)),
      // Hidden, the page is gone: nothing to send until it is back and says 'ready'.
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.notReady();
      }),
      panel.onDidDispose(() => this.onDisposed()),
    );
  }

  /** The job's state so far (every event pushed, folded). */
  get state(): Readonly<MapState> {
    return this.mapState;
  }

  get visible(): boolean {
    return !this.disposed && this.panel.visible;
  }

  /**
   * Folds an event into the state and queues it for the page. Events are kept by reference until
   * sent (up to FLUSH_INTERVAL_MS): don't mutate one after pushing it.
   */
  push(event: MapEvent): void {
    reduceMap(this.mapState, event);
    if (this.disposed || !this.ready) return; // the snapshot on 'ready' will carry it
    this.pending.push(event);
    this.scheduleFlush();
  }

  reveal(): void {
    if (!this.disposed) this.panel.reveal(undefined, false);
  }

  dispose(): void {
    if (!this.disposed) this.panel.dispose(); // → onDisposed
  }

  private onMessage(msg: PanelToHost): void {
    if (this.disposed || !msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'ready':
        // A fresh page: the whole state, then events from here on.
        this.notReady();
        this.ready = true;
        this.post({ type: 'snapshot', state: this.mapState });
        return;
      case 'cancel':
        if (this.mapState.status === 'running') this.call(() => this.handlers.onCancel());
        return;
      case 'openWorkerLog':
        if (typeof msg.workerId === 'string') this.call(() => this.handlers.onOpenWorkerLog(msg.workerId));
        return;
    }
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    const wait = Math.max(0, this.lastFlush + FLUSH_INTERVAL_MS - Date.now());
    this.flushTimer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.flushTimer = undefined;
    if (this.disposed || !this.ready || this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    this.lastFlush = Date.now();
    this.post({ type: 'events', events });
  }

  private notReady(): void {
    this.ready = false;
    this.pending = [];
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  private post(msg: HostToPanel): void {
    // postMessage serializes at once, so the state may go on changing afterwards. It resolves
    // false (or rejects) when the page is gone; the next 'ready' resends everything anyway.
    this.panel.webview.postMessage(msg).then(undefined, () => undefined);
  }

  private call(handler: () => void): void {
    try {
      handler();
    } catch (err) {
      void vscode.window.showErrorMessage(`Meadowrun: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private onDisposed(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.notReady();
    for (const s of this.subscriptions.splice(0)) s.dispose();
    this.disposeEmitter.fire();
    this.disposeEmitter.dispose();
  }
}
