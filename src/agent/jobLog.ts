import * as fs from 'fs';

/**
 * A job's log file, kept under a cap: when a write would take it past the cap, the older part is
 * dropped and the newest half kept, behind a line that says how much went. What is appended while
 * a write is under way is written next, in one go; `backlog` tells the caller when to stop reading.
 */
export class JobLog {
  private fd: number;
  private size = 0;
  private dropped = 0;
  private failed = false;
  /** Appended but not yet written; written together, as one write, once the previous write is done. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing?: Promise<void>;

  constructor(readonly path: string, private readonly capBytes: number) {
    this.fd = fs.openSync(path, 'a', 0o600);
    this.size = fs.fstatSync(this.fd).size;
  }

  /** Bytes appended but not yet on disk. */
  get backlog(): number {
    return this.pendingBytes;
  }

  /** Queues `data` for the log. A failing disk never fails the job: the log just stops. */
  append(data: Buffer | string): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.failed) return;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.writing ??= this.writeAll();
  }

  /** Resolves once everything appended so far is written. */
  flushed(): Promise<void> {
    return this.writing ?? Promise.resolve();
  }

  async close(): Promise<void> {
    await this.flushed();
    await new Promise<void>((resolve) => fs.close(this.fd, () => resolve()));
  }

  private async writeAll(): Promise<void> {
    while (this.pending.length) {
      let bytes = Buffer.concat(this.pending);
      this.pending = [];
      const written = bytes.length;
      try {
        if (this.size + bytes.length > this.capBytes) {
          // Keep the newest half of the cap, from what is to be written and, if room is left, the file.
          const half = Math.floor(this.capBytes / 2);
          if (bytes.length > half) {
            this.dropped += bytes.length - half;
            bytes = bytes.subarray(bytes.length - half);
          }
          await this.rotate(half - bytes.length);
        }
        await writeAll(this.fd, bytes);
        this.size += bytes.length;
      } catch {
        this.failed = true;
        this.pending = [];
      }
      this.pendingBytes -= written;
    }
    this.pendingBytes = 0;
    this.writing = undefined;
  }

  /** Keeps the newest `keep` bytes of the log (copied through a small buffer: memory stays flat). */
  private async rotate(keep: number): Promise<void> {
    keep = Math.min(this.size, keep);
    this.dropped += this.size - keep;
    const tmp = `${this.path}.rotating`;
    const out = await fs.promises.open(tmp, 'w', 0o600);
    const input = await fs.promises.open(this.path, 'r');
    try {
      const header = Buffer.from(`[meadowrun] the log is capped at ${+(this.capBytes / 1048576).toFixed(2)} MB: ${this.dropped} bytes of earlier output were dropped\n`);
      await out.write(header);
      const buffer = Buffer.allocUnsafe(Math.min(keep, 1 << 20) || 1);
      for (let offset = this.size - keep; offset < this.size; ) {
        const { bytesRead } = await input.read(buffer, 0, Math.min(buffer.length, this.size - offset), offset);
        if (!bytesRead) break;
        await out.write(buffer, 0, bytesRead);
        offset += bytesRead;
      }
      this.size = header.length + keep;
    } finally {
      await input.close();
      await out.close();
    }
    await fs.promises.rename(tmp, this.path);
    fs.closeSync(this.fd);
    this.fd = fs.openSync(this.path, 'a', 0o600);
  }
}

function writeAll(fd: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const next = (offset: number) =>
      fs.write(fd, bytes, offset, bytes.length - offset, null, (e, written) => {
        if (e) return reject(e);
        if (offset + written < bytes.length) next(offset + written);
        else resolve();
      });
    next(0);
  });
}
