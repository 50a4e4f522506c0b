// A map job's request and result queues as two Azure Storage queues, `<prefix><jobId>-request` and
// `-result`. Azure Queues has no long poll: a receive that may wait polls, from 100 ms backing off
// to 1 s. A message is held under a pop receipt that changes whenever its visibility does
// (updateMessage returns the new one), so a receipt here is "<messageId> <popReceipt>". Whatever a
// receive given up (aborted, or its pair deleted here) took is put back at once. A pair's last use
// is metadata of its request queue, written at most once a minute by each process.
import { QueueClient, QueueServiceClient } from '@azure/storage-queue';
import { MeadowrunError } from '../../core/errors';
import { QueueLimits, QueueMessage, ReceiveOptions, TaskQueues } from '../ports';
import { checkReceive, checkSend, queueGone } from '../queueLimits';
import { QueuePairs } from '../queuePairs';
import { WaitingReceives } from '../waitingReceives';
import { serviceUrl, statusCode, storageErrorCode, StorageAccess } from './storage';

export const QUEUE_PREFIX = 'meadowrun-';
/** Metadata names are C# identifiers; the service returns them lower-cased. */
const LAST_USED = 'meadowrunlastused';
const POLL_FIRST_MS = 100;
const POLL_MAX_MS = 1000;
/** A character XML text cannot carry as it is (carriage returns become line feeds when parsed). */
const NOT_XML_TEXT = /[^\t\n\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

interface Received {
  messageId: string;
  popReceipt: string;
  messageText: string;
  dequeueCount: number;
}

export class QueueTaskQueues implements TaskQueues {
  /** 64 KiB of text (sent as it is, not base64); one message a send; 32 a receive; the wait is ours. */
  readonly limits: QueueLimits = { maxMessageBytes: 64 * 1024, maxBatch: 1, maxReceive: 32, maxWaitS: 20 };
  /** Queues this process deleted: refused at once, as a deleted queue may take a moment to go. */
  private readonly deleted = new Set<string>();
  private readonly receives = new WaitingReceives();
  private readonly pairs: QueuePairs;

  constructor(
    private readonly service: QueueServiceClient,
    readonly prefix = QUEUE_PREFIX,
  ) {
    this.pairs = new QueuePairs(prefix);
  }

  static open(access: StorageAccess, prefix?: string): QueueTaskQueues {
    return new QueueTaskQueues(queueServiceClient(access), prefix);
  }

  async createPair(jobId: string): Promise<{ request: string; result: string }> {
    const pair = this.pairs.names(jobId);
    // Queue names: 3-63 lower-case letters, digits and single hyphens.
    if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(jobId) || pair.request.length > 63) {
      throw new MeadowrunError(`Cannot name Azure queues for the job "${jobId}": lower-case letters, digits and single hyphens only, and short`, 'bad-message');
    }
    const metadata = { meadowrun: 'true', [LAST_USED]: String(Date.now()) };
    for (const name of [pair.request, pair.result]) {
      this.deleted.delete(name);
      await this.service.getQueueClient(name).createIfNotExists({ metadata });
    }
    this.pairs.created(jobId);
    return pair;
  }

  async send(queue: string, bodies: string[]): Promise<void> {
    checkSend(this.limits, queue, bodies);
    for (const body of bodies) {
      // Messages travel as XML text: a carriage return comes back changed, control characters and
      // lone surrogates not at all. JSON (what map jobs send) escapes every one of them.
      const bad = NOT_XML_TEXT.exec(body);
      if (bad) {
        const at = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        throw new MeadowrunError(`Cannot send to ${queue}: Azure Queues carry XML text only, and the body has U+${at} at ${bad.index} (escape it, as JSON does)`, 'bad-message');
      }
    }
    for (const body of bodies) await this.call(queue, (q) => q.sendMessage(body));
    if (bodies.length) await this.recordUse(queue);
  }

  async receive(queue: string, max: number, visibilityS: number, options: ReceiveOptions = {}): Promise<QueueMessage[]> {
    checkReceive(this.limits, max, options);
    const { givenUp, end } = this.receives.start(queue, options.signal);
    const deadline = Date.now() + (options.waitS ?? 0) * 1000;
    let pollMs = POLL_FIRST_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      if (this.deleted.has(queue)) throw queueGone(queue);
      await Promise.race([this.recordUse(queue), givenUp]);
      for (;;) {
        const request = this.call(queue, (q) => q.receiveMessages({ numberOfMessages: max, visibilityTimeout: visibilityS })).then(
          (r) => r.receivedMessageItems as Received[],
        );
        let messages: Received[];
        try {
          messages = await Promise.race([request, givenUp]);
        } catch (e) {
          // Given up while the service answers: what it hands out goes straight back.
          void request.then((m) => this.release(queue, m), () => undefined);
          throw e;
        }
        if (messages.length || Date.now() >= deadline) return messages.map(toMessage);
        await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, Math.min(pollMs, Math.max(0, deadline - Date.now()))))), givenUp]);
        pollMs = Math.min(pollMs * 2, POLL_MAX_MS);
      }
    } finally {
      clearTimeout(timer);
      end();
    }
  }

  async extendVisibility(queue: string, receipt: string, visibilityS: number): Promise<string | undefined> {
    const { messageId, popReceipt } = parseReceipt(receipt);
    try {
      const r = await this.call(queue, (q) => q.updateMessage(messageId, popReceipt, undefined, visibilityS));
      return formatReceipt(messageId, r.popReceipt!);
    } catch (e) {
      if (staleReceipt(e)) return undefined;
      throw e;
    }
  }

  async acknowledge(queue: string, receipts: string[]): Promise<void> {
    if (this.deleted.has(queue)) return;
    for (const receipt of receipts) {
      const { messageId, popReceipt } = parseReceipt(receipt);
      try {
        await this.call(queue, (q) => q.deleteMessage(messageId, popReceipt));
      } catch (e) {
        if (e instanceof MeadowrunError && e.code === 'queue-gone') return; // nothing left to acknowledge
        if (!staleReceipt(e)) throw e;
      }
    }
  }

  async deletePair(jobId: string): Promise<void> {
    const { request, result } = this.pairs.names(jobId);
    const names = [request, result];
    for (const name of names) {
      await this.service.getQueueClient(name).deleteIfExists();
      this.deleted.add(name);
    }
    this.pairs.deleted(jobId);
    // Last, with nothing awaited after: the waiting receives end as this call returns.
    this.receives.endAll(names);
  }

  async listPairs(): Promise<{ jobId: string; lastUsedAt: number }[]> {
    const jobs = new Map<string, number>();
    for await (const q of this.service.listQueues({ prefix: this.prefix, includeMetadata: true })) {
      const pair = this.pairs.parse(q.name);
      if (!pair || this.deleted.has(q.name)) continue;
      // Half a pair, or a queue without the metadata: as old as can be.
      const lastUsed = pair.side === 'request' ? Number(q.metadata?.[LAST_USED] ?? 0) || 0 : 0;
      jobs.set(pair.jobId, Math.max(jobs.get(pair.jobId) ?? 0, lastUsed));
    }
    return [...jobs].map(([jobId, lastUsedAt]) => ({ jobId, lastUsedAt }));
  }

  /** A call on `queue`, its "does not exist" turned into our queue-gone. */
  private async call<T>(queue: string, send: (q: QueueClient) => Promise<T>): Promise<T> {
    if (this.deleted.has(queue)) throw queueGone(queue);
    try {
      return await send(this.service.getQueueClient(queue));
    } catch (e) {
      if (storageErrorCode(e) === 'QueueNotFound' || storageErrorCode(e) === 'QueueBeingDeleted') throw queueGone(queue);
      throw e;
    }
  }

  /** Records the pair's use in its request queue's metadata, when due (QueuePairs.useDue). */
  private async recordUse(queue: string): Promise<void> {
    const due = this.pairs.useDue(queue);
    if (!due) return;
    await this.call(due.request, (q) => q.setMetadata({ meadowrun: 'true', [LAST_USED]: String(due.at) }));
  }

  private async release(queue: string, messages: Received[]): Promise<void> {
    if (this.deleted.has(queue)) return;
    for (const m of messages) {
      await this.call(queue, (q) => q.updateMessage(m.messageId, m.popReceipt, undefined, 0)).catch((e) => {
        if (!(e instanceof MeadowrunError && e.code === 'queue-gone') && !staleReceipt(e)) {
          console.warn(`meadowrun: could not put back a message of ${queue}: ${(e as Error).message}`);
        }
      });
    }
  }
}

export function queueServiceClient(access: StorageAccess): QueueServiceClient {
  return access.connectionString !== undefined
    ? QueueServiceClient.fromConnectionString(access.connectionString)
    : new QueueServiceClient(serviceUrl(access.account, 'queue', access.endpoints), access.credential);
}

/** A pop receipt that no longer holds its message: deleted, or received again under a new one. */
function staleReceipt(e: unknown): boolean {
  const code = storageErrorCode(e);
  return code === 'MessageNotFound' || code === 'PopReceiptMismatch' || (statusCode(e) === 404 && code !== 'QueueNotFound');
}

function formatReceipt(messageId: string, popReceipt: string): string {
  return `${messageId} ${popReceipt}`;
}

function parseReceipt(receipt: string): { messageId: string; popReceipt: string } {
  const space = receipt.indexOf(' ');
  if (space < 0) throw new MeadowrunError(`Not a receipt of an Azure queue message: ${receipt.slice(0, 40)}`, 'bad-message');
  return { messageId: receipt.slice(0, space), popReceipt: receipt.slice(space + 1) };
}

function toMessage(m: Received): QueueMessage {
  return { receipt: formatReceipt(m.messageId, m.popReceipt), body: m.messageText, receiveCount: m.dequeueCount };
}
