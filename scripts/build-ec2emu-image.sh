#!/usr/bin/env bash
# Builds the root filesystem that the EC2 emulator (test/support/ec2emu) boots every instance from:
# Debian 12 with systemd, cloud-init, OpenSSH, Python 3 and Node, made with debootstrap from this
# machine's own Debian mirror. Built once per machine and kept under $MEADOWRUN_EC2EMU_CACHE
# (default /var/cache/meadowrun-ec2emu), in a folder named by a hash of this script, so a changed
# recipe builds a new image and an unchanged one costs nothing. Prints the image's path last.
# Needs root. Safe to run concurrently (a lock) and again (skipped when built).
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${MEADOWRUN_EC2EMU_CACHE:-/var/cache/meadowrun-ec2emu}
recipe_hash=$(sha256sum scripts/build-ec2emu-image.sh | cut -c1-12)
image=$cache/rootfs-$recipe_hash
say() { echo "ec2emu-image: $*" >&2; }

if [ -f "$image/.complete" ]; then
  say "image already built ($image)"
  echo "$image"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { say "needs root (debootstrap, systemd-nspawn)"; exit 1; }

packages=()
command -v debootstrap >/dev/null || packages+=(debootstrap)
command -v systemd-nspawn >/dev/null || packages+=(systemd-container)
bash scripts/apt-install.sh ${packages[@]+"${packages[@]}"}

mkdir -p "$cache"
chmod 700 "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -f "$image/.complete" ]; then # another process built it while we waited
  echo "$image"
  exit 0
fi

sources=/etc/apt/sources.list.d/debian.sources
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' "$sources" | head -n1)
[ -n "$mirror" ] || { say "no URIs: line in $sources; cannot find the Debian mirror"; exit 1; }

work=$image.building
rm -rf "$work"
start=$(date +%s)
say "debootstrap bookworm into $work (about 80 s, once per machine)"
debootstrap --variant=minbase \
  --include=openssh-server,python3,nodejs,ca-certificates,systemd,cloud-init,python3-cffi-backend \
  bookworm "$work" "$mirror" >"$cache/debootstrap.log" 2>&1 \
  || { say "debootstrap failed; its log: $cache/debootstrap.log"; tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }

say "installing dbus, sudo, curl, systemd-sysv, iproute2 inside the image"
systemd-nspawn --register=no --keep-unit -q -D "$work" --pipe sh -c '
  set -e
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends dbus sudo curl systemd-sysv iproute2 >/dev/null
  apt-get clean
  rm -rf /var/lib/apt/lists/*
' </dev/null

say "configuring cloud-init (NoCloud seed), SSH host keys and machine id"
cat >"$work/etc/cloud/cloud.cfg.d/90-ec2emu.cfg" <<'EOF'
# The EC2 emulator writes each instance's user data as a NoCloud seed.
datasource_list: [ NoCloud, None ]
network: {config: disabled}
locale: false
manage_etc_hosts: true
EOF
rm -f "$work"/etc/ssh/ssh_host_*
: >"$work/etc/machine-id"
# Nothing inside resolves names through the host; a host resolver makes cloud-init wait 5 s.
rm -f "$work/etc/resolv.conf"
echo 'nameserver 127.0.0.1' >"$work/etc/resolv.conf"
# A container has no consoles to log in on; the emulator reads the console, it does not type there.
ln -sf /dev/null "$work/etc/systemd/system/console-getty.service"
ln -sf /dev/null "$work/etc/systemd/system/getty@.service"
# dbus-daemon never reports ready in these containers (inotify is refused), which holds
# multi-user.target — and with it cloud-final, where user-data scripts run — for 90 s. Nothing the
# instances run needs the system bus (systemctl talks to systemd directly as root).
for unit in dbus.service dbus.socket systemd-logind.service; do
  ln -sf /dev/null "$work/etc/systemd/system/$unit"
done

touch "$work/.complete"
mv "$work" "$image"
# Older images (other recipes) are no longer used.
for old in "$cache"/rootfs-*; do
  [ "$old" = "$image" ] || rm -rf "$old"
done
say "built $image in $(($(date +%s) - start)) s ($(du -sh "$image" | cut -f1))"
echo "$image"
