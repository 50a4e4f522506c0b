import type { InstanceRecord } from '../cloud/ports';
import type { ManagementStatus } from '../management/config';
import { freeCapacity } from '../cloud/ports';

export function price(perHour: number): string {
  return `$${perHour.toFixed(4)}/h`;
}

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/**
 * "local.small · on-demand · $0.0104/h · 1/1 CPU, 2/2 GB free · idle 3m 2s of 5m 0s", and what
 * keeps it alive when the management functions' last run said so.
 */
export function describeInstance(r: InstanceRecord, management?: ManagementStatus, now = Date.now()): string {
  const free = freeCapacity(r);
  const jobs = Object.keys(r.jobs).length;
  const timeout = management?.installed ? ` of ${duration(management.config!.idleTimeoutS * 1000)}` : '';
  const kept = management?.installed ? management.lastRun?.kept[r.id] : undefined;
  return [
    r.typeName,
    r.spot ? 'spot' : 'on-demand',
    price(r.price),
    `${round(free.cpu)}/${r.total.cpu} CPU, ${round(free.memoryGb)}/${r.total.memoryGb} GB free`,
    jobs ? `${jobs} job${jobs > 1 ? 's' : ''}` : `idle ${duration(now - r.lastJobChangeAt)}${timeout}`,
    kept?.startsWith('threshold') ? `kept by ${kept}` : undefined,
  ]
    .filter(Boolean)
    .join(' · ');
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
