// Every editor command goes through one wrapper (ui/failures.ts `command`), so that every failure
// meets the same error policy: logged with its stack, shown as one line with "Show Log".
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const ui = path.join(__dirname, '..', '..', 'src', 'ui');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

test('no command is registered around the wrapper', () => {
  const direct = sources(ui)
    .filter((f) => path.basename(f) !== 'failures.ts')
    .filter((f) => /registerCommand\s*\(/.test(fs.readFileSync(f, 'utf8')))
    .map((f) => path.relative(ui, f));
  assert.deepEqual(direct, []);
  assert.match(fs.readFileSync(path.join(ui, 'failures.ts'), 'utf8'), /export function command\(/);
});
