#!/usr/bin/env bash
# Builds the local apt repository from which the EC2 emulator's instances install Docker in the
# tests (test/support/aptRepo.ts serves it to them): Debian 12's docker.io and every package it
# needs that the emulator's image (scripts/build-ec2emu-image.sh) lacks, downloaded from this
# machine's own Debian mirror with a side apt configuration (bookworm main, the image's dpkg status),
# plus a flat Packages index. The system's sources are never changed, and the image stays as it is:
# instances that never run an image don't carry Docker.
# Kept in .tools/docker-apt-repo, keyed by this recipe and the image's package list; prints its path last.
# Needs root (it builds the emulator's image first when missing). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "install-docker-apt-repo: $*" >&2; }

image=$(bash scripts/build-ec2emu-image.sh | tail -n1)
[ -f "$image/var/lib/dpkg/status" ] || { say "no dpkg status in the emulator image $image"; exit 1; }
key=$( (sha256sum scripts/install-docker-apt-repo.sh; sha256sum "$image/var/lib/dpkg/status") | sha256sum | cut -c1-12)
dir=.tools/docker-apt-repo
if [ -f "$dir/.key" ] && [ "$(cat "$dir/.key")" = "$key" ]; then
  say "already built ($dir)"
  realpath "$dir"
  exit 0
fi

# The mirror is the machine's own (never a host name written here).
sources=/etc/apt/sources.list.d/debian.sources
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' "$sources" | head -n1)
[ -n "$mirror" ] || { say "no URIs: line in $sources; cannot find the Debian mirror"; exit 1; }

side=$(mktemp -d)
trap 'rm -rf "$side"' EXIT
mkdir -p "$side/lists/partial" "$side/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" >"$side/sources.list"
# What the image has installed decides what else docker.io needs.
cp "$image/var/lib/dpkg/status" "$side/status"
apt_side=(-o "Dir::Etc::SourceList=$side/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$side/lists" -o "Dir::Cache=$side/cache" -o "Dir::State::Status=$side/status"
  -o "Dir::State::extended_states=$side/extended_states" -o APT::Sandbox::User=root -o Debug::NoLocking=1)
say "downloading docker.io and what it needs beyond the emulator's image (bookworm)"
apt-get "${apt_side[@]}" update -qq
DEBIAN_FRONTEND=noninteractive apt-get "${apt_side[@]}" install -y -qq --download-only --no-install-recommends docker.io >/dev/null

rm -rf "$dir.building"
mkdir -p "$dir.building"
cp "$side"/cache/archives/*.deb "$dir.building/"
# A flat repository ("deb [trusted=yes] http://HOST:PORT/ ./"): one Packages stanza per .deb.
(
  cd "$dir.building"
  for deb in *.deb; do
    dpkg-deb -f "$deb"
    echo "Filename: ./$deb"
    echo "Size: $(stat -c %s "$deb")"
    echo "SHA256: $(sha256sum "$deb" | cut -d' ' -f1)"
    echo
  done >Packages
)
echo "$key" >"$dir.building/.key"
rm -rf "$dir"
mv "$dir.building" "$dir"
say "$(ls "$dir"/*.deb | wc -l) packages, $(du -sh "$dir" | cut -f1) in $dir"
realpath "$dir"
