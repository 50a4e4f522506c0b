import type { InstanceRecord } from '../cloud/ports';
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

/** "local.small · on-demand · $0.0104/h · 1/1 CPU · 2/2 GB free · idle 3m 2s" */
export function describeInstance(r: InstanceRecord, now = Date.now()): string {
  const free = freeCapacity(r);
  const jobs = Object.keys(r.jobs).length;
  return [
    r.typeName,
    r.spot ? 'spot' : 'on-demand',
    price(r.price),
    `${round(free.cpu)}/${r.total.cpu} CPU, ${round(free.memoryGb)}/${r.total.memoryGb} GB free`,
    jobs ? `${jobs} job${jobs > 1 ? 's' : ''}` : `idle ${duration(now - r.lastJobChangeAt)}`,
  ].join(' · ');
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
