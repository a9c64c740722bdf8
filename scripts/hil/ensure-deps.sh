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

((${#missing[@]} == 0)) || hil_apt_install "${missing[@]}"
