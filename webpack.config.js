// Bundles: the extension (runs in VS Code's Node), the CLI, the agent that is copied to each
// instance (must run on Node 18, what a stock Ubuntu LTS installs), the local cloud's management
// runner and the AWS and Azure management functions; and the map progress panel's front end (webview-ui/), a browser bundle.
const fs = require('fs');
const path = require('path');
const webpack = require('webpack');
const { EsbuildPlugin } = require('esbuild-loader');

// ssh2 tries its optional native addons inside try/catch and falls back to pure JS;
// ignoring them keeps every bundle free of native code.
const noNativeAddons = new webpack.IgnorePlugin({ resourceRegExp: /(cpu-features|sshcrypto\.node)$/ });

function bundle(name, entry, target, extra = {}) {
  return {
    name,
    target,
    entry,
    output: {
      path: path.resolve(__dirname, 'dist'),
      filename: `${name}.js`,
      // The extension loads the engine lazily (activation stays fast): its chunks sit beside it.
      chunkFilename: `${name}.[id].js`,
      libraryTarget: 'commonjs2',
    },
    resolve: {
      extensions: ['.ts', '.js'],
      // The Azure storage SDKs' shared package: its ESM build (which webpack picks) has
      // `createRequire(import.meta.url)`, which stays in the output as it is, and Node then takes the
      // whole CommonJS bundle for an ES module. Its CommonJS build has no such line.
      alias: { '@azure/storage-common$': require.resolve('@azure/storage-common') },
    },
    module: {
      rules: [
        { test: /\.ts$/, loader: 'esbuild-loader', options: { target } },
        { test: /\.py$/, type: 'asset/source' },
      ],
    },
    externals: { vscode: 'commonjs vscode', ...extra.externals },
    plugins: [noNativeAddons, ...(extra.plugins ?? [])],
    node: { __dirname: false, __filename: false },
    optimization: { minimize: false },
    devtool: false,
    performance: { hints: false },
    stats: 'errors-warnings',
  };
}

// Copies files into a bundle's output as they are (watched in --watch mode).
class CopyFiles {
  constructor(files) {
    this.files = files; // { outputName: sourcePath }
  }
  apply(compiler) {
    compiler.hooks.thisCompilation.tap('CopyFiles', (compilation) => {
      const stage = webpack.Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL;
      compilation.hooks.processAssets.tap({ name: 'CopyFiles', stage }, () => {
        for (const [to, from] of Object.entries(this.files)) {
          const file = path.resolve(__dirname, from);
          compilation.fileDependencies.add(file);
          compilation.emitAsset(to, new webpack.sources.RawSource(fs.readFileSync(file)));
        }
      });
    });
  }
}

// The map progress panel's front end runs in a webview (a browser page with a strict CSP): its own
// bundle in dist/webview/, with its stylesheet and the codicon font beside it, so the .vsix holds
// everything the panel loads (no node_modules). Target 'web': webpack refuses Node built-ins here.
// Build it alone with `npx webpack --mode production --config-name webview`.
function webviewBundle() {
  return {
    name: 'webview',
    target: ['web', 'es2022'],
    entry: './webview-ui/src/main.ts',
    // compareBeforeEmit off: every build rewrites every file, so their times say when it ran
    // (the browser test rebuilds when a source is newer).
    output: { path: path.resolve(__dirname, 'dist/webview'), filename: 'mapPanel.js', compareBeforeEmit: false },
    resolve: {
      extensions: ['.ts', '.js'],
      // The Azure storage SDKs' shared package: its ESM build (which webpack picks) has
      // `createRequire(import.meta.url)`, which stays in the output as it is, and Node then takes the
      // whole CommonJS bundle for an ES module. Its CommonJS build has no such line.
      alias: { '@azure/storage-common$': require.resolve('@azure/storage-common') },
    },
    module: { rules: [{ test: /\.ts$/, loader: 'esbuild-loader', options: { target: 'es2022' } }] },
    plugins: [
      new CopyFiles({
        'mapPanel.css': 'webview-ui/src/panel.css',
        'codicon.css': 'node_modules/@vscode/codicons/dist/codicon.css',
        'codicon.ttf': 'node_modules/@vscode/codicons/dist/codicon.ttf',
      }),
    ],
    optimization: { minimizer: [new EsbuildPlugin({ target: 'es2022' })] },
    devtool: false,
    performance: { hints: false },
    stats: 'errors-warnings',
  };
}

/** Leaves these clouds' instance sides (and so their SDKs) out of an agent bundle. */
function ignoreInstanceSides(...clouds) {
  return new webpack.IgnorePlugin({ resourceRegExp: new RegExp(`cloud[\\\\/](${clouds.join('|')})[\\\\/]instanceSide$`) });
}

module.exports = [
  bundle('extension', './src/extension.ts', 'node20'),
  bundle('cli', './src/cli/main.ts', 'node20', {
    plugins: [new webpack.BannerPlugin({ banner: '#!/usr/bin/env node', raw: true })],
  }),
  // The agents, each one file copied to an instance as it is (see CONTRIBUTING.md, "Agent bundles"):
  // whatever is loaded with import() (a cloud's adapters, the SDK's lazy credential providers) goes
  // into the file rather than into chunks beside it, which would never be sent. agent.js, for the
  // local cloud, leaves the clouds' adapters out (the AWS SDK would make it 8 times bigger);
  // agent-aws.js, for EC2 instances, has AWS's; agent-azure.js, for Azure VMs, Azure's.
  bundle('agent', './src/agent/main.ts', 'node18', { plugins: [ignoreInstanceSides('aws', 'azure'), new webpack.optimize.LimitChunkCountPlugin({ maxChunks: 1 })] }),
  bundle('agent-aws', './src/agent/main.ts', 'node18', { plugins: [ignoreInstanceSides('azure'), new webpack.optimize.LimitChunkCountPlugin({ maxChunks: 1 })] }),
  bundle('agent-azure', './src/agent/main.ts', 'node18', { plugins: [ignoreInstanceSides('aws'), new webpack.optimize.LimitChunkCountPlugin({ maxChunks: 1 })] }),
  bundle('management', './src/cloud/local/managementRunner.ts', 'node20'),
  // The management function on AWS Lambda (nodejs22.x, arm64; plain JS, so any architecture): one
  // file with the SDK in it, pinned, not the runtime's. The installer zips it as index.js.
  bundle('lambda-adjuster', './src/cloud/aws/management/lambda.ts', 'node22', { plugins: [new webpack.optimize.LimitChunkCountPlugin({ maxChunks: 1 })] }),
  // The management Function on Azure (Flex Consumption, Node 22): one file with @azure/functions and
  // the Azure SDKs in it. The Functions host provides @azure/functions-core to the worker (outside a
  // host @azure/functions finds none and runs in its test mode).
  bundle('azure-adjuster', './src/cloud/azure/management/function.ts', 'node22', {
    plugins: [new webpack.optimize.LimitChunkCountPlugin({ maxChunks: 1 })],
    externals: { '@azure/functions-core': 'commonjs @azure/functions-core' },
  }),
  webviewBundle(),
];
