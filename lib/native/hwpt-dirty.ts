// iommufd's dirty tracking on the native backend: a HWPT allocated with
// DIRTY_TRACKING, switched on and read through the addon's /dev/iommu context.
import type { CdevDevice, HwptDirty, Ioas } from '../backend.js';
import { checkPageSize, checkRange } from '../seam/args.js';
import type { NativeIommufd } from './addon.js';

// uapi/linux/iommufd.h
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1n << 0n;
const IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1 << 0;

function devIdOf(dev: Pick<CdevDevice, 'devId'>): number {
  if (dev === null || typeof dev !== 'object' || typeof dev.devId !== 'number') throw new TypeError('a bound CdevDevice is required');
  return dev.devId;
}

export function nativeHwptDirty(n: NativeIommufd): HwptDirty {
  return {
    supported: (dev) => (n.hwInfo(devIdOf(dev)).capabilities & IOMMU_HW_CAP_DIRTY_TRACKING) !== 0n,
    alloc: (dev: CdevDevice, ioas: Ioas) => n.hwptAlloc(devIdOf(dev), ioas.id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING),
    setTracking: (hwptId, enabled) => n.hwptSetDirty(hwptId, enabled),
    get: (hwptId, iova, size, pageSize, opts = {}) => {
      checkRange(iova, size);
      checkPageSize(pageSize);
      const flags = opts.noClear ? IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR : 0;
      return { pageSize, bits: n.hwptGetDirty(hwptId, iova, size, pageSize, flags) };
    },
    destroy: (hwptId) => n.destroy(hwptId),
  };
}
