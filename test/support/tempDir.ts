// A temporary directory removed when the test process exits, so test runs leave /tmp as they found it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `meadowrun-${prefix}-`));
  made.push(dir);
  return dir;
}
