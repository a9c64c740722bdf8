#!/usr/bin/env bash
# Builds the guest initramfs: static busybox, /init (guest-init.sh), and the
# VFIO and 9p modules with everything they depend on, decompressed (Debian ships
# .ko.xz; busybox insmod wants plain ELF). Rebuilt only when an input changes:
# the pinned kernel, busybox, guest-init.sh, this script.
# Usage: build-initramfs.sh KERNEL_DIR   the Debian kernel's (prints the initramfs path)
#        build-initramfs.sh --no-modules  for the built kernel: everything is built in
set -euo pipefail
. "$(dirname "$0")/common.sh"
hil_stdout_is_result

kernel_dir=$1
moddir="$kernel_dir/lib/modules/$HIL_KERNEL_RELEASE"
# What the lane loads; their dependencies are added below.
# virtio-rng: the lane's virtio-rng-pci then has its own driver, as a device on a
# real host does, for test/hil/cli-bind-restore (vfio bind takes it, vfio unbind
# gives it back, and the hwrng works again). virtio-pci and the hwrng core are
# built into Debian's kernel.
WANTED_MODULES=(irqbypass vfio vfio_iommu_type1 vfio-pci-core vfio-pci netfs 9pnet 9pnet_virtio 9p overlay virtio-rng)
flavour=debian
if [[ $kernel_dir == --no-modules ]]; then
  flavour=nomod
  WANTED_MODULES=()
fi

# Environment: HIL_BUSYBOX, the static busybox to copy in (a test stubs it).
busybox=${HIL_BUSYBOX:-/bin/busybox}
key=$(cat "$HIL_DIR/kernel.env" "$HIL_DIR/guest-init.sh" "$HIL_DIR/build-initramfs.sh" "$busybox" \
  | sha256sum | cut -c1-16)
out="$HIL_CACHE/initramfs-$flavour-$key.cpio"
if [[ -f $out ]]; then
  hil_result "$out"
  exit 0
fi

hil_log "building initramfs ($flavour, $key)"
work=$(mktemp -d "$HIL_CACHE/initramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lower,rw,host,out,lib/modules}

cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [[ $applet == busybox ]] || ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$HIL_DIR/guest-init.sh" "$root/init"

# Module files are named with '-' or '_' inconsistently (vfio-pci vs
# vfio_iommu_type1); `depends=` uses the file's spelling.
find_module() {
  local f
  f=$(find "$moddir/kernel" -name "$1.ko.xz" -o -name "$1.ko" | head -n1)
  [[ -n $f ]] || hil_die "module $1 is not in $HIL_KERNEL_PKG (built in, or renamed?)"
  printf '%s\n' "$f"
}

# The package carries no modules.dep (depmod runs at install time), so read
# each module's own `depends=` from its .modinfo strings and order the modules
# so that every one comes after what it needs.
declare -A visited=()
order=()
visit() {
  local name=$1 file deps dep
  [[ -n ${visited[$name]:-} ]] && return
  visited[$name]=1
  file=$(find_module "$name")
  xz -dc -f "$file" >"$root/lib/modules/$name.ko"
  deps=$(tr '\0' '\n' <"$root/lib/modules/$name.ko" | sed -n 's/^depends=//p' | head -n1)
  for dep in ${deps//,/ }; do visit "$dep"; done
  order+=("$name")
}
for m in "${WANTED_MODULES[@]}"; do visit "$m"; done
# Empty for the built kernel: guest-init.sh then loads nothing.
((${#order[@]} == 0)) || printf '%s\n' "${order[@]}" >"$root/lib/modules/load-order"
: >>"$root/lib/modules/load-order"
((${#order[@]} == 0)) || hil_log "modules, in load order: ${order[*]}"

(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) >"$work/initramfs.cpio"
mv "$work/initramfs.cpio" "$out"
# Older builds are dead weight once the inputs changed, but only once no lane
# can still be about to boot one: another checkout on this machine (a CI clone
# beside a working tree) prepares both kernels' images before the first boot.
find "$HIL_CACHE" -maxdepth 1 -name "initramfs-$flavour-*.cpio" ! -name "${out##*/}" -mmin +1440 -delete
# (Names from before the flavours existed.)
find "$HIL_CACHE" -maxdepth 1 -name 'initramfs-????????????????.cpio' -delete
hil_result "$out"
