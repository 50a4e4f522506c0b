// Runs test files with node's test runner (TypeScript through tsx), prints its report, keeps a
// TAP copy under test-output/, and closes with the line CI reads: "N passed, N failed".
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

const files = process.argv.slice(2);
fs.mkdirSync('test-output', { recursive: true });
const tap = 'test-output/results.tap';
const child = spawn(
  process.execPath,
  ['-r', './test/support/register-py.cjs', '--import', 'tsx', '--test', '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files],
  { stdio: 'inherit' },
);
child.on('exit', (code) => {
  const text = fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '';
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  const failed = count('fail') + count('cancelled');
  console.log(`${count('pass')} passed, ${failed} failed`);
  process.exit(code === 0 && failed === 0 && count('pass') > 0 ? 0 : 1);
});
