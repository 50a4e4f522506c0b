// The idle watchdog's decision, run on each instance beside the deallocation sweep: the cost-safety
// backstop that stops an instance nobody uses even when no management functions are installed.
// Management, when it runs, has the first word (it may keep an idle instance for a threshold): each
// run marks the instances it keeps, and the watchdog leaves alone an instance marked recently.

/**
 * Added to the idle timeout before the watchdog acts: longer than management's default interval
 * (60 s), so that where management runs it always decides first, and a job being placed at the
 * moment the timeout ends is not raced.
 */
export const DEFAULT_IDLE_MARGIN_S = 120;

/** How long an unmanaged instance stays up once idle, in words ("7 minutes"), for notices. */
export function selfStopAfter(idleTimeoutS: number, marginS = DEFAULT_IDLE_MARGIN_S): string {
  const s = idleTimeoutS + marginS;
  if (s < 90) return `${Math.round(s)} seconds`;
  const m = Math.round(s / 60);
  return `${m} minute${m === 1 ? '' : 's'}`;
}

export interface IdleInput {
  now: number;
  /** When the watchdog started (about when the instance booted): the idle clock of an instance with no table row. */
  startedAt: number;
  /** The instance's row in the allocation table, absent when it is not (or no longer) registered. */
  record?: {
    jobCount: number;
    lastJobChangeAt: number;
    managed?: { at: number; idleTimeoutS: number; intervalS: number };
  };
  /** The idle timeout when no management run has said otherwise (its default, or the config at launch). */
  timeoutS: number;
  marginS: number;
}

export type IdleVerdict =
  | { kind: 'busy' }
  /** Management ran recently: it decides, until `until` passes without another run. */
  | { kind: 'managed'; until: number }
  | { kind: 'idle'; idleForMs: number; stopAt: number }
  | { kind: 'stop'; idleForMs: number };

export function idleVerdict(i: IdleInput): IdleVerdict {
  const r = i.record;
  if (r && r.jobCount > 0) return { kind: 'busy' };
  if (r?.managed) {
    const until = r.managed.at + (2 * r.managed.intervalS + i.marginS) * 1000;
    if (i.now < until) return { kind: 'managed', until };
  }
  const idleSince = r ? r.lastJobChangeAt : i.startedAt;
  const timeoutS = r?.managed?.idleTimeoutS ?? i.timeoutS;
  const stopAt = idleSince + (timeoutS + i.marginS) * 1000;
  const idleForMs = Math.max(0, i.now - idleSince);
  return i.now >= stopAt ? { kind: 'stop', idleForMs } : { kind: 'idle', idleForMs, stopAt };
}
