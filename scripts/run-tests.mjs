// Runs test files with node's test runner (TypeScript through tsx), prints its report, keeps a
// TAP copy under test-output/, and closes with the line CI reads: "N passed, N failed". The tests
// that ran inside VS Code count one by one (from their results file), not as the single
// node:test test that launched them.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

const files = process.argv.slice(2);
fs.mkdirSync('test-output', { recursive: true });
const tap = 'test-output/results.tap';
const inHost = 'test-output/vscode-results.json';
fs.rmSync(inHost, { force: true });
const child = spawn(
  process.execPath,
  ['-r', './test/support/register-py.cjs', '--import', 'tsx', '--test', '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files],
  { stdio: 'inherit' },
);
child.on('exit', (code) => {
  const text = fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '';
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  const host = fs.existsSync(inHost) ? JSON.parse(fs.readFileSync(inHost, 'utf8')) : { passed: 0, failed: 0 };
  const passed = count('pass') + host.passed;
  const failed = count('fail') + count('cancelled') + host.failed;
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code === 0 && failed === 0 && passed > 0 ? 0 : 1);
});
