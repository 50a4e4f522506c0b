// The framed protocol between client and agent when something goes wrong: an error reply fails
// exactly the request it answers, a silent agent times a request out, and a malformed or oversized
// frame closes the channel with one clear error, on either end.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { test } from 'node:test';
import { AgentServer } from '../../src/agent/serve';
import { MeadowrunError } from '../../src/core/errors';
import { Logger } from '../../src/core/logger';
import { AgentSession } from '../../src/remote/agentSession';
import { SshConnection } from '../../src/remote/connection';
import { AgentMessage, encodeFrame, FrameDecoder, FrameError, MAX_FRAME } from '../../src/remote/protocol';
import { MemoryAllocationTable } from '../support/memoryAllocationTable';
import { tempDir } from '../support/tempDir';
import { waitFor } from '../support/localCloud';

// The session needs its SSH connection only for SFTP and to know it is open.
const connection = { isOpen: true } as unknown as SshConnection;

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => void lines.push(`${level} ${m}`);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A client session whose agent is played by the test: it reads what the client sent, and writes what it likes. */
function withFakeAgent(options: { requestTimeoutMs?: number } = {}) {
  const toAgent = new PassThrough();
  const fromAgent = new PassThrough();
  const log = recordingLog();
  const session = new AgentSession(connection, Duplex.from({ readable: fromAgent, writable: toAgent }), 'local-test', false, { log, ...options });
  const decoder = new FrameDecoder();
  const received: unknown[] = [];
  toAgent.on('data', (c: Buffer) => received.push(...decoder.push(c)));
  return { session, fromAgent, received, log };
}

function frameHeader(size: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(size, 0);
  return b;
}

const isCode = (code: string, message?: RegExp) => (e: unknown) => e instanceof MeadowrunError && e.code === code && (!message || message.test(e.message));

test('the decoder refuses a frame over the limit and a frame that is not JSON, however it is chunked', () => {
  assert.throws(() => new FrameDecoder().push(frameHeader(MAX_FRAME + 1)), (e: unknown) => e instanceof FrameError && /over the \d+-byte limit/.test((e as Error).message));
  const body = Buffer.from('{"t": "hel');
  const decoder = new FrameDecoder();
  assert.deepEqual(decoder.push(Buffer.concat([frameHeader(body.length), body]).subarray(0, 6)), []);
  assert.throws(() => decoder.push(body.subarray(2)), (e: unknown) => e instanceof FrameError && /not JSON/.test((e as Error).message));
  const ok = encodeFrame({ t: 'hello' });
  assert.deepEqual(new FrameDecoder().push(ok), [{ t: 'hello' }]);
});

test('a message too large for one frame is refused when sent, and the channel goes on', async () => {
  const { session, fromAgent, received } = withFakeAgent();
  const huge = 'x'.repeat(MAX_FRAME);
  await assert.rejects(
    session.request({ t: 'sync-put', id: session.newRequestId(), project: 'p', files: [], tarBase64: huge }),
    isCode('protocol', /over the \d+-byte frame limit/),
  );
  assert.equal(session.isOpen, true);
  const hello = session.request({ t: 'hello' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(received, [{ t: 'hello' }], 'nothing of the refused message went out');
  fromAgent.write(encodeFrame({ t: 'hello', version: 1, pid: 1 }));
  assert.equal(((await hello) as AgentMessage).t, 'hello');
});

test('a malformed frame from the agent fails every waiting request and job with one clear error, and closes the channel', async () => {
  const { session, fromAgent, log } = withFakeAgent();
  const request = session.request({ t: 'sync', id: session.newRequestId(), jobId: 'j1', project: 'p', files: [] });
  const job = session.runJob({ t: 'run', jobId: 'j2', spec: { kind: 'command', file: 'a.py', args: [] }, project: 'p', interpreter: 'python3', env: {} }, {});
  const garbage = Buffer.from('not json at all');
  fromAgent.write(Buffer.concat([frameHeader(garbage.length), garbage]));
  const expected = isCode('protocol', /^The agent on instance local-test sent a frame that is not JSON .*; the connection to it is closed$/);
  await assert.rejects(request, expected);
  await assert.rejects(job, expected);
  assert.equal(session.isOpen, false);
  assert.ok(log.lines.some((l) => l.startsWith('error The agent on instance local-test sent a frame that is not JSON')), log.lines.join('\n'));
  await assert.rejects(session.request({ t: 'hello' }), isCode('agent-lost'), 'a closed session refuses new requests');
});

test('an oversized frame from the agent closes the channel before anything is buffered', async () => {
  const { session, fromAgent } = withFakeAgent();
  const request = session.request({ t: 'hello' });
  fromAgent.write(frameHeader(MAX_FRAME + 1));
  await assert.rejects(request, isCode('protocol', /sent a frame of \d+ bytes is over the \d+-byte limit/));
  assert.equal(session.isOpen, false);
});

test('a frame that is JSON but no message also closes the channel', async () => {
  const { session, fromAgent } = withFakeAgent();
  const request = session.request({ t: 'hello' });
  const body = Buffer.from('[1, 2]');
  fromAgent.write(Buffer.concat([frameHeader(body.length), body]));
  await assert.rejects(request, isCode('protocol', /not a message/));
});

test('an error reply fails exactly the request (or job) it names; the others go on', async () => {
  const { session, fromAgent } = withFakeAgent();
  const a = session.newRequestId();
  const b = session.newRequestId();
  const first = session.request({ t: 'sync', id: a, jobId: 'ja', project: 'p', files: [] });
  const second = session.request({ t: 'sync', id: b, jobId: 'jb', project: 'p', files: [] });
  const job = session.runJob({ t: 'run', jobId: 'j3', spec: { kind: 'command', file: 'a.py', args: [] }, project: 'p', interpreter: 'python3', env: {} }, {});
  fromAgent.write(encodeFrame({ t: 'error', id: b, message: 'no room on disk' }));
  await assert.rejects(second, isCode('agent-error', /^Instance local-test: no room on disk$/));
  fromAgent.write(encodeFrame({ t: 'sync-need', id: a, paths: [], upToDate: true, uploadPath: '/x' }));
  assert.equal(((await first) as AgentMessage).t, 'sync-need');
  fromAgent.write(encodeFrame({ t: 'error', jobId: 'j3', message: 'could not free it' }));
  await assert.rejects(job, isCode('agent-error', /could not free it/));
  assert.equal(session.isOpen, true);
});

test('a request the agent never answers times out alone; a late reply to it is ignored', async () => {
  const { session, fromAgent } = withFakeAgent({ requestTimeoutMs: 50 });
  const id = session.newRequestId();
  await assert.rejects(session.request({ t: 'sync', id, jobId: 'j', project: 'p', files: [] }), isCode('timeout', /did not answer "sync" within 0\.05 s/));
  fromAgent.write(encodeFrame({ t: 'sync-need', id, paths: [], upToDate: true, uploadPath: '/x' }));
  const hello = session.request({ t: 'hello' }, 10_000);
  fromAgent.write(encodeFrame({ t: 'hello', version: 1, pid: 1 }));
  assert.equal(((await hello) as AgentMessage).t, 'hello');
  assert.equal(session.isOpen, true);
});

/** A real agent (in this process) and a client session, joined by a pair of streams. */
function withAgent() {
  const workDir = tempDir('agent-protocol');
  const log = recordingLog();
  const agent = new AgentServer({ workDir, instanceId: 'local-test', table: new MemoryAllocationTable(), log });
  const toAgent = new PassThrough();
  const fromAgent = new PassThrough();
  let gone = false;
  agent.attach(toAgent, fromAgent, () => (gone = true));
  const clientLog = recordingLog();
  const session = new AgentSession(connection, Duplex.from({ readable: fromAgent, writable: toAgent }), 'local-test', false, { log: clientLog });
  return { agent, session, toAgent, fromAgent, log, clientLog, workDir, gone: () => gone };
}

test('the agent answers a failed request with its id: of two concurrent requests, exactly that one fails', async () => {
  const { session, workDir } = withAgent();
  await session.greet();
  const good = session.request({ t: 'sync', id: session.newRequestId(), jobId: 'good', project: 'p', files: [{ path: 'a.py', hash: 'h' }] });
  // `files` that are not a list make the agent's handler throw: its error reply must name this request.
  const bad = session.request({ t: 'sync', id: session.newRequestId(), jobId: 'bad', project: 'p', files: null as never });
  const badPut = session.request({ t: 'sync-put', id: session.newRequestId(), project: 'p', files: [], tarPath: path.join(workDir, 'missing.tar.gz') });
  await assert.rejects(bad, isCode('agent-error'));
  await assert.rejects(badPut, isCode('agent-error', /could not unpack the project/));
  const reply = (await good) as AgentMessage & { t: 'sync-need' };
  assert.equal(reply.t, 'sync-need');
  assert.deepEqual(reply.paths, ['a.py']);
  assert.equal(session.isOpen, true);
});

test('a malformed frame to the agent: it says why, without an id, and closes that client only', async () => {
  const { session, toAgent, fromAgent, log, clientLog, gone } = withAgent();
  await session.greet();
  const ended = new Promise((resolve) => fromAgent.once('end', resolve));
  const garbage = Buffer.from('{oops');
  toAgent.write(Buffer.concat([frameHeader(garbage.length), garbage]));
  await ended;
  assert.equal(session.isOpen, false);
  assert.ok(
    clientLog.lines.some((l) => /^error The agent on instance local-test closed the channel: the client sent a frame that is not JSON .*; the connection to it is closed$/.test(l)),
    clientLog.lines.join('\n'),
  );
  await waitFor('the agent to let the client go', gone);
  assert.ok(log.lines.some((l) => /^warn A client sent a frame that is not JSON/.test(l)), log.lines.join('\n'));
});
