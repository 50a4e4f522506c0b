import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { pipeline } from 'stream/promises';
import { MeadowrunError } from '../../core/errors';
import { PayloadStore } from '../ports';

/** Payloads as files `dir/jobId/name`, private to the user; a reference is the key itself. */
export class FilePayloadStore implements PayloadStore {
  constructor(readonly dir: string) {}

  async put(key: string, data: Buffer | NodeJS.ReadableStream): Promise<string> {
    const file = this.file(key);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Written aside and renamed: a reader never sees half a payload.
    const tmp = `${file}.tmp-${crypto.randomBytes(4).toString('hex')}`;
    try {
      if (Buffer.isBuffer(data)) fs.writeFileSync(tmp, data, { mode: 0o600 });
      else await pipeline(data, fs.createWriteStream(tmp, { mode: 0o600 }));
      fs.renameSync(tmp, file);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    return key;
  }

  async get(ref: string): Promise<Buffer> {
    try {
      return fs.readFileSync(this.file(ref));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MeadowrunError(`The payload ${ref} does not exist: its map job has ended or was cleaned up`, 'payload-gone');
      throw e;
    }
  }

  async deleteJob(jobId: string): Promise<void> {
    if (!NAME.test(jobId)) throw badKey(jobId);
    fs.rmSync(path.join(this.dir, jobId), { recursive: true, force: true });
  }

  /** The file of a key `jobId/name`; refuses anything that could reach outside the store. */
  private file(key: string): string {
    const parts = key.split('/');
    if (parts.length !== 2 || !parts.every((p) => NAME.test(p))) throw badKey(key);
    return path.join(this.dir, ...parts);
  }
}

const NAME = /^[\w-][\w.-]*$/;

function badKey(key: string): MeadowrunError {
  return new MeadowrunError(`Not a payload key: "${key}" (expected jobId/name)`, 'bad-message');
}
