// The messages on a map job's queues, written and read by both the client (jobs/runMap.ts) and the
// agent's map workers (agent/mapWorker.ts): one definition so that the two can't disagree.

/** A message on a map job's request queue: a batch of tasks, or the order to stop. */
export type RequestMessage = { shutdown: true } | { tasks: { task: number; attempt: number; arg: SerializedValue }[] };

/** A message on the result queue: the results of one request message. */
export interface ResultMessage {
  workerId: string;
  results: TaskResult[];
}

export interface SerializedValue {
  json?: string;
  pickle?: string;
  repr?: string;
}

export type TaskResult =
  | { task: number; attempt: number; ok: true; value: SerializedValue }
  | { task: number; attempt: number; ok: false; error: { type: string; message: string; traceback: string } };
