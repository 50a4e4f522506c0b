// A zip archive written in memory, as the management functions' code is deployed (AWS Lambda, Azure
// Functions' OneDeploy): deflated entries, no extras. Every entry has the same fixed time, so the same
// files always make the same bytes, and the archive's SHA-256 (Lambda's CodeSha256, the Azure app's
// recorded package hash) tells whether the deployed code is the bundled one. Node's zlib deflates; the
// CRC-32 is here (zlib.crc32 is not in every Node 20 that VS Code ships), so no dependency.
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { MeadowrunError } from '../core/errors';

/** A bundle the build made (dist/NAME), found beside this code or in a dist/ above it. */
export function builtBundle(name: string, from = __dirname): string {
  const candidates = [path.join(from, name)];
  for (let dir = from; path.dirname(dir) !== dir; dir = path.dirname(dir)) candidates.push(path.join(dir, 'dist', name));
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new MeadowrunError(`The management function is not built (dist/${name} is missing): run \`npm run build\``, 'bad-config');
  return found;
}

export interface ZipEntry {
  name: string;
  data: Buffer;
  /** Unix permissions (0644 when absent). */
  mode?: number;
}

// 1980-01-01 00:00, the first time a zip can hold (DOS date: day 1, month 1, year 0).
const DOS_TIME = 0;
const DOS_DATE = (1 << 5) | 1;

export function zip(entries: ZipEntry[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const deflated = zlib.deflateRawSync(e.data, { level: 9 });
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
    local.writeUInt16LE(0x0800, 6); // names are UTF-8
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(deflated.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, so the permissions below count
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(0x0800, 8);
    header.writeUInt16LE(8, 10);
    header.writeUInt16LE(DOS_TIME, 12);
    header.writeUInt16LE(DOS_DATE, 14);
    header.writeUInt32LE(crc, 16);
    header.writeUInt32LE(deflated.length, 20);
    header.writeUInt32LE(e.data.length, 24);
    header.writeUInt16LE(name.length, 28);
    // extra, comment, disk number, internal attributes: 0
    header.writeUInt32LE(((0o100000 | (e.mode ?? 0o644)) << 16) >>> 0, 38);
    header.writeUInt32LE(offset, 42);
    parts.push(local, name, deflated);
    central.push(header, name);
    offset += local.length + name.length + deflated.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, directory, end]);
}

/** The entries of a zip this module wrote (or any zip of stored or deflated entries without a data descriptor). */
export function unzip(archive: Buffer): ZipEntry[] {
  const endAt = archive.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (endAt < 0) throw new Error('not a zip archive (no end of central directory)');
  const count = archive.readUInt16LE(endAt + 10);
  let at = archive.readUInt32LE(endAt + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (archive.readUInt32LE(at) !== 0x02014b50) throw new Error('corrupt zip archive (central directory)');
    const method = archive.readUInt16LE(at + 10);
    const size = archive.readUInt32LE(at + 20);
    const nameLength = archive.readUInt16LE(at + 28);
    const skip = nameLength + archive.readUInt16LE(at + 30) + archive.readUInt16LE(at + 32);
    const mode = archive.readUInt32LE(at + 38) >>> 16;
    const local = archive.readUInt32LE(at + 42);
    const name = archive.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    const dataAt = local + 30 + archive.readUInt16LE(local + 26) + archive.readUInt16LE(local + 28);
    const raw = archive.subarray(dataAt, dataAt + size);
    const data = method === 8 ? zlib.inflateRawSync(raw) : method === 0 ? Buffer.from(raw) : undefined;
    if (!data) throw new Error(`zip entry ${name}: compression method ${method} is not supported`);
    entries.push({ name, data, mode: mode & 0o777 });
    at += 46 + skip;
  }
  return entries;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
