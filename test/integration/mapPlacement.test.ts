// Where a map's workers go (src/jobs/runMap.ts, placeWorkers/maybeLaunchMore): first wherever a
// running instance has room; an instance is launched for the rest only when the map is long enough
// to use it. Real local cloud: a warm instance with room for two of the six workers asked for.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { DEFAULT_LOCAL_INSTANCE_TYPES } from '../../src/cloud/local/instanceTypes';
import { MapEvent } from '../../src/core/mapProgress';
import { AllocationEvent, launchAndRegister } from '../../src/jobs/allocate';
import { jobsOnAllInstances, testCloud, TestCloud } from '../support/localCloud';

let t: TestCloud;
let warm: string;
const slice = { cpu: 0.5, memoryGb: 0.5 };

before(async () => {
  t = testCloud({
    'tasks.py': ['import time', 'def double(x):', '    return 2 * x', 'def nap(x):', '    time.sleep(0.25)', '    return x'].join('\n'),
  });
  // local.small: 1 CPU, 2 GB, room for two workers of half a CPU.
  const small = DEFAULT_LOCAL_INSTANCE_TYPES[0];
  warm = (await launchAndRegister(t.cloud, { type: small, spot: false, price: small.onDemandPrice }, [])).id;
});
afterEach(async () => {
  assert.deepEqual(await jobsOnAllInstances(t.cloud), [], 'nothing is left allocated');
  assert.deepEqual(await t.cloud.queues.listPairs(), [], 'no queue is left');
});
after(() => t.dispose());

async function map(fn: string, tasks: number) {
  const events: MapEvent[] = [];
  const allocation: AllocationEvent[] = [];
  const started = Date.now();
  const r = await t.engine.runMap(`tasks.py:${fn}`, { kind: 'expression', expr: `range(${tasks})` }, {
    projectDir: t.project, workers: 6, resources: slice, onMapEvent: (e) => events.push(e), onEvent: (e) => allocation.push(e as AllocationEvent),
  });
  const workers = new Map<string, { instanceId: string; tasksDone: number; state: string }>();
  for (const e of events) if (e.kind === 'worker') workers.set(e.worker.workerId, e.worker);
  return { r, workers: [...workers.values()], launches: allocation.filter((e) => e.kind === 'launched'), seconds: (Date.now() - started) / 1000 };
}

test('many short tasks with room for two workers on a warm instance: nothing is launched', async () => {
  const { r, workers, launches } = await map('double', 200);
  assert.equal(r.status, 'succeeded');
  r.results.forEach((x, i) => assert.ok(x.ok && x.value.json === String(2 * i), `task ${i}`));
  assert.deepEqual(launches, [], 'no instance was launched');
  assert.deepEqual((await t.cloud.provider.listRunning()).map((i) => i.id), [warm]);
  assert.equal(workers.length, 2, 'two workers, both on the warm instance');
  assert.ok(workers.every((w) => w.instanceId === warm && w.tasksDone > 0 && w.state === 'idle-exited'), JSON.stringify(workers));
});

test('a map too long for the warm room launches the rest of its workers, and they do tasks', async () => {
  const { r, workers, launches, seconds } = await map('nap', 48);
  assert.equal(r.status, 'succeeded');
  r.results.forEach((x, i) => assert.ok(x.ok && x.value.json === String(i), `task ${i}`));
  assert.ok(launches.length >= 1, 'an instance was launched for the map');
  const elsewhere = workers.filter((w) => w.instanceId !== warm);
  console.log(`placement: ${launches.length} launched (${launches.map((l) => (l.kind === 'launched' ? l.seconds.toFixed(2) : '')).join(', ')} s); ${workers.length} workers, ${elsewhere.length} on new instances, tasks done there ${elsewhere.map((w) => w.tasksDone).join('+')}; ${seconds.toFixed(1)} s for 48 × 0.25 s`);
  assert.equal(workers.length, 6, JSON.stringify(workers));
  assert.equal(elsewhere.length, 4);
  assert.ok(elsewhere.some((w) => w.tasksDone > 0), 'the launched workers took tasks');
});
