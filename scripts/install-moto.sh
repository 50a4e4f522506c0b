#!/usr/bin/env bash
# Installs moto server (the AWS API emulator the AWS tests run against) into .tools/moto.
# Debian 12 has no python3-moto; Debian 13 has it as pure Python. Its dependencies come from this
# machine's own suite (apt), and python3-moto itself is downloaded with a side apt configuration
# for the newer suite and unpacked with dpkg -x — the system's sources are never changed.
# Run it with: PYTHONPATH=.tools/moto/usr/lib/python3/dist-packages /usr/bin/python3 -m moto.server
# Safe to run again: skipped when the stamp matches.
set -euo pipefail
cd "$(dirname "$0")/.."

suite=trixie
dir=.tools/moto
stamp=$dir/.installed
recipe="moto-from-$suite-v1"

deps=(python3-boto3 python3-botocore python3-flask python3-flask-cors python3-werkzeug python3-jinja2
  python3-responses python3-xmltodict python3-cryptography python3-dateutil python3-yaml python3-antlr4
  python3-requests)
missing=()
for p in "${deps[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ] && [ ${#missing[@]} -eq 0 ]; then
  echo "install-moto: moto already installed"
  exit 0
fi
bash scripts/apt-install.sh ${missing[@]+"${missing[@]}"}

# The mirror is the machine's own (never a host name written here).
sources=/etc/apt/sources.list.d/debian.sources
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' "$sources" | head -n1)
[ -n "$mirror" ] || { echo "install-moto: no URIs: line in $sources; cannot find the Debian mirror" >&2; exit 1; }

side=$(mktemp -d)
trap 'rm -rf "$side"' EXIT
mkdir -p "$side/lists/partial" "$side/cache/archives/partial" "$side/dl"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" > "$side/sources.list"
: > "$side/status"
apt_side=(-o "Dir::Etc::SourceList=$side/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$side/lists" -o "Dir::Cache=$side/cache" -o "Dir::State::Status=$side/status"
  -o APT::Sandbox::User=root)
echo "install-moto: downloading python3-moto from $suite"
apt-get "${apt_side[@]}" update -qq
(cd "$side/dl" && apt-get "${apt_side[@]}" download -qq python3-moto)

rm -rf "$dir"
mkdir -p "$dir"
dpkg -x "$side"/dl/python3-moto_*.deb "$dir"
PYTHONPATH="$dir/usr/lib/python3/dist-packages" /usr/bin/python3 -c 'import moto.server' \
  || { echo "install-moto: moto does not import with this machine's Python packages" >&2; exit 1; }
echo "$recipe" > "$stamp"
echo "install-moto: moto $(PYTHONPATH="$dir/usr/lib/python3/dist-packages" /usr/bin/python3 -c 'import moto; print(moto.__version__)') installed in $dir"
