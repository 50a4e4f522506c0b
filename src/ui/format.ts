import type { InstanceRecord } from '../cloud/ports';
import type { ManagementStatus } from '../core/management';
import { freeCapacity } from '../cloud/ports';

export function price(perHour: number): string {
  return `$${perHour.toFixed(4)}/h`;
}

/** "0.4s", "12s", "3m 2s", "1h 5m". */
export function duration(ms: number): string {
  // Warm jobs take well under a second: "0s" would hide that they ran at all.
  if (ms < 9_950) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** How long something has been running, in whole seconds: a row that updates now and then shows no tenths. */
export function elapsed(ms: number): string {
  return ms < 60_000 ? `${Math.floor(Math.max(0, ms) / 1000)}s` : duration(ms);
}

/** A clock that ticks once a minute ("<1m", "3m", "1h 5m"), so a view showing it changes rarely. */
export function minutes(ms: number): string {
  const m = Math.floor(ms / 60_000);
  if (m < 1) return '<1m';
  return m < 60 ? `${m}m` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

/**
 * What matters first, for a narrow sidebar: "$0.0104/h · idle 3m of 5m · 1/1 CPU, 2/2 GB free ·
 * spot · local-1a2b" ("launching · $0.0960/h · 1 job · … · on-demand · us-east-1b · i-0abc" on
 * a cloud with zones), and what keeps it alive when the management functions' last run said so.
 */
export function describeInstance(r: InstanceRecord, management?: ManagementStatus, now = Date.now()): string {
  const jobs = Object.keys(r.jobs).length;
  const timeout = management?.installed ? ` of ${minutes(management.config!.idleTimeoutS * 1000)}` : '';
  const kept = management?.installed ? management.lastRun?.kept[r.id] : undefined;
  return [
    r.state === 'launching' ? (r.preventFurtherAllocation ? 'launch given up' : 'launching') : undefined,
    price(r.price),
    jobs ? `${jobs} job${jobs > 1 ? 's' : ''}` : `idle ${minutes(now - r.lastJobChangeAt)}${timeout}`,
    describeFree(r),
    // The market matters where there is a choice (a cloud with zones); locally, only spot is said.
    r.spot ? 'spot' : r.zone ? 'on-demand' : undefined,
    r.zone,
    kept?.startsWith('threshold') ? `kept by ${kept}` : undefined,
    r.id,
  ]
    .filter(Boolean)
    .join(' · ');
}

export function describeFree(r: InstanceRecord): string {
  const free = freeCapacity(r);
  const gpus = r.total.gpus ? `, ${round(free.gpus)}/${r.total.gpus} GPU` : '';
  return `${round(free.cpu)}/${r.total.cpu} CPU, ${round(free.memoryGb)}/${r.total.memoryGb} GB${gpus} free`;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
