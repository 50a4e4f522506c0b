// The extension-host test suite: VS Code loads this module (extensionTestsPath) inside its extension
// host and awaits run(). Test files are imported statically so that the whole suite is one bundle
// (scripts/build-vscode-tests.mjs). To add a test file, import it below — after './mochaSetup'.
import { mocha } from './mochaSetup';
import './extension.test';
import './remote.test';
import './diagnose.test';
import './aws.test';
import './azure.test';

import * as fs from 'fs';
import * as path from 'path';

interface Summary {
  passed: number;
  failed: number;
  failures: { title: string; error: string }[];
}

export function run(): Promise<void> {
  const summary: Summary = { passed: 0, failed: 0, failures: [] };
  return new Promise((resolve, reject) => {
    const runner = mocha.run(() => {
      // The runner outside the extension host reads this; the exit code alone says too little.
      const out = process.env.MEADOWRUN_VSCODE_RESULTS;
      if (out) {
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fs.writeFileSync(out, JSON.stringify(summary, null, 2) + '\n');
      }
      console.log(`vscode suite: ${summary.passed} passed, ${summary.failed} failed`);
      if (summary.failed > 0) reject(new Error(`${summary.failed} test(s) failed`));
      else resolve();
    });
    runner.on('pass', () => summary.passed++);
    // Hook failures arrive here too, so a broken before() counts as a failure.
    runner.on('fail', (test, err: Error) => {
      summary.failed++;
      summary.failures.push({ title: test.fullTitle(), error: err?.stack ?? String(err) });
    });
  });
}
