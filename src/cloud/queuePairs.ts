// A map job's two queues as the clouds' queue services name them, `<prefix><jobId>-request` and
// `-result`, and when this process last wrote a pair's use to the cloud (a tag or metadata of its
// request queue): at most once per PAIR_USE_RESOLUTION_S, as a cloud could not afford a write per message.
import { PAIR_USE_RESOLUTION_S } from './ports';

const REQUEST = '-request';
const RESULT = '-result';

export class QueuePairs {
  private readonly recordedUse = new Map<string, number>();

  constructor(readonly prefix: string) {}

  names(jobId: string): { request: string; result: string } {
    return { request: `${this.prefix}${jobId}${REQUEST}`, result: `${this.prefix}${jobId}${RESULT}` };
  }

  /** Which job's pair, and which side of it, a queue listed under the prefix is; undefined for a queue of no pair. */
  parse(queue: string): { jobId: string; side: 'request' | 'result' } | undefined {
    if (!queue.startsWith(this.prefix)) return undefined;
    for (const [suffix, side] of [[REQUEST, 'request'], [RESULT, 'result']] as const) {
      if (queue.endsWith(suffix)) return { jobId: queue.slice(this.prefix.length, -suffix.length), side };
    }
    return undefined;
  }

  /** A pair just created: its use was written with it. */
  created(jobId: string): void {
    this.recordedUse.set(jobId, Date.now());
  }

  deleted(jobId: string): void {
    this.recordedUse.delete(jobId);
  }

  /**
   * When the use of `queue`'s pair is due to be written again, the request queue to write it on and
   * the time to write (then counted as written); undefined when this process wrote it lately (or
   * `queue` is no pair's).
   */
  useDue(queue: string): { request: string; at: number } | undefined {
    const jobId = this.parse(queue)?.jobId;
    if (jobId === undefined) return undefined;
    const now = Date.now();
    if (now - (this.recordedUse.get(jobId) ?? 0) < PAIR_USE_RESOLUTION_S * 1000) return undefined;
    this.recordedUse.set(jobId, now);
    return { request: this.names(jobId).request, at: now };
  }
}
