#!/usr/bin/env bash
# Sets everything up, then runs Python remotely on the embedded local cloud: a function (cold,
# then warm), a script, a map over several workers, and a function that raises. Leaves nothing
# running at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd examples/demo
meadowrun() { node ../../dist/cli.js "$@"; }
trap 'meadowrun local down >/dev/null' EXIT

echo; echo "== run-function, cold: launches a local instance"
meadowrun run-function analysis.py:estimate_pi --args '[200000]'
echo; echo "== run-function, warm: reuses it"
meadowrun run-function analysis.py:where_am_i
echo; echo "== run-command: a script with arguments"
meadowrun run-command report.py -- --fast
echo; echo "== run-map: one function over many arguments, on 4 workers"
meadowrun run-map analysis.py:estimate_pi --args 'range(10_000, 10_008)' --workers 4
echo; echo "== a remote exception comes back with its traceback"
meadowrun run-function analysis.py:divide --args '[1, 0]' || echo "(exit code $?, as expected)"
echo; echo "== instances"
meadowrun instances
