// The zip the AWS management installer deploys: the same files always make the same bytes (Lambda's
// CodeSha256 then says whether the deployed code is the bundled one), and another reader (Python's
// zipfile) reads back what was written, names, contents and permissions.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { test } from 'node:test';
import { crc32, unzip, zip } from '../../src/cloud/zip';
import { scheduleFor } from '../../src/cloud/aws/management/installer';
import { tempDir } from '../support/tempDir';

const entries = () => [
  { name: 'index.js', data: Buffer.from('exports.handler = async () => 42;\n'.repeat(500)) },
  { name: 'lib/rand.bin', data: crypto.randomBytes(70_000), mode: 0o755 },
  { name: 'empty.txt', data: Buffer.alloc(0) },
];

test('the same files make the same zip, and it reads back entry by entry', () => {
  const files = entries();
  const a = zip(files);
  assert.deepEqual(zip(files), a, 'deterministic: no time or order changes the bytes');
  assert.deepEqual(
    unzip(a).map((e) => [e.name, e.data, e.mode]),
    files.map((f) => [f.name, f.data, f.mode ?? 0o644]),
  );
  const total = files.reduce((n, f) => n + f.data.length, 0);
  assert.ok(a.length < total - files[0].data.length / 2, 'deflated (the repetitive index.js shrinks; random bytes cannot)');
});

test("Python's zipfile reads it: names, sizes, CRCs and Unix permissions", () => {
  const dir = tempDir('zip');
  const file = path.join(dir, 'code.zip');
  const files = entries();
  fs.writeFileSync(file, zip(files));
  const listing = execFileSync('/usr/bin/python3', [
    '-c',
    'import json,sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(json.dumps([[i.filename, i.file_size, i.CRC, i.external_attr >> 16] for i in z.infolist()]))',
    file,
  ]).toString();
  assert.deepEqual(
    JSON.parse(listing),
    files.map((f) => [f.name, f.data.length, crc32(f.data), 0o100000 | (f.mode ?? 0o644)]),
  );
});

test('CRC-32 as zlib computes it', () => {
  const data = crypto.randomBytes(10_000);
  const zlibCrc = (zlib as unknown as { crc32?: (d: Buffer) => number }).crc32;
  if (zlibCrc) assert.equal(crc32(data), zlibCrc(data));
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926, 'the standard check value');
});

test('EventBridge schedules: whole minutes, at least one', () => {
  assert.equal(scheduleFor(1), 'rate(1 minute)');
  assert.equal(scheduleFor(60), 'rate(1 minute)');
  assert.equal(scheduleFor(100), 'rate(2 minutes)');
  assert.equal(scheduleFor(600), 'rate(10 minutes)');
});
