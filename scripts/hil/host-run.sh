#!/usr/bin/env bash
# `npm run test:hil -- --host [<vitest args>]`: the same HIL test files, no VM,
# on this machine, which must be a real VFIO host (as root). The device is
# VFIO_TEST_DEVICE, or else the first PCI device bound to vfio-pci.
set -euo pipefail
. "$(dirname "$0")/common.sh"

device=${VFIO_TEST_DEVICE:-}
if [[ -z $device ]]; then
  for link in /sys/bus/pci/drivers/vfio-pci/*:*; do
    [[ -e $link ]] && { device=${link##*/}; break; }
  done
  [[ -n $device ]] || hil_die "no PCI device is bound to vfio-pci; bind one (see scripts/hil/README.md) or set VFIO_TEST_DEVICE"
fi
sysdev=/sys/bus/pci/devices/$device
[[ -e $sysdev ]] || hil_die "VFIO_TEST_DEVICE=$device: no such PCI device"
driver=$(basename "$(readlink "$sysdev/driver" 2>/dev/null || echo none)")
[[ $driver == vfio-pci ]] || hil_die "$device is bound to '$driver', not vfio-pci"
group=$(basename "$(readlink "$sysdev/iommu_group")")
[[ -c /dev/vfio/$group ]] || hil_die "/dev/vfio/$group is missing (is vfio_iommu_type1 loaded?)"

hil_log "host mode: $device ($(<"$sysdev/vendor"):$(<"$sysdev/device")), IOMMU group $group, kernel $(uname -r)"
cd "$REPO_DIR"
start=$(hil_now)
set +e
VFIO_TEST_DEVICE=$device VFIO_TEST_GROUP=$group \
  node node_modules/vitest/vitest.mjs run --config vitest.hil.config.ts "$@"
rc=$?
set -e
hil_log "tests took $(hil_elapsed "$start" "$(hil_now)")s, exit code $rc"
exit "$rc"
