// What VS Code gives a webview's scripts: acquireVsCodeApi(), callable once per page load.
import type { PanelToHost } from '../../src/ui/mapPanel/protocol';

export interface WebviewApi<S> {
  postMessage(message: PanelToHost): void;
  getState(): S | undefined;
  setState(state: S): S;
}

declare global {
  function acquireVsCodeApi<S = unknown>(): WebviewApi<S>;
}
