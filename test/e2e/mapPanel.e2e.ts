// Browser test of the map progress panel: the real host (MapProgressPanel, with a fake 'vscode')
// drives the real built front end (dist/webview/) in headless Chromium, under the panel's own CSP.
// A stream of MapEvents recorded from a real map (test/fixtures/map-events.json, by
// recordMapEvents.ts) is replayed through the host; what the page shows is compared with the state
// folded from the same events by reduceMap. Then a 10,000-task job checks the panel stays fast.
// Screenshots: test-output/screenshots/map-panel*.png. Harness: mapPanelHarness.ts.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { emptyMapState, mapSummary, MapEvent, MapState, reduceMap, TASK_STATES } from '../../src/core/mapProgress';
import {
  Browse, cspViolations, ensureWebviewBuilt, FakeVscode, installFakeVscode, openBrowser, PanelServer, postedByPage, root, setTheme, sleep,
  startServer, until,
} from './mapPanelHarness';
import { screenshotDir } from './run';

type PanelModule = typeof import('../../src/ui/mapPanel/mapProgressPanel');

const fixture = path.join(root, 'test/fixtures/map-events.json');
const cancelledFixture = path.join(root, 'test/fixtures/map-events-cancelled.json');
const COUNTERS = ['queued', 'running', 'done', 'failed', 'retried'] as const;
/** The recording is replayed this many times faster than it happened. */
const SPEED = 4;

let server: PanelServer;
let fake: FakeVscode;
let Panel: PanelModule['MapProgressPanel'];
let FLUSH_MS: number;

before(async () => {
  ensureWebviewBuilt();
  server = await startServer();
  fake = installFakeVscode(server.origin);
  // After the fake is installed: the module imports 'vscode'.
  const mod = require('../../src/ui/mapPanel/mapProgressPanel') as PanelModule;
  Panel = mod.MapProgressPanel;
  FLUSH_MS = mod.FLUSH_INTERVAL_MS;
  fs.mkdirSync(screenshotDir, { recursive: true });
});

after(async () => {
  await server?.close();
});

const shot = (name: string) => path.join(screenshotDir, `${name}.png`);
const digits = (text: string) => Number(text.replace(/\D/g, ''));
const extensionUri = () => ({ path: root, fsPath: root, toString: () => root }) as unknown as Parameters<PanelModule['MapProgressPanel']['open']>[0];

function fold(events: MapEvent[]): MapState {
  return events.reduce((s, e) => reduceMap(s, e), emptyMapState());
}

async function renderedCounters(page: Page): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const k of COUNTERS) out[k] = digits(await page.locator(`[data-counter="${k}"] .value`).innerText());
  return out;
}

async function waitForCounters(page: Page, expected: MapState['counts'], timeoutMs = 10_000): Promise<void> {
  let last: Record<string, number> = {};
  await until(
    `counters ${JSON.stringify(expected)} (showing ${JSON.stringify(last)})`,
    async () => {
      last = await renderedCounters(page);
      return COUNTERS.every((k) => last[k] === expected[k]);
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last shown: ${JSON.stringify(last)}`);
  });
}

/** Pushes events into the host at their recorded pace, SPEED times faster. */
async function replay(panel: { push(e: MapEvent): void }, events: MapEvent[]): Promise<void> {
  if (!events.length) return;
  const t0 = Date.now();
  const first = events[0].at;
  for (const e of events) {
    const wait = t0 + (e.at - first) / SPEED - Date.now();
    if (wait > 0) await sleep(wait);
    panel.push(e);
  }
}

const isDisabled = (page: Page, selector: string) =>
  page.locator(selector).evaluate((el) => Boolean((el as unknown as { disabled: boolean }).disabled));

async function renders(page: Page): Promise<number> {
  return Number((await page.locator('body').getAttribute('data-renders')) ?? 0);
}

/** Moves the pointer over task `i`'s cell and returns the tooltip's text. */
async function hoverTask(page: Page, i: number): Promise<string> {
  const grid = page.locator('#task-grid');
  const pitch = Number(await grid.getAttribute('data-pitch'));
  const cols = Number(await grid.getAttribute('data-cols'));
  const box = (await grid.boundingBox())!;
  await page.mouse.move(box.x + (i % cols) * pitch + pitch / 2 - 0.5, box.y + Math.floor(i / cols) * pitch + pitch / 2 - 0.5);
  const tooltip = page.locator('#tooltip');
  await tooltip.waitFor({ state: 'visible', timeout: 5000 });
  return tooltip.innerText();
}

/** The first event after which about half the tasks are done. */
function halfwayIndex(events: MapEvent[]): number {
  const state = fold(events.slice(0, 1));
  for (let i = 1; i < events.length; i++) {
    reduceMap(state, events[i]);
    if (state.counts.done >= state.taskCount / 2) return i + 1;
  }
  return events.length;
}

test('a recorded map job: counters, workers, failures, Cancel, hide/show, batching', { timeout: 120_000 }, async () => {
  const events = JSON.parse(fs.readFileSync(fixture, 'utf8')) as MapEvent[];
  assert.equal(events[0]?.kind, 'started', 'the recording starts with the started event');
  const finishedIndex = events.findIndex((e) => e.kind === 'finished');
  assert.ok(finishedIndex > 0, 'the recording has a finished event');
  const final = fold(events);
  console.log(`map panel: ${events.length} events, ${final.taskCount} tasks, ${Object.keys(final.workers).length} workers, counts ${JSON.stringify(final.counts)}, ${final.status}`);

  fs.rmSync(shot('map-panel-failure'), { force: true }); // a stale one would mislead
  const b: Browse = await openBrowser();
  const { page } = b;
  const calls = { cancel: 0, logs: [] as string[] };
  try {
    const panel = Panel.open(extensionUri(), final.title || 'Map job', {
      onCancel: () => calls.cancel++,
      onOpenWorkerLog: (id) => calls.logs.push(id),
    });
    const fp = fake.panels[fake.panels.length - 1];
    assert.equal(fp.viewType, 'meadowrun.mapProgress');
    assert.equal(fp.options.enableScripts, true);
    assert.equal(fp.options.retainContextWhenHidden, false);
    assert.deepEqual(fp.options.localResourceRoots?.map((u) => u.path), [path.join(root, 'dist/webview')]);
    const csp = /Content-Security-Policy" content="([^"]*)"/.exec(fp.html)?.[1] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-[A-Za-z0-9+/=]{16,}'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    let disposed = 0;
    panel.onDidDispose(() => disposed++);
    server.panel = fp;
    b.connect(fp);

    // The panel opens before the job has started: the page waits for it.
    await fp.show(page);
    await until('the snapshot the host sends when the page is ready', () => fp.sent.length > 0);
    assert.equal(fp.sent[0].msg.type, 'snapshot');
    assert.deepEqual((await postedByPage(page))[0], { type: 'ready' });
    await page.locator('#waiting').waitFor({ state: 'visible' });
    await page.screenshot({ path: shot('map-panel-waiting') });
    panel.push(events[0]);
    await page.locator('#main').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#waiting').isVisible(), false);
    assert.equal(await page.locator('#title').innerText(), events[0].kind === 'started' ? events[0].title : '');

    // Half the job (by tasks done: a recording's pace is uneven), then look.
    const mid = halfwayIndex(events);
    await replay(panel, events.slice(1, mid));
    const half = fold(events.slice(0, mid));
    assert.deepEqual(panel.state.counts, half.counts, 'the host folds what it is pushed');
    await waitForCounters(page, half.counts);
    assert.ok(half.counts.done > 0 && half.counts.queued > 0, 'mid-job');

    // Cancel, while running: posted once, then the button waits for the job to end.
    assert.equal(await isDisabled(page, '#cancel'), false, 'Cancel is enabled while running');
    await page.locator('#cancel').click();
    await until('Cancel reaching the host', () => calls.cancel === 1);
    assert.ok((await postedByPage(page)).some((m) => m.type === 'cancel'));
    await until('the button to say Cancelling…', async () => (await page.locator('#cancel').innerText()).includes('Cancelling'));
    assert.equal(await isDisabled(page, '#cancel'), true);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: shot('map-panel-running'), fullPage: true });

    // Hidden, the page is torn down; events go on (and are not sent). Shown again, the page first
    // shows what it saved (getState), then the host's snapshot, which has everything.
    // The page saves at most once a second: give it that second before hiding it.
    await until('the page to save its state', async () =>
      page.evaluate(() => (JSON.parse((globalThis as unknown as { sessionStorage: { getItem(k: string): string } }).sessionStorage.getItem('__vscodeState') ?? 'null')?.state?.counts?.done ?? 0) > 0),
    );
    const sentBeforeHide = fp.sent.length;
    await fp.hide();
    const quarter = events.findIndex((e) => e.at >= (events[mid].at + events[finishedIndex].at) / 2);
    await replay(panel, events.slice(mid, quarter));
    await sleep(FLUSH_MS + 50);
    assert.equal(fp.sent.length, sentBeforeHide, 'nothing is sent to a hidden panel');
    fp.holding = true;
    await fp.show(page);
    await until('the reloaded page to say ready', async () => (await postedByPage(page)).some((m) => m.type === 'ready'));
    await until('a first render', async () => (await renders(page)) > 0);
    const saved = await page.evaluate(() => JSON.parse((globalThis as unknown as { sessionStorage: { getItem(k: string): string } }).sessionStorage.getItem('__vscodeState')));
    assert.ok(saved?.state?.counts?.done > 0, 'the page saved its state (setState)');
    await waitForCounters(page, saved.state.counts, 3000);
    fp.release();
    const threeQuarters = fold(events.slice(0, quarter));
    await waitForCounters(page, threeQuarters.counts);
    assert.equal(fp.sent[sentBeforeHide].msg.type, 'snapshot', 'the host answers the new page with a snapshot');

    // The rest of the job.
    await replay(panel, events.slice(quarter));
    assert.deepEqual(JSON.parse(JSON.stringify(panel.state)), JSON.parse(JSON.stringify(final)), 'the host folds what it is pushed');
    await waitForCounters(page, final.counts);
    await page.locator('#status-line').waitFor({ state: 'visible' });
    const statusText = await page.locator('#status-line').innerText();
    const summary = mapSummary(final);
    // The recording's map ran every task, a few of which failed: it completed, it did not fail.
    assert.equal(summary.outcome, 'completed');
    assert.equal(await page.locator('#status-line').getAttribute('data-outcome'), 'completed');
    assert.ok(statusText.includes('Completed') && statusText.includes(summary.detail!), `status line "${statusText}" says ${summary.text}`);
    assert.equal(await page.locator('#status-pill').innerText(), 'Completed');
    assert.equal(await isDisabled(page, '#cancel'), true, 'Cancel is disabled once the job has finished');
    await page.locator('#cancel').dispatchEvent('click');
    await sleep(100);
    assert.equal(calls.cancel, 1, 'a disabled Cancel posts nothing');

    // The page's own fold (saved at once when the job ends) matches the host's.
    const savedFinal = await page.evaluate(() => JSON.parse((globalThis as unknown as { sessionStorage: { getItem(k: string): string } }).sessionStorage.getItem('__vscodeState')));
    assert.deepEqual(savedFinal.state, JSON.parse(JSON.stringify(final)), "the page's state equals the host's");

    // Batching: one message per flush, at least FLUSH_MS apart, carrying every event once.
    const batches = fp.sent.filter((m) => m.msg.type === 'events');
    for (let i = 1; i < batches.length; i++) {
      const gap = batches[i].at - batches[i - 1].at;
      assert.ok(gap >= FLUSH_MS - 2, `messages ${i - 1} and ${i} are ${gap} ms apart`);
    }
    const replayedWhileShown = events.length - (quarter - mid);
    assert.equal(batches.reduce((n, m) => n + (m.msg.type === 'events' ? m.msg.events.length : 0), 0), replayedWhileShown);
    console.log(`map panel: ${replayedWhileShown} events reached the page in ${batches.length} messages`);

    // One row per worker, with its tasks done.
    const rows = page.locator('tr.worker-row');
    assert.equal(await rows.count(), Object.keys(final.workers).length);
    for (const w of Object.values(final.workers)) {
      const row = page.locator(`tr.worker-row[data-worker-id="${w.workerId}"]`);
      assert.equal(digits(await row.locator('.done-count').innerText()), w.tasksDone, `${w.workerId}'s tasks done`);
      assert.ok((await row.innerText()).includes(w.instanceId), `${w.workerId}'s instance`);
      assert.equal(await row.getAttribute('data-state'), w.state);
    }
    const crashed = Object.values(final.workers).find((w) => w.state === 'crashed') ?? Object.values(final.workers)[0];
    await page.locator(`tr.worker-row[data-worker-id="${crashed.workerId}"]`).click();
    await until('openWorkerLog reaching the host', () => calls.logs.length === 1);
    assert.deepEqual(calls.logs, [crashed.workerId]);
    assert.ok((await postedByPage(page)).some((m) => m.type === 'openWorkerLog' && m.workerId === crashed.workerId));

    // Failures with their tracebacks; the first one open.
    assert.equal(await page.locator('#failures vscode-collapsible').count(), final.failures.length);
    if (final.failures.length) {
      const f = final.failures[0];
      const traceback = page.locator('#failures vscode-collapsible').first().locator('pre.traceback');
      await traceback.waitFor({ state: 'visible' });
      assert.equal(await traceback.innerText(), f.error.traceback || '(no traceback)');
      assert.ok((await page.locator('#failures-card').innerText()).includes(f.error.message));
      // The failed task's cell in the grid says so.
      const tip = await hoverTask(page, f.task);
      assert.ok(tip.includes(`Task ${f.task.toLocaleString('en-US')} · failed`), `tooltip: ${tip}`);
    }
    const doneTask = final.tasks.findIndex((t) => TASK_STATES[t] === 'done');
    if (doneTask >= 0) assert.ok((await hoverTask(page, doneTask)).startsWith(`Task ${doneTask.toLocaleString('en-US')} · done`));
    await page.mouse.move(0, 0);
    await page.locator('#tooltip').waitFor({ state: 'hidden' });

    await page.screenshot({ path: shot('map-panel'), fullPage: true });
    await setTheme(page, 'light');
    await sleep(150);
    await page.screenshot({ path: shot('map-panel-light'), fullPage: true });
    // Beside an editor, a panel is often narrow: one column.
    await setTheme(page, 'dark');
    await page.setViewportSize({ width: 560, height: 900 });
    await sleep(150);
    await page.screenshot({ path: shot('map-panel-narrow'), fullPage: true });

    assert.deepEqual(await cspViolations(page), [], 'no CSP violations');
    assert.deepEqual(b.problems, [], 'no console errors or failed requests');
    assert.deepEqual(server.notFound, [], 'everything the page loads is under localResourceRoots');
    assert.deepEqual(fake.errors, []);

    panel.dispose();
    assert.equal(disposed, 1);
    assert.equal(fp.disposed, true);
    panel.push(events[events.length - 1]); // late events are harmless
  } catch (err) {
    await page.screenshot({ path: shot('map-panel-failure'), fullPage: true }).catch(() => undefined);
    throw err;
  } finally {
    await b.close();
  }
});

test('a cancelled map: nothing runs any more, workers are stopped, and the summary counts what was done', { timeout: 60_000 }, async () => {
  const events = JSON.parse(fs.readFileSync(cancelledFixture, 'utf8')) as MapEvent[];
  const finishedIndex = events.findIndex((e) => e.kind === 'finished');
  assert.ok(finishedIndex > 0 && events[finishedIndex].kind === 'finished' && events[finishedIndex].status === 'cancelled', 'the recording ends cancelled');
  const beforeCancel = fold(events.slice(0, finishedIndex));
  const final = fold(events);
  console.log(`map panel, cancelled: ${final.taskCount} tasks, before the end ${JSON.stringify(beforeCancel.counts)}, after ${JSON.stringify(final.counts)}`);
  assert.ok(beforeCancel.counts.running > 0, 'tasks were running when the map was cancelled');
  const wasRunning = beforeCancel.tasks.findIndex((t) => TASK_STATES[t] === 'running');

  const b = await openBrowser();
  const { page } = b;
  try {
    const panel = Panel.open(extensionUri(), final.title, { onCancel: () => undefined, onOpenWorkerLog: () => undefined });
    const fp = fake.panels[fake.panels.length - 1];
    server.panel = fp;
    b.connect(fp);
    await fp.show(page);
    await until('the snapshot', () => fp.sent.length > 0);
    await replay(panel, events.slice(0, finishedIndex));
    await waitForCounters(page, beforeCancel.counts);
    await replay(panel, events.slice(finishedIndex));
    await waitForCounters(page, final.counts);
    assert.equal(final.counts.running, 0);
    assert.equal(final.counts.queued, final.taskCount - final.counts.done - final.counts.failed);
    const text = await page.locator('#status-line').innerText();
    assert.ok(text.includes(`Cancelled`) && text.includes(`after ${final.counts.done} of ${final.taskCount} tasks`), `status line: ${text}`);
    assert.equal(await page.locator('#status-pill').innerText(), 'Cancelled');
    // Every worker was stopped by the cancel: none is shown as crashed.
    const rows = page.locator('tr.worker-row');
    assert.equal(await rows.count(), Object.keys(final.workers).length);
    for (const w of Object.values(final.workers)) {
      assert.equal(w.state, 'stopped');
      const row = page.locator(`tr.worker-row[data-worker-id="${w.workerId}"]`);
      assert.equal(await row.getAttribute('data-state'), 'stopped');
      assert.equal(await row.locator('.state-pill').innerText(), 'stopped');
      assert.equal(digits(await row.locator('.done-count').innerText()), w.tasksDone);
    }
    // A task that was running when the map was cancelled is no longer drawn as running.
    const tip = await hoverTask(page, wasRunning);
    assert.ok(tip.startsWith(`Task ${wasRunning.toLocaleString('en-US')} · queued`), `tooltip: ${tip}`);
    await page.mouse.move(0, 0);
    await page.locator('#tooltip').waitFor({ state: 'hidden' });
    await page.screenshot({ path: shot('map-panel-cancelled'), fullPage: true });
    assert.deepEqual(await cspViolations(page), []);
    assert.deepEqual(b.problems, []);
    panel.dispose();
  } finally {
    await b.close();
  }
});

test('a map that failed before it started: the reason, and no "Waiting…" spinner', { timeout: 60_000 }, async () => {
  const b = await openBrowser();
  const { page } = b;
  try {
    const panel = Panel.open(extensionUri(), 'Map: simulate over range(', { onCancel: () => undefined, onOpenWorkerLog: () => undefined });
    const fp = fake.panels[fake.panels.length - 1];
    server.panel = fp;
    b.connect(fp);
    await fp.show(page);
    await page.locator('#waiting').waitFor({ state: 'visible' });
    const message = "The arguments expression has a syntax error: '(' was never closed";
    panel.push({ kind: 'finished', at: Date.now(), status: 'failed', message });
    await page.locator('#status-line').waitFor({ state: 'visible' });
    await page.locator('#waiting').waitFor({ state: 'hidden' });
    assert.equal(await page.locator('#status-line').getAttribute('data-outcome'), 'failed');
    const text = await page.locator('#status-line').innerText();
    assert.ok(text.includes('Failed') && text.includes(message), `status line: ${text}`);
    assert.equal(await page.locator('#status-pill').innerText(), 'Failed');
    assert.equal(await page.locator('#title').innerText(), 'Map: simulate over range(', 'the title the panel was opened with');
    assert.equal(await isDisabled(page, '#cancel'), true);
    await page.screenshot({ path: shot('map-panel-failed-to-start'), fullPage: true });
    assert.deepEqual(await cspViolations(page), []);
    assert.deepEqual(b.problems, []);
    panel.dispose();
  } finally {
    await b.close();
  }
});

/** A job of n tasks, a minute in: 60% done at 100 tasks/s, 16 running, a few failed. */
function bigJob(n: number, workers: number): MapEvent[] {
  const t0 = Date.now() - 61_000;
  const events: MapEvent[] = [{ kind: 'started', jobId: 'map-10k', title: 'simulate(seed) over 10,000 seeds', taskCount: n, workers, at: t0 }];
  for (let w = 0; w < workers; w++) {
    events.push({ kind: 'worker', at: t0 + 500, worker: { workerId: `w-${w + 1}`, instanceId: `local-${Math.floor(w / 4)}`, state: 'running', tasksDone: 0 } });
  }
  const done = Math.floor(n * 0.6);
  const perSecond = Math.ceil(done / 60);
  for (let s = 0; s < 60; s++) {
    const updates: Extract<MapEvent, { kind: 'tasks' }>['updates'] = [];
    for (let i = s * perSecond; i < Math.min(done, (s + 1) * perSecond); i++) {
      updates.push({ task: i, state: 'running', attempt: 1, workerId: `w-${(i % workers) + 1}` }, { task: i, state: 'done', attempt: 1 });
    }
    events.push({ kind: 'tasks', at: t0 + s * 1000 + 900, updates });
  }
  const at = t0 + 60_500;
  for (const task of [137, 2048, 4711]) {
    const error = { type: 'RuntimeError', message: `simulation ${task} diverged`, traceback: `Traceback (most recent call last):\n  File "sim.py", line 9, in simulate\n    raise RuntimeError(f"simulation {seed} diverged")\nRuntimeError: simulation ${task} diverged` };
    events.push({ kind: 'failure', at, task, attempt: 3, error, final: true });
    events.push({ kind: 'tasks', at, updates: [{ task, state: 'failed', attempt: 3 }] });
  }
  events.push({ kind: 'tasks', at, updates: Array.from({ length: workers }, (_, w) => ({ task: done + w, state: 'running' as const, attempt: 1, workerId: `w-${w + 1}` })) });
  for (let w = 0; w < workers; w++) {
    events.push({ kind: 'worker', at, worker: { workerId: `w-${w + 1}`, instanceId: `local-${Math.floor(w / 4)}`, state: 'running', currentTask: done + w, tasksDone: Math.floor(done / workers) } });
  }
  return events;
}

test('10,000 tasks: the snapshot renders fast and updates stay cheap', { timeout: 120_000 }, async () => {
  const N = 10_000;
  const WORKERS = 16;
  const b = await openBrowser();
  const { page } = b;
  try {
    const panel = Panel.open(extensionUri(), 'simulate', { onCancel: () => undefined, onOpenWorkerLog: () => undefined });
    const fp = fake.panels[fake.panels.length - 1];
    server.panel = fp;
    b.connect(fp);
    const history = bigJob(N, WORKERS);
    for (const e of history) panel.push(e);
    const expected = fold(history);

    // Page load → ready; then the 10,000-task snapshot → drawn.
    fp.holding = true;
    const loadStart = Date.now();
    await fp.show(page);
    await until('ready', () => fp.sent.some((m) => m.msg.type === 'snapshot'));
    const loadMs = Date.now() - loadStart;
    const rendersBefore = await renders(page);
    // Records each frame's work (the page's data-render-ms) from here on.
    await page.evaluate(() => {
      const g = globalThis as unknown as { __frames: number[]; document: { body: { dataset: Record<string, string> } }; MutationObserver: new (cb: () => void) => { observe(t: unknown, o: unknown): void } };
      g.__frames = [];
      new g.MutationObserver(() => g.__frames.push(Number(g.document.body.dataset.renderMs))).observe(g.document.body, { attributes: true, attributeFilter: ['data-renders'] });
    });
    const t0 = Date.now();
    fp.release();
    await waitForCounters(page, expected.counts, 5000);
    await until('the grid drawn', async () => (await renders(page)) > rendersBefore && (await page.locator('#task-grid').getAttribute('data-cols')) !== null);
    const snapshotMs = Date.now() - t0;
    const frameMs = (await page.evaluate(() => (globalThis as unknown as { __frames: number[] }).__frames))[0];
    console.log(`map panel: 10,000-task snapshot shown ${snapshotMs} ms after it was sent (page load ${loadMs} ms; the frame that drew it: ${frameMs.toFixed(1)} ms of work)`);
    assert.ok(snapshotMs < 2000, `the 10,000-task snapshot took ${snapshotMs} ms to show`);

    const tip = await hoverTask(page, N - 1);
    assert.ok(tip.startsWith(`Task ${(N - 1).toLocaleString('en-US')} · queued`), `tooltip: ${tip}`);
    await page.mouse.move(0, 0);

    // A stream: 3,600 more tasks finish in 1 s of small batches; the host sends a few messages,
    // the page repaints only the changed cells, at most once per frame.
    await page.evaluate(() => ((globalThis as unknown as { __frames: number[] }).__frames = []));
    const streamStart = Date.now();
    const more: MapEvent[] = [];
    const firstNew = Math.floor(N * 0.6) + WORKERS;
    for (let batch = 0; batch < 40; batch++) {
      const updates: Extract<MapEvent, { kind: 'tasks' }>['updates'] = [];
      for (let i = firstNew + batch * 90; i < firstNew + (batch + 1) * 90; i++) updates.push({ task: i, state: 'done', attempt: 1 });
      const e: MapEvent = { kind: 'tasks', at: Date.now(), updates };
      more.push(e);
      panel.push(e);
      await sleep(25);
    }
    const after = fold([...history, ...more]);
    await waitForCounters(page, after.counts, 5000);
    const streamMs = Date.now() - streamStart;
    const frames = await page.evaluate(() => (globalThis as unknown as { __frames: number[] }).__frames);
    const messages = fp.sent.filter((m) => m.msg.type === 'events').length;
    const worst = Math.max(...frames);
    console.log(`map panel: 3,600 updates in 40 batches → ${messages} messages, ${frames.length} frames, worst frame ${worst.toFixed(1)} ms, mean ${(frames.reduce((a, x) => a + x, 0) / frames.length).toFixed(1)} ms; shown after ${streamMs} ms`);
    assert.ok(messages <= 40 * 25 / FLUSH_MS + 2, `${messages} messages for ~1 s of events`);
    assert.ok(worst < 100, `worst frame ${worst} ms`);

    await page.screenshot({ path: shot('map-panel-10k'), fullPage: true });
    assert.deepEqual(await cspViolations(page), []);
    assert.deepEqual(b.problems, []);
    panel.dispose();
  } finally {
    await b.close();
  }
});
