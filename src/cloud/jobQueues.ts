import * as crypto from 'crypto';
import { MeadowrunError } from '../core/errors';
import { groupSends, packBodies } from '../core/messageBatches';
import { PayloadStore, QueueMessage, ReceiveOptions, TaskQueues } from './ports';

/** The body of a message whose real body is in the payload store. */
interface SpilledBody {
  $payload: string;
}
const SPILLED_PREFIX = '{"$payload":';

/**
 * A map job's queues as both of its ends use them (the client and the workers): bodies of any
 * size, the ones over the queue's limit kept in the payload store and sent as a reference; sends
 * split to the queue's limits; received bodies resolved back. The job's payloads go with its pair
 * (deleteJobQueues).
 */
export class JobQueues {
  constructor(
    private readonly queues: TaskQueues,
    private readonly payloads: PayloadStore,
    private readonly jobId: string,
  ) {}

  /** Sends items (JSON texts) in as few bodies `head + items + tail` as the size limit allows, at most `maxItems` a body. */
  sendItems(queue: string, items: string[], head: string, tail: string, maxItems?: number): Promise<void> {
    return this.send(queue, packBodies(items, head, tail, this.queues.limits.maxMessageBytes, maxItems));
  }

  async send(queue: string, bodies: string[]): Promise<void> {
    const { maxBatch, maxMessageBytes } = this.queues.limits;
    const fitting: string[] = [];
    for (const body of bodies) fitting.push(Buffer.byteLength(body) <= maxMessageBytes ? body : await this.spill(body));
    for (const group of groupSends(fitting, maxBatch, maxMessageBytes)) await this.queues.send(queue, group);
  }

  /** Like TaskQueues.receive, with `max` and the wait cut to the queue's limits and bodies resolved. */
  async receive(queue: string, max: number, visibilityS: number, options: ReceiveOptions = {}): Promise<QueueMessage[]> {
    const { maxReceive, maxWaitS } = this.queues.limits;
    const waitS = options.waitS === undefined ? undefined : Math.min(options.waitS, maxWaitS);
    const messages = await this.queues.receive(queue, Math.min(max, maxReceive), visibilityS, { ...options, waitS });
    return Promise.all(messages.map(async (m) => (m.body.startsWith(SPILLED_PREFIX) ? { ...m, body: await this.unspill(m.body) } : m)));
  }

  extendVisibility(queue: string, receipt: string, visibilityS: number): Promise<string | undefined> {
    return this.queues.extendVisibility(queue, receipt, visibilityS);
  }

  acknowledge(queue: string, receipts: string[]): Promise<void> {
    return this.queues.acknowledge(queue, receipts);
  }

  private async spill(body: string): Promise<string> {
    const ref = await this.payloads.put(`${this.jobId}/${Date.now().toString(36)}-${crypto.randomBytes(6).toString('hex')}`, Buffer.from(body, 'utf8'));
    return JSON.stringify({ $payload: ref } satisfies SpilledBody);
  }

  private async unspill(body: string): Promise<string> {
    const { $payload } = JSON.parse(body) as SpilledBody;
    if (typeof $payload !== 'string') throw new MeadowrunError(`A queue message refers to no payload: ${body.slice(0, 100)}`, 'bad-message');
    return (await this.payloads.get($payload)).toString('utf8');
  }
}

/** Deletes a map job's queues and payloads; the payloads first, so that a failure leaves the pair listed for the next clean-up. */
export async function deleteJobQueues(cloud: { queues: TaskQueues; payloads: PayloadStore }, jobId: string): Promise<void> {
  await cloud.payloads.deleteJob(jobId);
  await cloud.queues.deletePair(jobId);
}
