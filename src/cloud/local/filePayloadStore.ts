import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { pipeline } from 'stream/promises';
import { checkPayloadJobId, checkPayloadKey, payloadGone } from '../payloadKeys';
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
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw payloadGone(ref);
      throw e;
    }
  }

  async deleteJob(jobId: string): Promise<void> {
    checkPayloadJobId(jobId);
    fs.rmSync(path.join(this.dir, jobId), { recursive: true, force: true });
  }

  /** The file of a key `jobId/name`; refuses anything that could reach outside the store. */
  private file(key: string): string {
    return path.join(this.dir, ...checkPayloadKey(key));
  }
}
