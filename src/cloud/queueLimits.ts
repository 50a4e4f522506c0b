// The checks and errors every TaskQueues implementation shares, so that each refuses the same
// things with the same words (a cloud's own service refuses them too, less clearly).
import { MeadowrunError } from '../core/errors';
import { QueueLimits, ReceiveOptions } from './ports';

export function checkSend(limits: QueueLimits, queue: string, bodies: string[]): void {
  if (bodies.length > limits.maxBatch) throw new MeadowrunError(`Cannot send ${bodies.length} messages to ${queue} at once: the most is ${limits.maxBatch}`, 'queue-limit');
  const bytes = bodies.reduce((sum, b) => sum + Buffer.byteLength(b), 0);
  if (bytes > limits.maxMessageBytes) {
    throw new MeadowrunError(`Cannot send ${bytes} bytes to ${queue} at once: a send takes at most ${limits.maxMessageBytes} bytes (put bigger bodies in the payload store)`, 'queue-limit');
  }
}

export function checkReceive(limits: QueueLimits, max: number, options: ReceiveOptions): void {
  if (max < 1 || max > limits.maxReceive) throw new MeadowrunError(`Cannot receive ${max} messages at once: between 1 and ${limits.maxReceive}`, 'queue-limit');
  if ((options.waitS ?? 0) > limits.maxWaitS) throw new MeadowrunError(`Cannot wait ${options.waitS} s for a message: at most ${limits.maxWaitS} s`, 'queue-limit');
}

export function cancelledError(): MeadowrunError {
  return new MeadowrunError('Cancelled', 'cancelled');
}

export function queueGone(queue: string): MeadowrunError {
  return new MeadowrunError(`The queue ${queue} does not exist: its map job has ended or was cleaned up`, 'queue-gone');
}
