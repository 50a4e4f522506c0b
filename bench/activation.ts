// Activation time of the extension inside a real VS Code (code-server), against a small built-in
// extension (References View) activated in the same run; and the size of the packaged .vsix.
// Targets: activation ≤ 100 ms, .vsix ≤ 10 MB. Needs scripts/install-code-server.sh.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { packageExtension } from '../test/e2e/run';
import { runInVscode } from '../test/vscode/runTests';

async function main() {
  const results = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'meadowrun-bench-')), 'activation.json');
  const code = await runInVscode('out/test/vscode/bench/activation.js', { MEADOWRUN_BENCH_RESULTS: results });
  if (code !== 0 || !fs.existsSync(results)) throw new Error(`the benchmark run failed (exit ${code})`);
  const { meadowrunMs, baselineMs } = JSON.parse(fs.readFileSync(results, 'utf8'));
  const vsixMb = packageExtension();
  console.log('activation (first activate() in the extension host, ms)');
  console.log(`  baseline  vscode.references-view  ${baselineMs.toFixed(1)}`);
  console.log(`  meadowrun                        ${meadowrunMs.toFixed(1)}  (target ≤ 100)`);
  console.log(`  ratio meadowrun / baseline       ${(meadowrunMs / baselineMs).toFixed(2)}`);
  console.log(`.vsix size ${vsixMb.toFixed(2)} MB  (target ≤ 10)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
