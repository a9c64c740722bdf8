// The iommufd conformance suite against the native backend: only where the
// kernel has /dev/iommu (CONFIG_IOMMUFD; the HIL lane's built 6.12.117 kernel,
// not Debian's 6.12.107). The cdev tests also need VFIO_DEVICE_CDEV and the
// edu device bound to vfio-pci (VFIO_TEST_DEVICE, or VFIO_TEST_CDEV naming
// its /dev/vfio/devices node).
import { existsSync, readFileSync } from 'node:fs';
import { describe } from 'vitest';
import { openBackend } from '../../lib/open.js';
import { nativeAvailability } from '../../lib/native/index.js';
import { eduCdev } from './iommufd-cdev.js';
import { defineIommufdConformance } from './iommufd-suite.js';

const CAP_SYS_RESOURCE = 24n;

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
