// What a map job reports as it runs, and the state the progress views fold those reports into.
// Pure and shared: the engine emits MapEvents; the CLI's progress bar, the editor's panel host and
// the panel itself (webview-ui/) all fold them with reduceMap.

export type TaskState = 'queued' | 'running' | 'done' | 'failed';

export interface TaskError {
  type: string;
  message: string;
  traceback: string;
}

/**
 * A worker's life: starting (allocated, its code syncing) → running → one of three ends, told apart
 * because only one of them is a problem: idle-exited (told to stop because no task was left for it),
 * stopped (the map was cancelled or ended early), crashed (its process or instance died).
 */
export type WorkerState = 'starting' | 'running' | 'idle-exited' | 'stopped' | 'crashed';

export interface MapWorkerInfo {
  workerId: string;
  instanceId: string;
  state: WorkerState;
  /** Why it crashed. */
  message?: string;
  /** Of its Python process on the instance. */
  pid?: number;
  /** Index of the task it runs now. */
  currentTask?: number;
  tasksDone: number;
  logPath?: string;
}

export type MapEvent =
  | { kind: 'started'; jobId: string; title: string; taskCount: number; workers: number; at: number }
  /** Task state changes, batched (never one event per task). */
  | { kind: 'tasks'; at: number; updates: { task: number; state: TaskState; attempt: number; workerId?: string }[] }
  | { kind: 'worker'; at: number; worker: MapWorkerInfo }
  /** A task attempt failed; `final` when it will not be retried. */
  | { kind: 'failure'; at: number; task: number; attempt: number; error: TaskError; final: boolean }
  | { kind: 'finished'; at: number; status: 'succeeded' | 'failed' | 'cancelled'; message?: string };

export interface MapState {
  jobId: string;
  title: string;
  taskCount: number;
  /** TaskState per task, as an index into TASK_STATES (compact for 10,000 tasks). */
  tasks: number[];
  counts: { queued: number; running: number; done: number; failed: number; retried: number };
  workers: Record<string, MapWorkerInfo>;
  /** Tasks done (successfully or not) by each whole second since the start. */
  throughput: { second: number; done: number }[];
  /** Final failures first seen first; capped. */
  failures: { task: number; attempt: number; error: TaskError }[];
  status: 'running' | 'succeeded' | 'failed' | 'cancelled';
  message?: string;
  startedAt: number;
  finishedAt?: number;
}

export const TASK_STATES: TaskState[] = ['queued', 'running', 'done', 'failed'];
const MAX_FAILURES = 100;

export function emptyMapState(): MapState {
  return {
    jobId: '',
    title: '',
    taskCount: 0,
    tasks: [],
    counts: { queued: 0, running: 0, done: 0, failed: 0, retried: 0 },
    workers: {},
    throughput: [],
    failures: [],
    status: 'running',
    startedAt: 0,
  };
}

/** Folds one event into the state (mutating it: the state can hold 10,000 tasks). */
export function reduceMap(s: MapState, e: MapEvent): MapState {
  switch (e.kind) {
    case 'started':
      Object.assign(s, emptyMapState(), { jobId: e.jobId, title: e.title, taskCount: e.taskCount, startedAt: e.at });
      s.tasks = new Array(e.taskCount).fill(0);
      s.counts.queued = e.taskCount;
      return s;
    case 'tasks':
      for (const u of e.updates) {
        if (!(u.task >= 0 && u.task < s.taskCount)) continue; // not a task of this map
        const before = TASK_STATES[s.tasks[u.task]];
        const after = u.state;
        if (before === after) continue;
        s.counts[before]--;
        s.counts[after]++;
        s.tasks[u.task] = TASK_STATES.indexOf(after);
        if (after === 'done' || after === 'failed') {
          const second = Math.floor((e.at - s.startedAt) / 1000);
          const last = s.throughput[s.throughput.length - 1];
          if (last?.second === second) last.done++;
          else s.throughput.push({ second, done: 1 });
        }
      }
      return s;
    case 'worker':
      s.workers[e.worker.workerId] = e.worker;
      return s;
    case 'failure':
      if (!e.final) s.counts.retried++;
      else if (s.failures.length < MAX_FAILURES) s.failures.push({ task: e.task, attempt: e.attempt, error: e.error });
      return s;
    case 'finished':
      s.status = e.status;
      s.message = e.message;
      s.finishedAt = e.at;
      if (e.status !== 'succeeded') stopWhatRuns(s);
      return s;
  }
}

/**
 * A map that ended early (cancelled, or failed) runs nothing any more, whatever the last reports
 * said: its unfinished tasks were never done, and its live workers were stopped.
 */
function stopWhatRuns(s: MapState): void {
  const running = TASK_STATES.indexOf('running');
  const queued = TASK_STATES.indexOf('queued');
  for (let i = 0; i < s.tasks.length; i++) if (s.tasks[i] === running) s.tasks[i] = queued;
  s.counts.queued += s.counts.running;
  s.counts.running = 0;
  for (const [id, w] of Object.entries(s.workers)) {
    if (w.state === 'starting' || w.state === 'running') s.workers[id] = { ...w, state: 'stopped', currentTask: undefined };
  }
}

/** What a map's end amounts to, in words every front end shows the same way. */
export interface MapSummary {
  /** 'completed': every task ran to its end, and some of them failed. */
  outcome: 'running' | 'succeeded' | 'completed' | 'failed' | 'cancelled';
  /** "Cancelled", "Completed"… */
  label: string;
  /** "after 24 of 40 tasks", "1 task failed", the reason a map failed. */
  detail?: string;
  /** The whole line: "Cancelled after 24 of 40 tasks", "Completed — 1 task failed", "Failed: <why>". */
  text: string;
}

export function summarizeMap(m: { status: MapState['status']; taskCount: number; done: number; failed: number; message?: string }): MapSummary {
  const finished = m.done + m.failed;
  const n = (x: number) => x.toLocaleString('en-US');
  const tasks = (x: number) => `${n(x)} task${x === 1 ? '' : 's'}`;
  switch (m.status) {
    case 'running': {
      const detail = `${n(finished)} of ${tasks(m.taskCount)} finished`;
      return { outcome: 'running', label: 'Running', detail, text: `Running: ${detail}` };
    }
    case 'succeeded':
      return { outcome: 'succeeded', label: 'Succeeded', detail: tasks(m.taskCount), text: `Succeeded — ${tasks(m.taskCount)}` };
    case 'cancelled': {
      const detail = m.taskCount ? `after ${n(finished)} of ${tasks(m.taskCount)}` : 'before it started';
      return { outcome: 'cancelled', label: 'Cancelled', detail, text: `Cancelled ${detail}` };
    }
    case 'failed':
      // A map whose every task ran (499 of 500 fine) did its job: which tasks failed is the news.
      if (m.taskCount > 0 && finished === m.taskCount && m.failed > 0) {
        return { outcome: 'completed', label: 'Completed', detail: `${tasks(m.failed)} failed`, text: `Completed — ${tasks(m.failed)} failed` };
      }
      return { outcome: 'failed', label: 'Failed', detail: m.message, text: `Failed${m.message ? `: ${m.message}` : ''}` };
  }
}

/** What summarizeMap needs of a map's result (MapResult: a cancelled map's results have holes). */
export function resultFigures(r: { status: MapState['status']; results: ({ ok: boolean } | undefined)[]; failed: number }) {
  return { status: r.status, taskCount: r.results.length, done: r.results.filter((x) => x?.ok).length, failed: r.failed };
}

/** The summary of a map's state (see summarizeMap). */
export function mapSummary(s: MapState): MapSummary {
  return summarizeMap({ status: s.status, taskCount: s.taskCount, done: s.counts.done, failed: s.counts.failed, message: s.message });
}

/** Seconds left at the recent pace, or undefined before there is a pace to speak of. */
export function etaSeconds(s: MapState, now: number): number | undefined {
  const finished = s.counts.done + s.counts.failed;
  const elapsed = (now - s.startedAt) / 1000;
  if (finished === 0 || elapsed <= 0 || s.status !== 'running') return undefined;
  return ((s.taskCount - finished) * elapsed) / finished;
}
