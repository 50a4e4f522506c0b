// The management Function's entry point (dist/azure-adjuster.js, deployed as index.js with host.json
// and package.json): the v4 programming model's timer trigger, on the schedule the installer set as
// the app setting MEADOWRUN_SCHEDULE (every minute by default), with its own bundled, pinned SDKs.
// One run: lock, config, plan, act, clean up the stale queues, record the run. Outside a Functions
// host (a test harness) @azure/functions runs in its test mode, and `adjust` is called directly.
import { app, InvocationContext, Timer } from '@azure/functions';
import { scheduledRun } from '../../../management/managedRun';
import { functionCloud } from './functionCloud';

// Built once per instance: warm invocations reuse the clients (and the catalog cached in the temp dir).
let opened: ReturnType<typeof functionCloud> | undefined;

export async function adjust(_timer: Timer, context: InvocationContext) {
  return scheduledRun(() => (opened ??= functionCloud()), { holder: `function ${context.invocationId}` });
}

app.timer('adjust', { schedule: '%MEADOWRUN_SCHEDULE%', handler: adjust });
