// The small framed protocol between the client and the resident agent on an instance, over the
// stdin/stdout of one SSH exec channel: each frame is a 4-byte big-endian length and a JSON body.
// Shared by both ends so that they can't disagree.

import type { ImageSpec } from '../core/containers';
import type { DeploymentChoice, EnvironmentEvent, EnvironmentSpec } from '../core/deployment';
import type { GitSource } from '../core/git';
import type { ErrorCode } from '../core/errors';

export const PROTOCOL_VERSION = 1;

/** Payloads larger than this travel over SFTP instead of inline in a frame. */
export const INLINE_LIMIT = 1 << 20;

export type StreamName = 'stdout' | 'stderr';

/** What a job runs: a Python file as a script, or a function with arguments. */
export type JobSpec =
  | { kind: 'command'; file: string; args: string[] }
  | { kind: 'function'; target: string; args: string; kwargs?: string }
  /** A map's arguments as a Python expression, evaluated on the instance. */
  | { kind: 'args'; expr: string }
  /** A map worker: runs `target` on tasks from the request queue until told to shut down; `jobId` is the map's, which names its payloads. */
  | { kind: 'map'; jobId: string; target: string; queues: { request: string; result: string }; visibilityS: number; maxAttempts: number };

export interface RunRequest {
  t: 'run';
  jobId: string;
  spec: JobSpec;
  /** Project directory on the instance, relative to the work directory. */
  project: string;
  interpreter: string;
  /** Libraries the job needs: the agent runs it in a virtual environment made from `interpreter` with them (built once per content hash). */
  environment?: EnvironmentSpec;
  /** Code from a git repository, fetched on the instance and run in place of the synced `project`. */
  git?: GitSource;
  /** With `git` and no `environment`: where the libraries come from, read from the repository's files on the instance. */
  deployment?: { choice: DeploymentChoice; index: { indexUrl?: string; extraIndexUrls?: string[]; indexSecret?: string } };
  /** A container image the job runs in instead (with `interpreter` inside it), the project's folder mounted. */
  image?: ImageSpec;
  env: Record<string, string>;
  /** The job log is kept under this size: past it, the older half is dropped (default: DEFAULT_LOG_CAP_BYTES). */
  logCapBytes?: number;
}

export const DEFAULT_LOG_CAP_BYTES = 100 * 1024 * 1024;

export interface FileEntry {
  path: string;
  hash: string;
}

export type ClientMessage =
  | { t: 'hello' }
  | { t: 'sync'; id: number; jobId: string; project: string; files: FileEntry[] }
  /** Changed files as a gzipped tar: inline when small, else a path uploaded over SFTP. */
  | { t: 'sync-put'; id: number; project: string; files: FileEntry[]; tarBase64?: string; tarPath?: string }
  | RunRequest
  | { t: 'cancel'; jobId: string };

export interface FunctionValue {
  /** repr() of the value; a long one is cut, ending in "… [truncated, N characters total]". */
  repr: string;
  /** JSON text, when the value is JSON-serialisable and small enough to travel inline. */
  json?: string;
  /** pickle protocol 4, base64, when small enough to travel inline. */
  pickle?: string;
  /**
   * A pickle too large to travel inline: a file holding it. The agent reports the file on the
   * instance; the client fetches it and returns the path of its local copy, which the caller owns.
   */
  pickleFile?: string;
  pickleBytes?: number;
  /** Why there is no pickle, when the value can't be pickled. */
  pickleError?: string;
}

export interface RemoteException {
  type: string;
  message: string;
  traceback: string;
}

export type JobOutcome =
  | { status: 'succeeded'; value?: FunctionValue; exitCode?: number }
  | { status: 'exited'; exitCode: number }
  | { status: 'failed'; error: RemoteException }
  /** The function returned, but its value could not be turned into a result (its repr raised, say). */
  | { status: 'unserializable'; message: string; error: RemoteException }
  /** The user's input was wrong (no such function, syntax error, bad arguments): one line for the user. */
  | { status: 'rejected'; message: string; code: ErrorCode }
  | { status: 'crashed'; message: string; signal?: string; exitCode?: number }
  | { status: 'cancelled' };

export type AgentMessage =
  | { t: 'hello'; version: number; pid: number }
  /**
   * The files the agent lacks, and where to upload them when they are too big to send inline;
   * when `upToDate`, the instance already has exactly the client's files and no sync-put follows.
   */
  | { t: 'sync-need'; id: number; paths: string[]; upToDate: boolean; uploadPath: string }
  | { t: 'sync-done'; id: number }
  /** The job's environment is being built (its installer's output line by line), was built, or was already there. */
  | { t: 'environment'; jobId: string; event: EnvironmentEvent }
  /** `commit`: the commit of the job's code from git (`git`), which the rest of a map then asks for. */
  | { t: 'started'; jobId: string; pid: number; logPath: string; commit?: string }
  | { t: 'out'; jobId: string; stream: StreamName; data: string }
  /** A map worker took these tasks off the queue and is running them. */
  | { t: 'map-claimed'; jobId: string; tasks: number[] }
  /** The outcome inline, or (when large) the path of a file holding it, for the client to fetch over SFTP. */
  | { t: 'done'; jobId: string; outcome?: JobOutcome; outcomePath?: string }
  /**
   * A request (`id`) or a job (`jobId`) failed on the agent: the client rejects exactly that one.
   * With neither, the agent can't understand this client any more and closes the channel.
   */
  | { t: 'error'; id?: number; jobId?: string; message: string };

/** What an error reply to `m` names, so that the client rejects that request or job and nothing else. */
export function replyKey(m: ClientMessage): { id?: number; jobId?: string } {
  if ('id' in m) return { id: m.id };
  if (m.t === 'hello') return { id: HELLO_ID };
  if ('jobId' in m) return { jobId: m.jobId };
  return {};
}

/** The greeting has no id of its own: its reply (or error) is matched by this one. */
export const HELLO_ID = 0;

/** Whether a decoded frame is a message at all (an object with a type); what type is the receiver's to judge. */
export function isMessage(value: unknown): value is { t: string } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as { t?: unknown }).t === 'string';
}

/** Thrown for a frame that breaks the protocol: the stream can't be trusted after it. */
export class FrameError extends Error {}

export function encodeFrame(message: ClientMessage | AgentMessage): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  if (body.length > MAX_FRAME) throw new FrameError(`a "${message.t}" message of ${body.length} bytes is over the ${MAX_FRAME}-byte frame limit`);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/** No frame is larger than this: a peer that says otherwise is broken, and is not believed. */
export const MAX_FRAME = 64 << 20;

/** How long the client waits for the agent to answer a request (a sync of a large project included). */
export const REQUEST_TIMEOUT_MS = 120_000;
/** … and for its greeting: a live agent answers at once. */
export const HELLO_TIMEOUT_MS = 30_000;

/** Turns a byte stream into whole frames, however the stream happens to be chunked. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private length = 0;

  /** Throws on a malformed frame: the stream can't be trusted after that. */
  push(chunk: Buffer): unknown[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const messages: unknown[] = [];
    while (this.length >= 4) {
      // Join the pieces only once a whole frame is there, so a large frame is not copied per piece.
      if (this.chunks[0].length < 4) this.join();
      const size = this.chunks[0].readUInt32BE(0);
      if (size > MAX_FRAME) throw new FrameError(`a frame of ${size} bytes is over the ${MAX_FRAME}-byte limit`);
      if (this.length < 4 + size) break;
      if (this.chunks[0].length < 4 + size) this.join();
      const head = this.chunks[0];
      const text = head.subarray(4, 4 + size).toString('utf8');
      try {
        messages.push(JSON.parse(text));
      } catch (e) {
        throw new FrameError(`a frame that is not JSON (${(e as Error).message}): ${JSON.stringify(text.slice(0, 60))}`);
      }
      const rest = head.subarray(4 + size);
      this.length -= 4 + size;
      if (rest.length) this.chunks[0] = rest;
      else this.chunks.shift();
    }
    return messages;
  }

  private join(): void {
    this.chunks = [Buffer.concat(this.chunks)];
  }
}
