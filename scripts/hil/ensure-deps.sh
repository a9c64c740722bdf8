#!/usr/bin/env bash
# Installs the Debian packages the lane needs, only those missing, so a fresh CI
# runner (root, Debian 12) needs no manual setup.
set -euo pipefail
. "$(dirname "$0")/common.sh"

installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == 'install ok installed' ]]; }

missing=()
# busybox-static, not busybox: the binary is copied into the initramfs, which has no libc.
for pkg in qemu-system-x86 busybox-static cpio xz-utils; do
  installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || hil_die "missing ${missing[*]}; as root: apt-get install -y --no-install-recommends ${missing[*]}"
  hil_log "installing ${missing[*]}"
  # A fresh container may never have fetched the package lists.
  compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null || apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
