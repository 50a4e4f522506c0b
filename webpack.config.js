// Bundles: the extension (runs in VS Code's Node), the CLI, the agent that is copied to each
// instance (must run on Node 18, what a stock Ubuntu LTS installs), and the local cloud's
// management runner.
const path = require('path');
const webpack = require('webpack');

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
    resolve: { extensions: ['.ts', '.js'] },
    module: {
      rules: [
        { test: /\.ts$/, loader: 'esbuild-loader', options: { target } },
        { test: /\.py$/, type: 'asset/source' },
      ],
    },
    externals: { vscode: 'commonjs vscode' },
    plugins: [noNativeAddons, ...(extra.plugins ?? [])],
    node: { __dirname: false, __filename: false },
    optimization: { minimize: false },
    devtool: false,
    performance: { hints: false },
    stats: 'errors-warnings',
  };
}

module.exports = [
  bundle('extension', './src/extension.ts', 'node20'),
  bundle('cli', './src/cli/main.ts', 'node20', {
    plugins: [new webpack.BannerPlugin({ banner: '#!/usr/bin/env node', raw: true })],
  }),
  bundle('agent', './src/agent/main.ts', 'node18'),
  bundle('management', './src/management/localRunner.ts', 'node20'),
];
