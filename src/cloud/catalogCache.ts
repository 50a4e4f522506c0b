// A catalog source cached on disk: one JSON file per (region, source) in a private directory, with
// the time it was fetched. Fresh within its TTL; past it, fetched again, and when the fetch fails the
// stale copy (or whatever the caller's fallback gives) stands in. Shared by the clouds' catalogs.
import * as fs from 'fs';
import * as path from 'path';

/** One JSON file per (region, source), private to the user, with the time it was fetched. */
export class DiskCache {
  constructor(
    private readonly dir: string,
    private readonly region: string,
    private readonly now: () => number,
  ) {}

  async get<T>(name: string, ttlMs: number, fetch: () => Promise<T>, onError: (stale: T | undefined) => (e: unknown) => T): Promise<T> {
    const file = path.join(this.dir, `${this.region}-${name}.json`);
    let cached: { fetchedAt: number; data: T } | undefined;
    try {
      cached = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      cached = undefined;
    }
    if (cached && this.now() - cached.fetchedAt < ttlMs) return cached.data;
    let data: T;
    try {
      data = await fetch();
    } catch (e) {
      return onError(cached?.data)(e);
    }
    this.write(file, { fetchedAt: this.now(), data });
    return data;
  }

  private write(file: string, value: unknown): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(this.dir, 0o700);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
    fs.renameSync(tmp, file);
  }
}
