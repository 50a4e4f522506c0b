// Records test/fixtures/map-events.json, the stream the map progress panel's browser test
// (mapPanel.e2e.ts) replays: a real map on the local cloud — 2,000 tasks on 4 workers, two tasks
// that fail once and one that always fails (retried, then a final failure with its traceback),
// and one worker killed with -9 mid-run (its batch comes back, a replacement takes over).
// Run once, after a build:  node -r ./test/support/register-py.cjs --import tsx test/e2e/recordMapEvents.ts
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MapEvent } from '../../src/core/mapProgress';
import { testCloud } from '../support/localCloud';

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
    ].join('\n'),
  }, { sweepIntervalS: 1 });
  const events: MapEvent[] = [];
  let killed = false;
  try {
    await t.engine.runMap('work.py:simulate', { kind: 'expression', expr: 'range(2000)' }, {
      projectDir: t.project, workers: 4, resources: { cpu: 0.5, memoryGb: 0.5 }, visibilityS: 2, maxAttempts: 2,
      onMapEvent: (e) => {
        events.push(structuredClone(e));
        const done = events.reduce((n, x) => n + (x.kind === 'tasks' ? x.updates.filter((u) => u.state === 'done').length : 0), 0);
        if (!killed && done > 600 && e.kind === 'worker' && e.worker.pid && e.worker.state === 'running') {
          killed = true;
          process.kill(e.worker.pid, 'SIGKILL');
        }
      },
    });
  } finally {
    await t.dispose();
    for (const x of [200, 900]) fs.rmSync(`/tmp/meadowrun-record-${x}`, { force: true });
  }
  const out = path.resolve(__dirname, '../fixtures/map-events.json');
  fs.writeFileSync(out, JSON.stringify(events));
  console.log(`recorded ${events.length} events to ${path.relative(process.cwd(), out)}`);
}

void main();
