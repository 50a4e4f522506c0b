// The map progress panel's front end (a VS Code webview). The host (src/ui/mapPanel/
// mapProgressPanel.ts) sends a snapshot of the MapState when the page says it is ready, then
// batches of MapEvents, which are folded here with the same reduceMap the host uses. The state is
// kept with the webview's setState, so a panel hidden and shown again (its page is recreated)
// shows the last state at once, before the host's fresh snapshot arrives.
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import { emptyMapState, MapEvent, MapState, reduceMap } from '../../src/core/mapProgress';
import type { HostToPanel } from '../../src/ui/mapPanel/protocol';
import { onThemeChange } from './theme';
import { PanelView } from './view';
import './vscodeApi';

interface Saved {
  v: 1;
  state: MapState;
  clockOffset?: number;
}

/** setState copies the whole state (10,000 tasks is ~20 kB of JSON): not more often than this. */
const SAVE_INTERVAL_MS = 1000;
/** After Cancel, the button waits this long for the job to end before it can be pressed again. */
const CANCEL_PENDING_MS = 5000;

const vscode = acquireVsCodeApi<Saved>();
const saved = vscode.getState();
let state: MapState = saved?.v === 1 && saved.state ? saved.state : emptyMapState();
// Host time minus this page's clock. The engine stamps events with its clock, which may be another
// machine's (remote extension host) — or a recording's; an event can't be from the future, so the
// largest `at - Date.now()` seen is the best estimate.
let clockOffset: number | undefined = saved?.clockOffset;
let cancelRequestedAt: number | undefined;

const hostNow = () => Date.now() + (clockOffset ?? 0);

function observeHostTime(at: number | undefined): void {
  if (at === undefined || !Number.isFinite(at) || at <= 0) return;
  const estimate = at - Date.now();
  if (clockOffset === undefined || estimate > clockOffset) clockOffset = estimate;
}

function cancelPending(): boolean {
  return cancelRequestedAt !== undefined && Date.now() - cancelRequestedAt < CANCEL_PENDING_MS;
}

// Rendering: at most once per animation frame, however many messages arrive.
let frame = 0;
let renders = 0;
function scheduleRender(): void {
  if (!frame) frame = requestAnimationFrame(render);
}
function render(): void {
  frame = 0;
  const t0 = performance.now();
  view.render(hostNow(), cancelPending());
  // For the browser test (and anyone curious): how long the last frame's work took.
  document.body.dataset.renderMs = (performance.now() - t0).toFixed(2);
  document.body.dataset.renders = String(++renders);
}

// Persistence, throttled; at once when the job ends.
let saveTimer: ReturnType<typeof setTimeout> | undefined;
let lastSave = 0;
function save(): void {
  clearTimeout(saveTimer);
  saveTimer = undefined;
  lastSave = Date.now();
  vscode.setState({ v: 1, state, clockOffset });
}
function scheduleSave(): void {
  if (state.status !== 'running') save();
  else saveTimer ??= setTimeout(save, Math.max(0, SAVE_INTERVAL_MS - (Date.now() - lastSave)));
}

const view = new PanelView(
  document.getElementById('app') ?? document.body,
  () => state,
  {
    cancel() {
      if (state.status !== 'running' || cancelPending()) return;
      cancelRequestedAt = Date.now();
      vscode.postMessage({ type: 'cancel' });
      scheduleRender();
      setTimeout(scheduleRender, CANCEL_PENDING_MS + 50);
    },
    openWorkerLog(workerId) {
      vscode.postMessage({ type: 'openWorkerLog', workerId });
    },
  },
  scheduleRender,
);

function apply(event: MapEvent): void {
  reduceMap(state, event);
  observeHostTime(event.at);
  if (event.kind === 'tasks') view.markTasks(event.updates.map((u) => u.task));
  else if (event.kind === 'started') view.reset();
}

window.addEventListener('message', (e: MessageEvent<HostToPanel>) => {
  const msg = e.data;
  if (!msg || typeof msg !== 'object') return;
  if (msg.type === 'snapshot') {
    state = msg.state;
    // Without events yet, the snapshot's own times are a lower bound of the host's clock.
    const lastSecond = state.throughput[state.throughput.length - 1]?.second ?? 0;
    if (state.startedAt) observeHostTime(state.finishedAt ?? state.startedAt + lastSecond * 1000);
    view.reset();
  } else if (msg.type === 'events') {
    for (const event of msg.events) apply(event);
  } else {
    return;
  }
  if (state.status !== 'running') cancelRequestedAt = undefined;
  scheduleRender();
  scheduleSave();
});

// The clock (elapsed, ETA, the chart's time axis) moves on its own while the job runs.
setInterval(() => {
  if (state.status === 'running' && state.startedAt) scheduleRender();
}, 1000);

onThemeChange(() => view.themeChanged());
scheduleRender();
vscode.postMessage({ type: 'ready' });
