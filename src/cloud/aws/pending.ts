// Stand-ins for the AWS parts of map jobs that are not built yet (SQS task queues, the S3 payload
// store): single jobs never touch them; a map job on AWS is refused with one clear message.
import { MeadowrunError } from '../../core/errors';
import { PayloadStore, QueueLimits, TaskQueues } from '../ports';

const refuse = (): never => {
  throw new MeadowrunError('Map jobs on AWS need its task queues (SQS), which this version does not have yet: run the map on the local cloud', 'no-queues');
};

export const pendingQueues: TaskQueues = {
  limits: { maxMessageBytes: 256 * 1024, maxBatch: 10, maxReceive: 10, maxWaitS: 20 } satisfies QueueLimits,
  createPair: async () => refuse(),
  send: async () => refuse(),
  receive: async () => refuse(),
  extendVisibility: async () => refuse(),
  acknowledge: async () => refuse(),
  deletePair: async () => undefined,
  // Nothing to clean up: no map job ever ran.
  listPairs: async () => [],
};

export const pendingPayloads: PayloadStore = {
  put: async () => refuse(),
  get: async () => refuse(),
  deleteJob: async () => undefined,
};
