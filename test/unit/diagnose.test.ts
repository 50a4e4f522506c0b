// What a failure says and offers, and remote tracebacks made local: the pure parts of diagnosing
// a failed job (the editor and the CLI build on these).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { atStage, describeError, errorActions, MeadowrunError } from '../../src/core/errors';
import { deepestFrameUnder, LineRewriter, localizePaths, parseTraceback, syntaxErrorLocation } from '../../src/core/tracebacks';
import { preflight } from '../../src/jobs/preflight';
import { tempDir } from '../support/tempDir';

test('atStage names the stage and instance of an error, keeping its code, and keeps the innermost stage', async () => {
  const e = await atStage('sync', 'local-1', () => Promise.reject(new MeadowrunError('the disk is full', 'sync'))).catch((x) => x);
  assert.ok(e instanceof MeadowrunError);
  assert.equal(e.code, 'sync');
  assert.equal(e.stage, 'sync');
  assert.equal(e.instanceId, 'local-1');
  assert.equal(describeError(e), 'sync failed on local-1: the disk is full');
  const outer = await atStage('run', 'local-2', () => atStage('check', undefined, () => { throw new MeadowrunError('bad', 'bad-arguments'); })).catch((x) => x);
  assert.equal(outer.stage, 'check', 'the stage where it happened wins');
  assert.equal(outer.instanceId, 'local-2');
});

test('an error that is not ours becomes "internal", its stack kept in the cause; an abort becomes "cancelled"', async () => {
  const bug = new TypeError('x is undefined');
  const e = await atStage('start', 'local-1', () => { throw bug; }).catch((x) => x);
  assert.ok(e instanceof MeadowrunError);
  assert.equal(e.code, 'internal');
  assert.equal(e.cause, bug);
  assert.equal(describeError(e), 'start failed on local-1: x is undefined');
  const aborted = await atStage('launch', undefined, () => AbortSignal.abort().throwIfAborted()).catch((x) => x);
  assert.equal(aborted.code, 'cancelled');
  assert.equal(describeError(aborted), 'Cancelled');
});

test('the instance is not named twice when the message already names it', () => {
  const e = new MeadowrunError('Cannot reach instance local-7 at 127.0.0.1:2222', 'unreachable', { stage: 'sync', instanceId: 'local-7' });
  assert.equal(describeError(e), 'sync failed: Cannot reach instance local-7 at 127.0.0.1:2222');
  assert.equal(describeError(new MeadowrunError('plain')), 'plain');
});

test('each kind of failure offers its action, and every failure offers the log', () => {
  assert.deepEqual(errorActions('no-fit'), ['set-resources', 'show-log']);
  assert.deepEqual(errorActions('bad-resources'), ['set-resources', 'show-log']);
  assert.deepEqual(errorActions('syntax-error', { file: '/p/a.py', line: 3 }), ['go-to-line', 'show-log']);
  assert.deepEqual(errorActions('syntax-error'), ['show-log'], 'no line to go to');
  assert.deepEqual(errorActions('bad-arguments'), ['edit-arguments', 'show-log']);
  assert.deepEqual(errorActions('unreachable'), ['show-log']);
});

test('a syntax error found before launch carries its file and line', async () => {
  const dir = tempDir('diagnose');
  const file = path.join(dir, 'bad.py');
  fs.writeFileSync(file, 'x = 1\n\ndef f(:\n    pass\n');
  const e = await preflight({ kind: 'command', localFile: file, displayName: 'bad.py' }).catch((x) => x);
  assert.equal(e.code, 'syntax-error');
  assert.equal(e.stage, 'check');
  assert.deepEqual(e.location, { file, line: 3 });
  assert.deepEqual(syntaxErrorLocation(e.message), { file: 'bad.py', line: 3 });
});

const remote = '/home/u/.meadowrun/instances/local-1/work/projects/analysis-1a2b3c4d';
const traceback = [
  'Traceback (most recent call last):',
  `  File "${remote}/run.py", line 4, in <module>`,
  '    main()',
  `  File "${remote}/analysis/stats.py", line 12, in mean`,
  '    return total / len(values)',
  '           ~~~~~~^~~~~~~~~~~~~',
  '  File "/usr/lib/python3.11/statistics.py", line 300, in _sum',
  '    raise StatisticsError()',
  'ZeroDivisionError: division by zero',
  '',
].join('\n');

test('instance paths in a traceback become the workspace files, and nothing else changes', () => {
  const local = localizePaths(traceback, remote, '/Users/me/analysis/');
  assert.match(local, /File "\/Users\/me\/analysis\/analysis\/stats\.py", line 12, in mean/);
  assert.match(local, /File "\/Users\/me\/analysis\/run\.py", line 4/);
  assert.match(local, /File "\/usr\/lib\/python3\.11\/statistics\.py"/);
  assert.ok(!local.includes(remote));
  assert.equal(localizePaths(`${remote}-other/x.py`, remote, '/l'), `${remote}-other/x.py`, 'a sibling folder is not the project');
});

test('a path split between two pieces of streamed output is still rewritten', () => {
  const r = new LineRewriter((t) => localizePaths(t, remote, '/l'));
  const text = `  File "${remote}/analysis/stats.py", line 12\nok\npartial`;
  const cut = 20;
  const out = r.push(text.slice(0, cut)) + r.push(text.slice(cut)) + r.flush();
  assert.equal(out, '  File "/l/analysis/stats.py", line 12\nok\npartial');
  assert.equal(r.push('no newline yet'), '', 'an unfinished line waits');
  assert.equal(r.flush(), 'no newline yet');
});

test('the failing line is the innermost frame in the project, and the exception its last traceback', () => {
  const parsed = parseTraceback(localizePaths(traceback, remote, '/l'))!;
  assert.equal(parsed.frames.length, 3);
  assert.equal(parsed.exception, 'ZeroDivisionError: division by zero');
  assert.deepEqual(deepestFrameUnder(parsed, '/l'), { file: '/l/analysis/stats.py', line: 12, function: 'mean' });
  assert.equal(deepestFrameUnder(parsed, '/elsewhere'), undefined);
  const chained = `${traceback}\nThe above exception was the direct cause of the following exception:\n\nTraceback (most recent call last):\n  File "/l/run.py", line 9, in <module>\n    raise KeyError(1)\nKeyError: 1\n`;
  assert.deepEqual(parseTraceback(chained), { frames: [{ file: '/l/run.py', line: 9, function: '<module>' }], exception: 'KeyError: 1' });
  assert.equal(parseTraceback('no traceback here'), undefined);
});
