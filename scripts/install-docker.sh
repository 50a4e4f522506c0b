#!/usr/bin/env bash
# Installs what the container tests need from Debian's own packages: the Docker engine (dockerd,
# containerd, runc), a private registry, and htpasswd for its password file. The tests start their
# own dockerd and registry on private sockets and loopback ports; nothing is started here.
# Safe to run again: only missing packages are installed.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/sbin/dockerd ] || missing+=(docker.io)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v htpasswd >/dev/null || missing+=(apache2-utils)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-docker: docker engine, registry and htpasswd already installed"
  exit 0
fi
bash scripts/apt-install.sh "${missing[@]}"
# Debian's packages start their services where an init system runs: the tests want their own.
for service in docker docker-registry; do
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done
echo "install-docker: $(/usr/sbin/dockerd --version)"
