// The page: built once, then updated in place by render() (called at most once per animation
// frame by main.ts). Elements carry ids and data-* attributes the browser test reads.
import { etaSeconds, mapSummary, MapState, MapSummary, WorkerState } from '../../src/core/mapProgress';
import { getById, h, icon, setHidden, setText } from './dom';
import { clock, num, plural, rate } from './format';
import { TaskGrid } from './taskGrid';
import { readPalette, Palette } from './theme';
import { ThroughputChart } from './throughputChart';
import { Tooltip } from './tooltip';

export interface ViewCallbacks {
  cancel(): void;
  openWorkerLog(workerId: string): void;
}

const COUNTERS = [
  { key: 'queued', label: 'Queued', icon: 'circle-large-outline' },
  { key: 'running', label: 'Running', icon: 'play-circle' },
  { key: 'done', label: 'Done', icon: 'pass' },
  { key: 'failed', label: 'Failed', icon: 'error' },
  { key: 'retried', label: 'Retried', icon: 'refresh' },
] as const;

const OUTCOME: Record<MapSummary['outcome'], { icon: string; spin: boolean }> = {
  running: { icon: 'sync', spin: true },
  succeeded: { icon: 'pass-filled', spin: false },
  completed: { icon: 'warning', spin: false },
  failed: { icon: 'error', spin: false },
  cancelled: { icon: 'circle-slash', spin: false },
};

/** Before the 'started' event: the job is being prepared (code synced, instances allocated). */
const STARTING = { label: 'Starting', icon: 'loading', spin: true };

const WORKER_STATE: Record<WorkerState, { icon: string; spin?: boolean }> = {
  starting: { icon: 'loading', spin: true },
  running: { icon: 'play-circle' },
  'idle-exited': { icon: 'pass' },
  stopped: { icon: 'circle-slash' },
  crashed: { icon: 'flame' },
};

interface WorkerRow {
  row: HTMLTableRowElement;
  stateIcon: HTMLElement;
  instance: HTMLElement;
  state: HTMLElement;
  current: HTMLElement;
  done: HTMLElement;
  meter: HTMLElement;
  key: string;
}

export class PanelView {
  private readonly tooltip = new Tooltip();
  private readonly grid: TaskGrid;
  private readonly chart: ThroughputChart;
  private palette: Palette | undefined;
  private readonly workerRows = new Map<string, WorkerRow>();
  private renderedFailures = 0;
  private chartKey = '';

  private readonly el: {
    title: HTMLElement;
    pill: HTMLElement;
    meta: HTMLElement;
    elapsed: HTMLElement;
    eta: HTMLElement;
    cancel: HTMLElement & { disabled: boolean };
    waiting: HTMLElement;
    main: HTMLElement;
    statusLine: HTMLElement;
    counters: Record<string, HTMLElement>;
    segments: Record<'done' | 'failed' | 'running', HTMLElement>;
    percent: HTMLElement;
    bar: HTMLElement;
    progressText: HTMLElement;
    tpSummary: HTMLElement;
    workersBadge: HTMLElement;
    workers: HTMLElement;
    failuresCard: HTMLElement;
    failuresBadge: HTMLElement;
    failures: HTMLElement;
  };

  constructor(
    root: HTMLElement,
    private readonly state: () => MapState,
    private readonly callbacks: ViewCallbacks,
    private readonly requestRender: () => void,
  ) {
    root.append(skeleton());
    const counters: Record<string, HTMLElement> = {};
    for (const c of COUNTERS) counters[c.key] = root.querySelector<HTMLElement>(`[data-counter="${c.key}"] .value`)!;
    this.el = {
      title: getById(root, 'title'),
      pill: getById(root, 'status-pill'),
      meta: getById(root, 'meta-job'),
      elapsed: getById(root, 'elapsed'),
      eta: getById(root, 'eta'),
      cancel: getById(root, 'cancel') as HTMLElement & { disabled: boolean },
      waiting: getById(root, 'waiting'),
      main: getById(root, 'main'),
      statusLine: getById(root, 'status-line'),
      counters,
      segments: {
        done: root.querySelector<HTMLElement>('.seg.done')!,
        failed: root.querySelector<HTMLElement>('.seg.failed')!,
        running: root.querySelector<HTMLElement>('.seg.running')!,
      },
      percent: getById(root, 'percent'),
      bar: getById(root, 'progress-bar'),
      progressText: getById(root, 'progress-text'),
      tpSummary: getById(root, 'throughput-summary'),
      workersBadge: getById(root, 'workers-badge'),
      workers: getById(root, 'workers'),
      failuresCard: getById(root, 'failures-card'),
      failuresBadge: getById(root, 'failures-badge'),
      failures: getById(root, 'failures'),
    };
    this.grid = new TaskGrid(getById(root, 'grid-wrap'), this.tooltip, state, requestRender);
    this.chart = new ThroughputChart(getById(root, 'chart-wrap'), this.tooltip, () => {
      this.chartKey = '';
      requestRender();
    });
    this.el.cancel.addEventListener('click', () => {
      if (!this.el.cancel.disabled) callbacks.cancel();
    });
  }

  /** A new state (snapshot): everything is redrawn. */
  reset(): void {
    this.grid.invalidate();
    this.chartKey = '';
    this.renderedFailures = 0;
    this.el.failures.replaceChildren();
  }

  markTasks(tasks: Iterable<number>): void {
    this.grid.markTasks(tasks);
  }

  themeChanged(): void {
    this.palette = undefined;
    this.grid.invalidate();
    this.chartKey = '';
    this.requestRender();
  }

  render(hostNow: number, cancelRequested: boolean): void {
    const s = this.state();
    const palette = (this.palette ??= readPalette());
    const started = s.taskCount > 0 || s.jobId !== '';
    // A map that ended before it started (it failed, or was cancelled) waits for nothing.
    setHidden(this.el.waiting, started || s.status !== 'running');
    setHidden(this.el.main, !started);
    const end = s.finishedAt ?? hostNow;
    const elapsed = started ? Math.max(0, (end - s.startedAt) / 1000) : 0;

    this.renderHeader(s, started, elapsed, hostNow, cancelRequested);
    this.renderCounters(s);
    if (started) {
      this.grid.draw(palette);
      const { average, peak } = ThroughputChart.summary(s, elapsed);
      setText(this.el.tpSummary, `avg ${rate(average)}/s · peak ${rate(peak)}/s`);
      // The chart changes with the throughput and, while running, with the clock's second.
      const last = s.throughput[s.throughput.length - 1];
      const key = `${s.throughput.length}:${last?.done}:${Math.floor(elapsed)}:${s.status}:${s.counts.done + s.counts.failed}`;
      if (key !== this.chartKey) {
        this.chartKey = key;
        this.chart.draw(s, elapsed, palette);
      }
    }
    this.renderWorkers(s);
    this.renderFailures(s);
  }

  private renderHeader(s: MapState, started: boolean, elapsed: number, hostNow: number, cancelRequested: boolean): void {
    // Before the map has started its state has no title; the host's page title has it.
    setText(this.el.title, s.title || document.title || 'Map job');
    const summary = mapSummary(s);
    const look = OUTCOME[summary.outcome];
    const pill = !started && s.status === 'running' ? STARTING : { label: summary.label, ...look };
    if (this.el.pill.dataset.label !== pill.label) {
      this.el.pill.dataset.label = pill.label;
      this.el.pill.className = `pill ${summary.outcome}`;
      this.el.pill.replaceChildren(icon(pill.icon, ...(pill.spin ? ['codicon-modifier-spin'] : [])), pill.label);
    }
    const workerCount = Object.keys(s.workers).length;
    setText(this.el.meta, [s.jobId, s.taskCount ? plural(s.taskCount, 'task') : '', workerCount ? plural(workerCount, 'worker') : ''].filter(Boolean).join(' · '));
    setText(this.el.elapsed, clock(elapsed));
    setHidden(this.el.elapsed.parentElement!, !started);
    const eta = etaSeconds(s, hostNow);
    setText(this.el.eta, s.status !== 'running' ? '—' : eta === undefined ? 'estimating…' : clock(eta));
    setHidden(this.el.eta.parentElement!, !started || s.status !== 'running');

    const running = s.status === 'running';
    const disabled = !running || cancelRequested;
    if (this.el.cancel.disabled !== disabled) this.el.cancel.disabled = disabled;
    setText(this.el.cancel, running && cancelRequested ? 'Cancelling…' : 'Cancel');

    const line = this.el.statusLine;
    setHidden(line, running);
    if (!running && line.dataset.status !== `${summary.text}:${Math.round(elapsed)}`) {
      line.dataset.status = `${summary.text}:${Math.round(elapsed)}`;
      line.dataset.outcome = summary.outcome;
      line.className = `status-line ${summary.outcome}`;
      line.replaceChildren(
        icon(look.icon),
        h('strong', {}, summary.label),
        summary.detail ? h('span', { class: 'message' }, summary.detail) : '',
        started ? h('span', { class: 'muted' }, `in ${clock(elapsed)}`) : '',
      );
    }
  }

  private renderCounters(s: MapState): void {
    for (const c of COUNTERS) setText(this.el.counters[c.key], num(s.counts[c.key]));
    const total = Math.max(1, s.taskCount);
    const pct = (n: number) => `${(n / total) * 100}%`;
    for (const key of ['done', 'failed', 'running'] as const) {
      const width = pct(s.counts[key]);
      if (this.el.segments[key].style.width !== width) this.el.segments[key].style.width = width;
    }
    const finished = s.counts.done + s.counts.failed;
    const percent = String(Math.floor((finished / total) * 100));
    setText(this.el.percent, `${percent}%`);
    if (this.el.bar.getAttribute('aria-valuenow') !== percent) this.el.bar.setAttribute('aria-valuenow', percent);
    setText(this.el.progressText, `${num(finished)} of ${num(s.taskCount)} finished`);
  }

  private renderWorkers(s: MapState): void {
    const workers = Object.values(s.workers).sort((a, b) => a.workerId.localeCompare(b.workerId, undefined, { numeric: true }));
    setText(this.el.workersBadge, num(workers.length));
    const maxDone = workers.reduce((m, w) => Math.max(m, w.tasksDone), 1);
    const seen = new Set<string>();
    let previous: Element | null = null;
    for (const w of workers) {
      seen.add(w.workerId);
      let row = this.workerRows.get(w.workerId);
      if (!row) {
        row = this.workerRow(w.workerId);
        this.workerRows.set(w.workerId, row);
      }
      // Keep the rows in order without moving the ones already in place.
      const expected: Element | null = previous ? previous.nextElementSibling : this.el.workers.firstElementChild;
      if (expected !== row.row) this.el.workers.insertBefore(row.row, expected);
      previous = row.row;
      const key = `${w.state}:${w.instanceId}:${w.currentTask}:${w.tasksDone}:${maxDone}:${w.message}`;
      if (key === row.key) continue;
      row.key = key;
      const look = WORKER_STATE[w.state] ?? WORKER_STATE.running;
      row.row.dataset.state = w.state;
      row.stateIcon.className = `codicon codicon-${look.icon}${look.spin ? ' codicon-modifier-spin' : ''} state-icon`;
      setText(row.instance, w.instanceId);
      setText(row.state, w.state);
      row.state.className = `state-pill ${w.state}`;
      if (w.message) row.state.title = w.message;
      else row.state.removeAttribute('title');
      setText(row.current, w.currentTask === undefined ? '—' : `#${num(w.currentTask)}`);
      setText(row.done, num(w.tasksDone));
      row.meter.style.width = `${(w.tasksDone / maxDone) * 100}%`;
    }
    for (const [id, row] of this.workerRows) {
      if (!seen.has(id)) {
        row.row.remove();
        this.workerRows.delete(id);
      }
    }
  }

  private workerRow(workerId: string): WorkerRow {
    const stateIcon = icon('circle');
    const instance = h('td', { class: 'instance' });
    const state = h('span', { class: 'state-pill' });
    const current = h('td', { class: 'num current' });
    const done = h('span', { class: 'done-count' });
    const meter = h('span', { class: 'meter-fill' });
    const row = h(
      'tr',
      { class: 'worker-row', tabindex: '0', 'data-worker-id': workerId, title: `Open the log of ${workerId}`, 'aria-label': `${workerId}: open its log` },
      h('td', { class: 'worker-id' }, stateIcon, h('span', {}, workerId)),
      instance,
      h('td', {}, state),
      current,
      h('td', { class: 'num' }, h('span', { class: 'done-cell' }, h('span', { class: 'meter' }, meter), done)),
      h('td', { class: 'open-log' }, icon('go-to-file')),
    );
    const open = () => this.callbacks.openWorkerLog(workerId);
    row.addEventListener('click', open);
    row.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        open();
      }
    });
    return { row, stateIcon, instance, state, current, done, meter, key: '' };
  }

  private renderFailures(s: MapState): void {
    setHidden(this.el.failuresCard, s.failures.length === 0);
    setText(this.el.failuresBadge, num(s.failures.length));
    // Failures only ever get appended; a snapshot (reset()) starts over.
    if (s.failures.length < this.renderedFailures) {
      this.renderedFailures = 0;
      this.el.failures.replaceChildren();
    }
    for (; this.renderedFailures < s.failures.length; this.renderedFailures++) {
      const f = s.failures[this.renderedFailures];
      const item = h(
        'vscode-collapsible',
        { class: 'failure', 'data-task': String(f.task), heading: `Task ${num(f.task)}`, description: `${f.error.type}: ${f.error.message}` },
        h('vscode-badge', { slot: 'decorations', variant: 'counter' }, `attempt ${f.attempt}`),
        h(
          'div',
          { class: 'failure-body' },
          h('div', { class: 'error-line' }, icon('error'), h('span', { class: 'error-type' }, f.error.type), h('span', {}, f.error.message)),
          h('pre', { class: 'traceback' }, f.error.traceback || '(no traceback)'),
        ),
      );
      // The first failure opens by itself: it is usually the one that explains the rest.
      if (this.renderedFailures === 0) item.setAttribute('open', '');
      this.el.failures.append(item);
    }
  }
}

function skeleton(): DocumentFragment {
  const frag = document.createDocumentFragment();
  frag.append(
    h(
      'header',
      { class: 'header' },
      h(
        'div',
        { class: 'title-row' },
        icon('layers', 'title-icon'),
        h('h1', { id: 'title' }, 'Map job'),
        h('span', { id: 'status-pill', class: 'pill running' }),
        h('span', { class: 'spacer' }),
        h('vscode-button', { id: 'cancel', secondary: true, icon: 'debug-stop', title: 'Cancel the map job' }, 'Cancel'),
      ),
      h(
        'div',
        { class: 'meta' },
        h('span', { id: 'meta-job' }),
        h('span', { class: 'meta-item' }, icon('clock'), 'Elapsed ', h('strong', { id: 'elapsed' }, '0:00')),
        h('span', { class: 'meta-item' }, icon('watch'), 'ETA ', h('strong', { id: 'eta' }, '—')),
      ),
    ),
    h('div', { id: 'status-line', class: 'status-line', role: 'status', hidden: true }),
    h('div', { id: 'waiting', class: 'waiting' }, h('vscode-progress-ring'), h('span', {}, 'Waiting for the map job to start…')),
    h(
      'main',
      { id: 'main', hidden: true },
      h(
        'section',
        { class: 'card summary' },
        h(
          'div',
          { class: 'counters' },
          ...COUNTERS.map((c) =>
            h('div', { class: `counter ${c.key}`, 'data-counter': c.key }, h('div', { class: 'label' }, icon(c.icon), c.label), h('div', { class: 'value' }, '0')),
          ),
        ),
        h(
          'div',
          { class: 'progress' },
          h('div', { id: 'progress-bar', class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-label': 'Tasks finished' }, h('div', { class: 'seg done' }), h('div', { class: 'seg failed' }), h('div', { class: 'seg running' })),
          h('div', { class: 'progress-label' }, h('strong', { id: 'percent' }, '0%'), h('span', { id: 'progress-text', class: 'muted' })),
        ),
      ),
      h(
        'div',
        { class: 'columns' },
        h(
          'section',
          { class: 'card' },
          h(
            'h2',
            {},
            icon('symbol-array'),
            'Tasks',
            h(
              'span',
              { class: 'legend' },
              ...(['queued', 'running', 'done', 'failed'] as const).map((k) => h('span', { class: 'legend-item' }, h('span', { class: `swatch ${k}` }), k)),
            ),
          ),
          h('div', { id: 'grid-wrap', class: 'grid-wrap' }),
        ),
        h(
          'section',
          { class: 'card chart-card' },
          h('h2', {}, icon('graph-line'), 'Throughput', h('span', { id: 'throughput-summary', class: 'muted header-note' })),
          h('div', { id: 'chart-wrap', class: 'chart-wrap' }),
        ),
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, icon('server-process'), 'Workers', h('vscode-badge', { id: 'workers-badge', variant: 'counter' }, '0')),
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'workers' },
            h(
              'thead',
              {},
              h('tr', {}, h('th', {}, 'Worker'), h('th', {}, 'Instance'), h('th', {}, 'State'), h('th', { class: 'num' }, 'Current task'), h('th', { class: 'num' }, 'Tasks done'), h('th', {}, '')),
            ),
            h('tbody', { id: 'workers' }),
          ),
        ),
      ),
      h(
        'section',
        { id: 'failures-card', class: 'card', hidden: true },
        h('h2', {}, icon('bug'), 'Failures', h('vscode-badge', { id: 'failures-badge', variant: 'counter' }, '0')),
        h('div', { id: 'failures', class: 'failures' }),
      ),
    ),
  );
  return frag;
}
