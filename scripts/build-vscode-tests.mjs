// Bundles the extension-host test suite (test/vscode/suite) into out/test/vscode/suite/index.js,
// the module VS Code's extension host loads as extensionTestsPath, and the activation benchmark
// (test/vscode/bench/activation.ts) the same way. mocha is bundled in: mocha 12
// is ES modules loaded through require(esm), which a bundle sidesteps inside the extension host.
import * as esbuild from 'esbuild';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function buildVscodeTests() {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { 'suite/index': 'test/vscode/suite/index.ts', 'bench/activation': 'test/vscode/bench/activation.ts' },
    outdir: 'out/test/vscode',
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    // The suite may import engine modules, which import .py files as text (as webpack does).
    loader: { '.py': 'text' },
    sourcemap: 'inline',
    logLevel: 'warning',
    // mocha requires reporters and UIs by computed name; the built-in ones we use need no lookup.
    logOverride: {
      'unsupported-require-call': 'silent',
      'unsupported-dynamic-import': 'silent',
      'require-resolve-not-external': 'silent', // mocha's parallel mode, unused here
    },
  });
  if (result.errors.length) throw new Error('build-vscode-tests: esbuild failed');
  return path.join(root, 'out/test/vscode/suite/index.js');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const out = await buildVscodeTests();
  console.log(`build-vscode-tests: wrote ${path.relative(root, out)} in ${Date.now() - started} ms`);
}
