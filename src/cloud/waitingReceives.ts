// The receives waiting on a cloud's queues (an SQS long poll, an Azure poll loop), so that one ends
// at once when its caller aborts or when this process deletes its queue's pair, instead of waiting on.
import { cancelledError, queueGone } from './queueLimits';

export class WaitingReceives {
  private readonly waiting = new Map<string, Set<(e: Error) => void>>();

  /**
   * Registers a receive on `queue`, before any await, so that a deletion that comes while the
   * receive starts ends it too. `givenUp` rejects when the signal aborts or the pair is deleted
   * here: the receive races every wait against it, and calls `end` when it ends, however it ends.
   * Throws at once when the signal has already aborted.
   */
  start(queue: string, signal?: AbortSignal): { givenUp: Promise<never>; end: () => void } {
    if (signal?.aborted) throw cancelledError();
    let giveUp!: (e: Error) => void;
    const givenUp = new Promise<never>((_, reject) => (giveUp = reject));
    givenUp.catch(() => undefined); // raced by the receive; unobserved when the receive ends first
    const abort = () => giveUp(cancelledError());
    signal?.addEventListener('abort', abort, { once: true });
    const waiters = this.waiting.get(queue) ?? new Set();
    this.waiting.set(queue, waiters.add(giveUp));
    const end = () => {
      signal?.removeEventListener('abort', abort);
      waiters.delete(giveUp);
      if (!waiters.size && this.waiting.get(queue) === waiters) this.waiting.delete(queue);
    };
    return { givenUp, end };
  }

  /** Ends the receives waiting on these queues (their pair was deleted): they fail with queue-gone. */
  endAll(queues: string[]): void {
    for (const queue of queues) for (const giveUp of this.waiting.get(queue) ?? []) giveUp(queueGone(queue));
  }
}
