#!/usr/bin/env bash
# Downloads the pinned kernel package once (apt-get download: no install, no
# initramfs-tools hooks on the host) and unpacks it into the cache.
# Prints the directory that holds boot/ and lib/modules/.
set -euo pipefail
. "$(dirname "$0")/common.sh"
hil_stdout_is_result

download() {
  (cd "$1" && apt-get download -q "$HIL_KERNEL_PKG=$HIL_KERNEL_VERSION") >"$1/apt.log" 2>&1
}

if [[ ! -f $HIL_KERNEL_DIR/.unpacked ]]; then
  mkdir -p "$HIL_CACHE"
  work=$(mktemp -d "$HIL_CACHE/fetch.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # apt downloads as the unprivileged _apt user: it must be able to write here.
  chmod 0777 "$work"
  hil_log "downloading $HIL_KERNEL_PKG=$HIL_KERNEL_VERSION"
  if ! download "$work"; then
    # Stale package lists are the usual cause; refresh once if we may.
    [[ $(id -u) -eq 0 ]] && apt-get update -q >&2
    download "$work" || {
      cat "$work/apt.log" >&2
      hil_die "cannot download $HIL_KERNEL_PKG=$HIL_KERNEL_VERSION; 'apt-cache policy $HIL_KERNEL_PKG' shows what the archive has (pin it in scripts/hil/kernel.env)"
    }
  fi
  dpkg-deb -x "$work"/*.deb "$work/root"
  [[ -f $work/root/boot/vmlinuz-$HIL_KERNEL_RELEASE ]] \
    || hil_die "the package has no boot/vmlinuz-$HIL_KERNEL_RELEASE: fix HIL_KERNEL_RELEASE in scripts/hil/kernel.env"
  # Keep the kernel, its config and the modules; drop the docs.
  rm -rf "$HIL_KERNEL_DIR"
  mkdir -p "$HIL_KERNEL_DIR"
  mv "$work/root/boot" "$work/root/lib" "$HIL_KERNEL_DIR/"
  touch "$HIL_KERNEL_DIR/.unpacked"
fi
hil_result "$HIL_KERNEL_DIR"
