// The keys every PayloadStore implementation takes (`jobId/name`, nothing that could reach outside
// the job's place) and the errors they share, so that each refuses the same things with the same words.
import { MeadowrunError } from '../core/errors';

const NAME = /^[\w-][\w.-]*$/;

/** Refuses anything but a key `jobId/name`; returns its two parts. */
export function checkPayloadKey(key: string): [string, string] {
  const parts = key.split('/');
  if (parts.length !== 2 || !parts.every((p) => NAME.test(p))) throw badKey(key);
  return parts as [string, string];
}

/** Refuses a job id that is not a key's first part (deleteJob). */
export function checkPayloadJobId(jobId: string): void {
  if (!NAME.test(jobId)) throw badKey(jobId);
}

export function payloadGone(ref: string): MeadowrunError {
  return new MeadowrunError(`The payload ${ref} does not exist: its map job has ended or was cleaned up`, 'payload-gone');
}

function badKey(key: string): MeadowrunError {
  return new MeadowrunError(`Not a payload key: "${key}" (expected jobId/name)`, 'bad-message');
}
