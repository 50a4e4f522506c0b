// The payload store port in memory, for tests of code above it (cloud/jobQueues.ts).
import { MeadowrunError } from '../../src/core/errors';
import { PayloadStore } from '../../src/cloud/ports';

export class MemoryPayloadStore implements PayloadStore {
  readonly blobs = new Map<string, Buffer>();

  async put(key: string, data: Buffer | NodeJS.ReadableStream): Promise<string> {
    const chunks: Buffer[] = [];
    if (Buffer.isBuffer(data)) chunks.push(data);
    else for await (const c of data) chunks.push(Buffer.from(c as Buffer));
    this.blobs.set(key, Buffer.concat(chunks));
    return `mem:${key}`;
  }

  async get(ref: string): Promise<Buffer> {
    const blob = this.blobs.get(ref.replace(/^mem:/, ''));
    if (!blob) throw new MeadowrunError(`The payload ${ref} does not exist`, 'payload-gone');
    return blob;
  }

  async deleteJob(jobId: string): Promise<void> {
    for (const key of [...this.blobs.keys()]) if (key.startsWith(`${jobId}/`)) this.blobs.delete(key);
  }
}
