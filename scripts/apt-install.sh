#!/usr/bin/env bash
# Installs Debian packages by name, with sudo when not root: `bash scripts/apt-install.sh PKG…`.
# Does nothing without arguments, so callers can pass only what is missing.
set -euo pipefail
[ $# -gt 0 ] || exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "apt-install: $*"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
