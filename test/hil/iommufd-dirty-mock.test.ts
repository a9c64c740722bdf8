// iommufd dirty tracking, end to end through the kernel's IOMMUFD_TEST mock
// domain: the emulated VT-d has no SSADS, so a real device cannot get a
// dirty-tracking HWPT (the suite's cdev part checks that refusal where edu is
// bound); the mock device can. IOMMU_HWPT_ALLOC(DIRTY_TRACKING) -> replace the
// mock's domain -> IOMMU_HWPT_SET_DIRTY_TRACKING -> the mock marks PTEs dirty
// (what DMA would do) -> IOMMU_HWPT_GET_DIRTY_BITMAP reports exactly those
// pages, and clears them unless NO_CLEAR. The tests are the conformance suite
// test/conformance/hwpt-dirty-suite.ts, which npm test runs on the sim.
// Needs CONFIG_IOMMUFD_TEST (the lane's built kernel) and, on 6.12, no other
// IOMMU: the lane's "built-noiommu" boot (no VT-d) runs this file, and there
// it must run, never skip.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Errno, VfioError } from '../../lib/errors.js';
import { NativeBackend, nativeAvailability, nativeIommufdOf } from '../../lib/native/index.js';
import type { Iommufd } from '../../lib/backend.js';
import { eduCdev } from '../conformance/iommufd-cdev.js';
import { defineHwptDirtyConformance } from '../conformance/hwpt-dirty-suite.js';

// The lane's boot made for this file: a skip there is a broken lane, not a kernel limit.
const mustRun = process.env.VFIO_HIL_KERNEL === 'built-noiommu';

function why(): string | null {
  const n = nativeAvailability();
  if (!n.available) return `native addon unavailable (${n.reason})`;
  if (!existsSync('/dev/iommu')) return 'no /dev/iommu (kernel without IOMMUFD)';
  const fd = new NativeBackend().openIommufd();
  try {
    const ioas = fd.allocIoas();
    nativeIommufdOf(fd)!.mockDomain(ioas.id, 0);
    return null;
  } catch (err) {
    if (err instanceof VfioError && err.errno === Errno.ENOTTY) return 'kernel without CONFIG_IOMMUFD_TEST';
    // 6.12's __iommu_probe_device() assumes one IOMMU driver: with VT-d registered first, the mock device is
    // probed with VT-d's ops, gets no IOMMU, and iommufd_device_bind() refuses it (EINVAL). The lane's
    // built-noiommu boot (no VT-d device) runs these.
    if (err instanceof VfioError && err.errno === Errno.EINVAL) {
      return 'the mock domain cannot bind next to a real IOMMU on 6.12 (iommu_fwspec_ops(NULL) picks VT-d\'s ops for the mock device)';
    }
    return `mock domain: ${(err as Error).message}`;
  } finally {
    fd.close();
  }
}
const reason = why();

describe.runIf(mustRun)('the built-noiommu lane boot', () => {
  it('can create a mock domain (the reason this boot exists)', () => {
    expect(reason).toBeNull();
  });
});

/** The edu cdev where the lane binds one: QEMU's VT-d and AMD-Vi track no dirty pages (no SSADS, no HDSup). */
function cdev(): { name: string; dirtyTracking: boolean } | { none: string } {
  const n = nativeAvailability();
  if (!n.available) return { none: `native addon unavailable (${n.reason})` };
  if (!existsSync('/dev/iommu')) return { none: 'no /dev/iommu (kernel without IOMMUFD)' };
  const iommu = process.env.VFIO_HIL_IOMMU ?? (process.env.VFIO_HIL === '1' ? 'intel' : '');
  if (iommu !== 'intel' && iommu !== 'amd') return { none: 'outside the lane\'s emulated IOMMUs, whether this one tracks dirty pages is not known' };
  const c = eduCdev();
  return typeof c === 'string' ? { name: c, dirtyTracking: false } : c;
}

defineHwptDirtyConformance({
  label: 'native-hwpt-dirty',
  open: () => new NativeBackend(),
  calls: (fd: Iommufd) => {
    const n = nativeIommufdOf(fd);
    if (!n) throw new TypeError('not a native iommufd');
    return n;
  },
  mockSkip: mustRun ? null : reason,
  cdev: cdev(),
});
