#!/usr/bin/env bash
# Installs everything the project needs on a Debian/Ubuntu machine and builds it.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# The local cloud's instances are OpenSSH servers; jobs need Python 3 on the "instance" (this machine).
packages=()
[ -x /usr/sbin/sshd ] || packages+=(openssh-server)
[ -x /usr/bin/python3 ] || command -v python3 >/dev/null || packages+=(python3)
bash scripts/apt-install.sh ${packages[@]+"${packages[@]}"}
# Jobs in container images: Debian's Docker engine and registry for their tests.
bash scripts/install-docker.sh
# The local apt repository the emulated AWS/Azure instances install Docker from (needs root: it
# builds the EC2 emulator's image first, which the emulator tests would build anyway).
if [ "$(id -u)" -eq 0 ]; then bash scripts/install-docker-apt-repo.sh >/dev/null; fi

# npm ci only when package-lock.json changed since the last install. Install scripts are not
# needed: ssh2 runs in pure JS, and the bundles must not contain native addons anyway.
lock_hash=$(sha256sum package-lock.json | cut -c1-64)
if [ ! -f node_modules/.meadowrun-lock ] || [ "$(cat node_modules/.meadowrun-lock)" != "$lock_hash" ]; then
  echo "setup: npm ci"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.meadowrun-lock
fi

# Node 22, as AWS Lambda's nodejs22.x runs it: the AWS management test runs the function's bundle with it.
bash scripts/install-node22.sh

echo "setup: building"
npx webpack --mode production >/dev/null
