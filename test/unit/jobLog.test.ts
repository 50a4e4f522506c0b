// The per-job log on an instance: capped, keeping the newest output.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { JobLog } from '../../src/agent/jobLog';
import { tempDir } from '../support/tempDir';

const MB = 1024 * 1024;

test('a log under its cap keeps everything', async () => {
  const file = path.join(tempDir('joblog'), 'a.log');
  const log = new JobLog(file, MB);
  log.append('one\n');
  log.append(Buffer.from('two\n'));
  await log.close();
  assert.equal(fs.readFileSync(file, 'utf8'), 'one\ntwo\n');
});

test('past the cap the newest half is kept, even when one write is larger than the cap', async () => {
  const file = path.join(tempDir('joblog'), 'b.log');
  const log = new JobLog(file, MB);
  log.append(Buffer.alloc(MB - 10, 'a'));
  await log.flushed();
  // One piece three times the cap, ending in something recognisable.
  log.append(Buffer.concat([Buffer.alloc(3 * MB, 'b'), Buffer.from('THE END\n')]));
  await log.close();
  const text = fs.readFileSync(file, 'utf8');
  const [header, body] = [text.slice(0, text.indexOf('\n') + 1), text.slice(text.indexOf('\n') + 1)];
  assert.equal(header, `[meadowrun] the log is capped at 1 MB: ${MB - 10 + 3 * MB + 8 - MB / 2} bytes of earlier output were dropped\n`);
  assert.equal(body.length, MB / 2);
  assert.ok(body.endsWith('bbbbTHE END\n'));
  assert.ok(fs.statSync(file).size <= MB);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});
