// Records the streams the map progress panel's browser test (mapPanel.e2e.ts) replays, from real
// maps on the local cloud:
// - test/fixtures/map-events.json: 2,000 tasks on 4 workers, two tasks that fail once and one that
//   always fails (retried, then a final failure with its traceback), and one worker killed with -9
//   mid-run (its batch comes back, a replacement takes over);
// - test/fixtures/map-events-cancelled.json: 400 tasks on 8 workers, cancelled once about a third
//   of them are done.
// Run once, after a build:  node -r ./test/support/register-py.cjs --import tsx test/e2e/recordMapEvents.ts
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MapEvent } from '../../src/core/mapProgress';
import { testCloud } from '../support/localCloud';

const doneIn = (events: MapEvent[]) => events.reduce((n, x) => n + (x.kind === 'tasks' ? x.updates.filter((u) => u.state === 'done').length : 0), 0);

function save(name: string, events: MapEvent[]): void {
  const out = path.resolve(__dirname, '../fixtures', name);
  fs.writeFileSync(out, JSON.stringify(events));
  console.log(`recorded ${events.length} events to ${path.relative(process.cwd(), out)}`);
}

async function main() {
  const t = testCloud({
    'work.py': [
      'import os, time',
      'def simulate(x):',
      '    time.sleep(0.002)',
      '    if x == 1337:',
      '        raise ValueError(f"sample {x} is corrupt")',
      '    marker = f"/tmp/meadowrun-record-{x}"',
      '    if x in (200, 900) and not os.path.exists(marker):',
      '        open(marker, "w").close()',
      '        raise TimeoutError(f"sample {x}: the source timed out")',
      '    return x * x',
      'def render(frame):',
      '    time.sleep(0.05)',
      '    return frame',
    ].join('\n'),
  }, { sweepIntervalS: 1 });
  try {
    const events: MapEvent[] = [];
    let killed = false;
    await t.engine.runMap('work.py:simulate', { kind: 'expression', expr: 'range(2000)' }, {
      projectDir: t.project, workers: 4, resources: { cpu: 0.5, memoryGb: 0.5 }, visibilityS: 2, maxAttempts: 2,
      onMapEvent: (e) => {
        events.push(structuredClone(e));
        if (!killed && doneIn(events) > 600 && e.kind === 'worker' && e.worker.pid && e.worker.state === 'running') {
          killed = true;
          process.kill(e.worker.pid, 'SIGKILL');
        }
      },
    });
    save('map-events.json', events);

    const cancelled: MapEvent[] = [];
    const controller = new AbortController();
    await t.engine.runMap('work.py:render', { kind: 'expression', expr: 'range(400)' }, {
      projectDir: t.project, workers: 8, resources: { cpu: 0.25, memoryGb: 0.25 }, signal: controller.signal,
      onMapEvent: (e) => {
        cancelled.push(structuredClone(e));
        if (doneIn(cancelled) >= 130) controller.abort();
      },
    });
    save('map-events-cancelled.json', cancelled);
  } finally {
    await t.dispose();
    for (const x of [200, 900]) fs.rmSync(`/tmp/meadowrun-record-${x}`, { force: true });
  }
}

void main();
