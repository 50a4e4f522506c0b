// The management function's entry point (dist/lambda-adjuster.js, zipped as index.js: handler
// index.handler), run by EventBridge every minute on the nodejs22.x runtime with its own bundled,
// pinned SDK. One run: lock, config, plan, act, clean up the stale queues, record the run.
import { scheduledRun } from '../../../management/managedRun';
import { functionCloud } from './functionCloud';

// Built once per container: warm invocations reuse the clients (and the catalog cached in /tmp).
let opened: ReturnType<typeof functionCloud> | undefined;

interface LambdaContext {
  awsRequestId: string;
  getRemainingTimeInMillis?: () => number;
}

/** EventBridge's scheduled event (its `time` is when the run was due), or `{"dryRun": true}` from a person. */
interface ScheduledEvent {
  time?: string;
  dryRun?: boolean;
}

export async function handler(event: ScheduledEvent | undefined, context: LambdaContext) {
  // Planned as of the time the run was due: a late delivery only makes it more cautious (younger
  // idle times and launches), never less.
  const due = event?.time ? Date.parse(event.time) : NaN;
  const now = Number.isFinite(due) ? due : undefined;
  return scheduledRun(() => (opened ??= functionCloud()), { holder: `function ${context.awsRequestId}`, dryRun: event?.dryRun === true, now });
}
