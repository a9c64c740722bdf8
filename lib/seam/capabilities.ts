// Optional capabilities of the seam, asked for without casts: a backend that
// has one implements the method, and for one that does not, these answer
// "unsupported" (EOPNOTSUPP, naming what is missing) by themselves.
import type { Container, DirtyTracking, DmaSpace, HwptDirty, Iommufd } from '../backend.js';
import { Errno, VfioError } from '../errors.js';

/** The space's dirty tracking, or null when it has none. */
export function dirtyTrackingOf(space: DmaSpace): DirtyTracking | null {
  return space.dirtyTracking?.() ?? null;
}

/** iommufd's HWPT dirty tracking, or null when the backend has none. */
export function hwptDirtyOf(fd: Iommufd): HwptDirty | null {
  return fd.hwptDirty?.() ?? null;
}

/** The refusal for a capability a space or backend lacks. */
export function unsupported(op: string, what: string): VfioError {
  return new VfioError(Errno.EOPNOTSUPP, op, {}, what);
}

/** A type1 container's dirty tracking: its DIRTY_PAGES calls, as one capability. */
export function containerDirtyTracking(c: Container): DirtyTracking {
  return {
    start: () => c.dirtyStart(),
    stop: () => c.dirtyStop(),
    get: (iova, size, pageSize) => c.dirtyGet(iova, size, pageSize),
  };
}
