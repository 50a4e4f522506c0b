// Runs the extension-host suite (test/vscode/suite) in a real VS Code (code-server) as one
// node:test test, so its outcome counts in scripts/run-tests.mjs's closing line.
import * as assert from 'node:assert';
import { test } from 'node:test';
import { runVscodeTests } from './runTests';

test('extension-host suite passes inside VS Code (code-server)', { timeout: 15 * 60_000 }, async () => {
  const { exitCode, results } = await runVscodeTests();
  assert.ok(results, `the suite wrote no results (VS Code exited with ${exitCode}); see the output above`);
  const failures = results.failures.map((f) => `- ${f.title}\n${f.error}`).join('\n');
  assert.strictEqual(results.failed, 0, `${results.failed} of ${results.passed + results.failed} in-host tests failed:\n${failures}`);
  assert.ok(results.passed > 0, 'the suite ran no tests');
  assert.strictEqual(exitCode, 0, `VS Code exited with ${exitCode}`);
});
