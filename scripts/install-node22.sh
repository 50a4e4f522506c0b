#!/usr/bin/env bash
# Installs Node.js 22 into .tools/node22 from the npm registry (the platform's node-<os>-<arch>
# package, which holds the official binary; no install scripts): the AWS management test runs the
# Lambda bundle with it, as the nodejs22.x runtime would. Not a dependency in package.json: a `node`
# there would shadow the developer's own node in npm scripts.
# Safe to run again: skipped when that Node is there.
set -euo pipefail
cd "$(dirname "$0")/.."

version=22.23.5
dir=.tools/node22
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install-node22: no Node.js package for $(uname -m)" >&2; exit 1 ;;
esac
pkg="node-linux-$arch"
bin="$dir/node_modules/$pkg/bin/node"
if [ -x "$bin" ] && [ "$("$bin" --version)" = "v$version" ]; then
  echo "install-node22: Node $version already installed"
  exit 0
fi
mkdir -p "$dir"
echo '{"private": true}' > "$dir/package.json"
npm install --prefix "$dir" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error "$pkg@$version"
echo "install-node22: $("$bin" --version) installed at $bin"
