// A map job's request and result queues as two SQS standard queues, `<prefix><jobId>-request` and
// `-result`. Receives long-poll; a receive given up (aborted, or its pair deleted here) is left to
// finish, and whatever it took is put back at once, so an abandoned receive takes nothing. A pair's
// last use is a tag of its request queue, written at most once a minute by each process.
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  TagQueueCommand,
} from '@aws-sdk/client-sqs';
import { MeadowrunError } from '../../core/errors';
import { QueueLimits, QueueMessage, ReceiveOptions, TaskQueues } from '../ports';
import { checkReceive, checkSend, queueGone } from '../queueLimits';
import { QueuePairs } from '../queuePairs';
import { WaitingReceives } from '../waitingReceives';
import { awsClient, AwsSettings, errorName } from './clients';
import { PREFIX } from './names';

const LAST_USED_TAG = 'meadowrun-last-used';
const GONE = new Set(['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue']);
// A receipt that no longer holds its message (acknowledged, or received again by someone else).
const STALE_RECEIPT = new Set(['ReceiptHandleIsInvalid', 'MessageNotInflight', 'InvalidParameterValue', 'AWS.SimpleQueueService.MessageNotInflight']);

export class SqsTaskQueues implements TaskQueues {
  readonly limits: QueueLimits = { maxMessageBytes: 256 * 1024, maxBatch: 10, maxReceive: 10, maxWaitS: 20 };
  private readonly urls = new Map<string, Promise<string>>();
  /** Queues this process deleted: SQS may still list or accept them for a minute. */
  private readonly deleted = new Set<string>();
  private readonly receives = new WaitingReceives();
  private readonly pairs: QueuePairs;
  /** The receipts this process received (the last few thousand): receipt → message id, and each message's latest. */
  private readonly receiptsSeen = new Map<string, string>();
  private readonly latestReceipt = new Map<string, string>();

  constructor(
    private readonly sqs: SQSClient,
    readonly prefix = PREFIX,
  ) {
    this.pairs = new QueuePairs(prefix);
  }

  static open(settings: AwsSettings, prefix?: string): SqsTaskQueues {
    return new SqsTaskQueues(awsClient(SQSClient, settings), prefix);
  }

  async createPair(jobId: string): Promise<{ request: string; result: string }> {
    const pair = this.pairs.names(jobId);
    if (!/^[\w-]+$/.test(jobId) || pair.request.length > 80) {
      throw new MeadowrunError(`Cannot name SQS queues for the job "${jobId}": letters, digits, - and _ only, and short`, 'bad-message');
    }
    const tags = { meadowrun: 'true', [LAST_USED_TAG]: String(Date.now()) };
    for (const name of [pair.request, pair.result]) {
      this.deleted.delete(name);
      const { QueueUrl } = await this.sqs.send(new CreateQueueCommand({ QueueName: name, tags }));
      this.urls.set(name, Promise.resolve(QueueUrl!));
    }
    this.pairs.created(jobId);
    return pair;
  }

  async send(queue: string, bodies: string[]): Promise<void> {
    checkSend(this.limits, queue, bodies);
    if (!bodies.length) return;
    const url = await this.url(queue);
    let entries = bodies.map((MessageBody, i) => ({ Id: String(i), MessageBody }));
    // A batch can fail in part (SQS's own trouble): those entries are sent once more.
    for (let attempt = 1; entries.length; attempt++) {
      const { Failed } = await this.call(queue, () => this.sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries })));
      if (!Failed?.length) break;
      if (attempt === 2 || Failed.some((f) => f.SenderFault)) {
        throw new MeadowrunError(`SQS refused ${Failed.length} of the messages sent to ${queue}: ${Failed[0].Code} ${Failed[0].Message ?? ''}`.trim());
      }
      const failed = new Set(Failed.map((f) => f.Id));
      entries = entries.filter((e) => failed.has(e.Id));
    }
    await this.recordUse(queue);
  }

  async receive(queue: string, max: number, visibilityS: number, options: ReceiveOptions = {}): Promise<QueueMessage[]> {
    checkReceive(this.limits, max, options);
    const { givenUp, end } = this.receives.start(queue, options.signal);
    let request: Promise<Message[]> | undefined;
    try {
      const url = await Promise.race([this.url(queue), givenUp]);
      await Promise.race([this.recordUse(queue), givenUp]);
      request = this.call(queue, () =>
        this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: max,
            VisibilityTimeout: visibilityS,
            WaitTimeSeconds: options.waitS ?? 0,
            AttributeNames: ['All'], // moto reads only this older name
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
        ),
      ).then((r) => r.Messages ?? []);
      const messages = await Promise.race([request, givenUp]);
      for (const m of messages) this.remember(m);
      return toMessages(messages);
    } catch (e) {
      // Given up while SQS still waits: what it hands out later goes straight back.
      void request?.then((messages) => this.release(queue, messages), () => undefined);
      throw e;
    } finally {
      end();
    }
  }

  async extendVisibility(queue: string, receipt: string, visibilityS: number): Promise<string | undefined> {
    // A receipt of a message this process has since received again no longer holds it (moto would
    // still accept the old one).
    const id = this.receiptsSeen.get(receipt);
    if (id !== undefined && this.latestReceipt.get(id) !== receipt) return undefined;
    const url = await this.url(queue);
    try {
      await this.call(queue, () => this.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: receipt, VisibilityTimeout: visibilityS })));
      return receipt; // SQS keeps a receipt for as long as it holds the message
    } catch (e) {
      if (STALE_RECEIPT.has(errorName(e))) return undefined;
      throw e;
    }
  }

  async acknowledge(queue: string, receipts: string[]): Promise<void> {
    if (!receipts.length || this.deleted.has(queue)) return;
    const url = await this.url(queue);
    for (let i = 0; i < receipts.length; i += 10) {
      const entries = receipts.slice(i, i + 10).map((ReceiptHandle, j) => ({ Id: String(j), ReceiptHandle }));
      let failed;
      try {
        ({ Failed: failed } = await this.call(queue, () => this.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: entries }))));
      } catch (e) {
        if (e instanceof MeadowrunError && e.code === 'queue-gone') return; // nothing left to acknowledge
        throw e;
      }
      const real = (failed ?? []).filter((f) => !STALE_RECEIPT.has(f.Code ?? ''));
      if (real.length) throw new MeadowrunError(`SQS could not delete ${real.length} messages of ${queue}: ${real[0].Code} ${real[0].Message ?? ''}`.trim());
    }
  }

  async deletePair(jobId: string): Promise<void> {
    const { request, result } = this.pairs.names(jobId);
    const names = [request, result];
    for (const name of names) {
      try {
        await this.sqs.send(new DeleteQueueCommand({ QueueUrl: await this.url(name) }));
      } catch (e) {
        if (!(e instanceof MeadowrunError && e.code === 'queue-gone') && !GONE.has(errorName(e))) throw e;
      }
      this.deleted.add(name);
      this.urls.delete(name);
    }
    this.pairs.deleted(jobId);
    // Last, with nothing awaited after: the waiting receives end as this call returns.
    this.receives.endAll(names);
  }

  async listPairs(): Promise<{ jobId: string; lastUsedAt: number }[]> {
    const jobs = new Map<string, string | undefined>(); // job → its request queue's URL, when there is one
    let NextToken: string | undefined;
    do {
      const page = await this.sqs.send(new ListQueuesCommand({ QueueNamePrefix: this.prefix, MaxResults: 1000, NextToken }));
      for (const url of page.QueueUrls ?? []) {
        const name = url.slice(url.lastIndexOf('/') + 1);
        const pair = this.pairs.parse(name);
        if (!pair || this.deleted.has(name)) continue;
        if (pair.side === 'request') jobs.set(pair.jobId, url);
        else if (!jobs.has(pair.jobId)) jobs.set(pair.jobId, undefined);
      }
      NextToken = page.NextToken;
    } while (NextToken);
    const pairs = [];
    for (const [jobId, url] of jobs) {
      let lastUsedAt = 0; // half a pair, or a queue without the tag: as old as can be
      if (url) {
        try {
          lastUsedAt = Number((await this.sqs.send(new ListQueueTagsCommand({ QueueUrl: url }))).Tags?.[LAST_USED_TAG] ?? 0) || 0;
        } catch (e) {
          if (GONE.has(errorName(e))) continue; // deleted since it was listed
          throw e;
        }
      }
      pairs.push({ jobId, lastUsedAt });
    }
    return pairs;
  }

  private url(queue: string): Promise<string> {
    if (this.deleted.has(queue)) return Promise.reject(queueGone(queue));
    let url = this.urls.get(queue);
    if (!url) {
      url = this.call(queue, () => this.sqs.send(new GetQueueUrlCommand({ QueueName: queue }))).then((r) => r.QueueUrl!);
      this.urls.set(queue, url);
      url.catch(() => this.urls.delete(queue));
    }
    return url;
  }

  /** An SQS call on `queue`, its "does not exist" turned into our queue-gone. */
  private async call<T>(queue: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (e) {
      if (GONE.has(errorName(e))) {
        this.urls.delete(queue);
        throw queueGone(queue);
      }
      throw e;
    }
  }

  private remember(m: Message): void {
    this.receiptsSeen.set(m.ReceiptHandle!, m.MessageId!);
    this.latestReceipt.delete(m.MessageId!); // re-inserted last: the oldest go first
    this.latestReceipt.set(m.MessageId!, m.ReceiptHandle!);
    for (const map of [this.receiptsSeen, this.latestReceipt]) {
      while (map.size > 5000) map.delete(map.keys().next().value!);
    }
  }

  /** Records the pair's use in its request queue's tag, when due (QueuePairs.useDue). */
  private async recordUse(queue: string): Promise<void> {
    const due = this.pairs.useDue(queue);
    if (!due) return;
    const { request, at } = due;
    await this.call(request, async () => this.sqs.send(new TagQueueCommand({ QueueUrl: await this.url(request), Tags: { [LAST_USED_TAG]: String(at) } })));
  }

  private async release(queue: string, messages: Message[]): Promise<void> {
    if (!messages.length || this.deleted.has(queue)) return;
    const url = await this.url(queue);
    const Entries = messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 }));
    await this.sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries })).catch((e) => {
      if (!GONE.has(errorName(e))) console.warn(`meadowrun: could not put back ${messages.length} messages of ${queue}: ${(e as Error).message}`);
    });
  }
}

function toMessages(messages: Message[] | undefined): QueueMessage[] {
  return (messages ?? []).map((m) => ({
    receipt: m.ReceiptHandle!,
    body: m.Body ?? '',
    receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
  }));
}
