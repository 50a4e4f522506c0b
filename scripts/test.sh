#!/usr/bin/env bash
# Sets everything up and runs every test: type-check, unit tests, and integration tests against
# real OpenSSH servers on loopback. Ends with a line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "test: type-checking"
npx tsc --noEmit -p .
node scripts/run-tests.mjs test/unit/*.test.ts test/integration/*.test.ts
