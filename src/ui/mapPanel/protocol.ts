// The messages between the map progress panel's host (MapProgressPanel) and its webview
// (webview-ui/). One module, imported by both sides, so they can't disagree. Must not import
// 'vscode': the webview bundle includes it.
import type { MapEvent, MapState } from '../../core/mapProgress';

export type HostToPanel =
  /** The whole state: on open, and whenever the panel was recreated after being hidden. */
  | { type: 'snapshot'; state: MapState }
  /** Events since the last message, batched (a few per second at most, however many tasks). */
  | { type: 'events'; events: MapEvent[] };

export type PanelToHost =
  | { type: 'ready' }
  | { type: 'cancel' }
  | { type: 'openWorkerLog'; workerId: string };
