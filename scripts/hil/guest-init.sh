#!/bin/sh
# /init of the HIL guest (busybox sh). Loads VFIO (unless the kernel has it
# built in: the "built" kernel, scripts/hil/kernel-built.config), hands the
# edu device to vfio-pci (not on the "built-noiommu" boot: no VT-d there, so
# no IOMMU group; the mock-domain tests need only /dev/iommu), mounts the
# host's / (9p, read-only) and runs the project's HIL tests in it with the
# host's node, then reports the exit code and powers off.
#
# The host passes its settings in /out/env (the per-run directory, shared
# read-write as 9p tag "out"); results go back there and to the console.
export PATH=/bin
EDU_VENDOR=0x1234
EDU_DEVICE=0x11e8

uptime_s() { cut -d' ' -f1 /proc/uptime; }
say() { echo "HIL: $*"; }

finish() {
  code=$1
  if [ -n "$out_mounted" ]; then
    dmesg >/out/dmesg.log 2>/dev/null
    echo "$code" >/out/exit-code
  fi
  echo "HIL-EXIT=$code"
  sync
  poweroff -f
}

# Anything that goes wrong before the tests start is the lane's fault, not the
# tests': say what, and use an exit code vitest never does.
die() {
  say "setup failed: $*"
  finish 86
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 shm /dev/shm
say "init started at $(uptime_s)s, kernel $(uname -r)"

if [ -e /sys/module/vfio ] || [ -c /dev/vfio/vfio ]; then
  say "VFIO is built into this kernel: no modules to load"
else
  while read -r mod; do
    insmod "/lib/modules/$mod.ko" || die "insmod $mod"
  done </lib/modules/load-order
fi
# Fault injection (fail-nth) is configured through debugfs; the tests find it
# at /sys/kernel/debug, in the chroot too (mounted there below).
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

# msize: bigger 9p messages mean fewer round trips through the slow emulated
# virtio; cache=loose is safe because nothing changes the host tree meanwhile.
P9="trans=virtio,version=9p2000.L,msize=512000"
mount -t 9p -o "$P9" out /out || die "mount 9p out"
out_mounted=1
mount -t 9p -o "$P9,ro,cache=loose" host /lower || die "mount 9p host"
# The host tree stays read-only; an overlay with a tmpfs on top lets whatever
# the tests (and vite's config loader, which writes next to node_modules) write
# land in guest memory instead of failing with EROFS.
mount -t tmpfs -o mode=0755 rw /rw && mkdir /rw/upper /rw/work || die "tmpfs for the overlay"
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /host || die "overlay on the host tree"
[ -f /out/env ] || die "/out/env missing"
. /out/env

# Backings for every DmaBuffer kind: hugetlb pages reserved up front, THP on request.
echo "${HIL_HUGEPAGES:-16}" >/proc/sys/vm/nr_hugepages
echo madvise >/sys/kernel/mm/transparent_hugepage/enabled
say "hugepages: $(cat /proc/sys/vm/nr_hugepages), THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"

group=
bdf=
hot_bdf=
hot_group=
if [ "$HIL_KERNEL_KIND" = built-noiommu ]; then
  # Booted without VT-d so the IOMMUFD_TEST mock domain is the only IOMMU:
  # edu has no IOMMU group, so nothing to bind; the tests use /dev/iommu only.
  ls /sys/class/iommu 2>/dev/null | grep -q dmar && die "VT-d is active on the built-noiommu boot"
  [ -c /dev/iommu ] || die "/dev/iommu missing (IOMMUFD not built in?)"
  say "no IOMMU device: edu left unbound, /dev/iommu present (IOMMUFD_TEST mock domain only)"
else
  # intel-iommu names its units dmarN, the AMD IOMMU driver ivhdN (run.sh --iommu).
  if [ "${HIL_IOMMU:-intel}" = amd ]; then
    ls /sys/class/iommu 2>/dev/null | grep -q ivhd || die "AMD-Vi is not active (no /sys/class/iommu/ivhd*)"
  else
    ls /sys/class/iommu 2>/dev/null | grep -q dmar || die "intel-iommu is not active (no /sys/class/iommu/dmar*)"
  fi

  # Two edus: the test device on the root bus (/sys/devices/pci0000:00/<bdf>),
  # and the hot-plug one behind a PCIe root port (a path one bridge deeper),
  # which only test/hil/device-removal uses: it binds it and has it unplugged.
  for dev in /sys/bus/pci/devices/*; do
    if [ "$(cat "$dev/vendor")" = $EDU_VENDOR ] && [ "$(cat "$dev/device")" = $EDU_DEVICE ]; then
      parent=$(readlink -f "$dev/..")
      case ${parent##*/} in
        pci[0-9a-f]*:[0-9a-f]*) bdf=${dev##*/} ;;
        *) hot_bdf=${dev##*/} ;;
      esac
    fi
  done
  [ -n "$bdf" ] || die "no edu device ($EDU_VENDOR:$EDU_DEVICE) on the root PCI bus"
  [ -n "$hot_bdf" ] || die "no hot-plug edu device behind a PCIe root port (run.sh adds one as '$HIL_HOTPLUG_ID')"
  hot_group=$(readlink "/sys/bus/pci/devices/$hot_bdf/iommu_group")
  hot_group=${hot_group##*/}
  dev=/sys/bus/pci/devices/$bdf
  echo vfio-pci >"$dev/driver_override"
  [ -e "$dev/driver" ] && echo "$bdf" >"$dev/driver/unbind"
  echo "$bdf" >/sys/bus/pci/drivers_probe
  driver=$(readlink "$dev/driver")
  [ "${driver##*/}" = vfio-pci ] || die "$bdf is bound to '${driver##*/}', not vfio-pci"
  group=$(readlink "$dev/iommu_group")
  group=${group##*/}
  [ -c "/dev/vfio/$group" ] || die "/dev/vfio/$group missing"
  say "edu $bdf -> vfio-pci, IOMMU group $group$([ -e /dev/iommu ] && echo ', /dev/iommu present')"
  # Left unbound: only test/hil/device-removal hands it to vfio-pci, so every
  # other test sees one vfio-pci edu, as before.
  say "hot-plug edu $hot_bdf ('$HIL_HOTPLUG_ID', IOMMU group $hot_group, unbound); hotplug slots: $(cat /sys/bus/pci/slots/*/address 2>/dev/null | tr '\n' ' ')"
fi

# The chroot sees the guest's kernel interfaces, not the host's. /tmp needs
# nothing: the overlay already makes it writable, and a fresh tmpfs there
# would hide a checkout that lives under /tmp.
mount -o bind /dev /host/dev || die "bind /dev"
mount -t proc proc /host/proc || die "mount /host/proc"
mount -t sysfs sys /host/sys || die "mount /host/sys"
mount -t debugfs debugfs /host/sys/kernel/debug 2>/dev/null
# The tests ask the host to unplug a device by writing a file here (run.sh's
# unplug-relay.mjs turns it into QMP device_del); /out itself stays outside the chroot.
unplug_dir=
if [ -d /out/unplug ]; then
  unplug_dir=/run/node-vfio-hil-unplug
  mkdir -p "/host$unplug_dir" && mount -o bind /out/unplug "/host$unplug_dir" || die "bind the unplug directory"
fi

ready=$(uptime_s)
echo "HIL-READY uptime=${ready}s"

# env -i: only what the tests need; nothing from the kernel command line.
# "$@" holds the extra vitest arguments (set in /out/env).
in_checkout() {
  chroot /host /bin/sh -c 'cd "$0" && exec "$@"' "$HIL_REPO" \
    /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="${HIL_HOME:-/tmp}" TMPDIR=/tmp CI=1 TERM=dumb "${HIL_COLOR:-NO_COLOR=1}" \
    VFIO_HIL=1 VFIO_HIL_KERNEL="${HIL_KERNEL_KIND:-debian}" VFIO_HIL_IOMMU="${HIL_IOMMU:-intel}" VFIO_TEST_GROUP="$group" VFIO_TEST_DEVICE="$bdf" \
    VFIO_TEST_HOTPLUG_DEVICE="$hot_bdf" VFIO_TEST_HOTPLUG_GROUP="$hot_group" VFIO_HIL_HOTPLUG_ID="$HIL_HOTPLUG_ID" \
    VFIO_HIL_UNPLUG_DIR="$unplug_dir" VFIO_HIL_CACHE=/tmp/vite-hil \
    ${HIL_FUZZ_SEED:+FUZZ_SEED=$HIL_FUZZ_SEED} ${HIL_FUZZ_SEQUENCES:+FUZZ_SEQUENCES=$HIL_FUZZ_SEQUENCES} \
    ${HIL_FUZZ_FD_SEQUENCES:+FUZZ_FD_SEQUENCES=$HIL_FUZZ_FD_SEQUENCES} "$@"
}
# Through a pipe, not straight to the serial tty: vitest then writes a plain
# log (no cursor movement) that reads well in CI and in console.log.
set -o pipefail
if [ -n "$HIL_EXEC" ]; then
  in_checkout /bin/sh -c "$HIL_EXEC" 2>&1 | cat
else
  in_checkout "$HIL_NODE" node_modules/vitest/vitest.mjs run --config vitest.hil.config.ts "$@" 2>&1 | cat
fi
code=$?
set +o pipefail
end=$(uptime_s)
say "tests exited $code after $(awk -v a="$ready" -v b="$end" 'BEGIN { printf "%.1f", b - a }')s"
finish $code
