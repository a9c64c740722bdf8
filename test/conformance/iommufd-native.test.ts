// The iommufd conformance suite against the native backend: only where the
// kernel has /dev/iommu (CONFIG_IOMMUFD; the HIL lane's built 6.12.117 kernel,
// not Debian's 6.12.107). The cdev tests also need VFIO_DEVICE_CDEV and the
// edu device bound to vfio-pci (VFIO_TEST_DEVICE, or VFIO_TEST_CDEV naming
// its /dev/vfio/devices node).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe } from 'vitest';
import { openBackend } from '../../lib/open.js';
import { nativeAvailability } from '../../lib/native/index.js';
import { defineIommufdConformance } from './iommufd-suite.js';

const CAP_SYS_RESOURCE = 24n;

/** The edu device's cdev (vfioN under its sysfs node), or why there is none. */
export function eduCdev(): string | { none: string } {
  const named = process.env['VFIO_TEST_CDEV'];
  if (named) return named;
  const dev = process.env['VFIO_TEST_DEVICE'];
  if (!dev) return { none: 'no VFIO_TEST_DEVICE / VFIO_TEST_CDEV (run in the HIL lane)' };
  const dir = `/sys/bus/pci/devices/${dev}/vfio-dev`;
  try {
    const node = readdirSync(dir).find((n) => /^vfio\d+$/.test(n));
    if (node && existsSync(`/dev/vfio/devices/${node}`)) return node;
    return { none: `${dev} has no /dev/vfio/devices node (CONFIG_VFIO_DEVICE_CDEV off?)` };
  } catch {
    return { none: `no ${dir}: the kernel lacks CONFIG_VFIO_DEVICE_CDEV or ${dev} is not bound to vfio-pci` };
  }
}

function hasCap(bit: bigint): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? ((BigInt(`0x${m[1]}`) >> bit) & 1n) === 1n : false;
}

const native = nativeAvailability();
const why = !native.available ? `native addon unavailable (${native.reason})`
  : !existsSync('/dev/iommu') ? 'no /dev/iommu: this kernel has no iommufd (the HIL lane\'s built kernel has; Debian 6.12.107 has not)'
  : null;

describe.skipIf(why !== null)(`native iommufd conformance${why ? ` (skipped: ${why})` : ''}`, () => {
  defineIommufdConformance({
    label: 'native-iommufd',
    // openBackend 'native' also wants /dev/vfio/vfio; iommufd alone needs only the addon.
    open: () => openBackend({ backend: 'native' }, { containerNode: () => null }).backend,
    cdev: eduCdev(),
    sysResource: hasCap(CAP_SYS_RESOURCE),
  });
});
