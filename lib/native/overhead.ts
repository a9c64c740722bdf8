// The addon's own cost with no VFIO (native/overhead_space.h): a DmaSpace over
// the stand-in space, through NativeSpace exactly as a container goes, so the
// argument checks, the executor and the result objects measured are the
// container's; only the system call behind each entry differs.
import type { IommuInfo, OverheadProbe } from '../backend.js';
import type { NativeAddon, NativeOverheadSpace } from './addon.js';
import { requireAddon } from './load.js';
import { NativeSpace } from './space.js';

/** What the stand-in says about itself: 4 KiB, 2 MiB and 1 GiB pages over a 48-bit IOVA space, no entry limit. */
const STAND_IN_INFO: IommuInfo = {
  pageSizes: (1n << 12n) | (1n << 21n) | (1n << 30n),
  ranges: [{ start: 0n, last: (1n << 48n) - 1n }],
  dmaAvail: null,
  migration: null,
};

export class NativeOverheadSpaceWrapper extends NativeSpace<NativeOverheadSpace> {
  info(): IommuInfo {
    return { ...STAND_IN_INFO, ranges: STAND_IN_INFO.ranges.map((r) => ({ ...r })) };
  }
}

export const OVERHEAD_SYSCALL = 'ioctl(eventfd, FIONBIO, &0)';

export function nativeOverheadProbe(addon: NativeAddon = requireAddon()): OverheadProbe {
  return {
    syscall: OVERHEAD_SYSCALL,
    openSpace: () => new NativeOverheadSpaceWrapper(addon, addon.openOverheadSpace()),
    floor: (calls) => addon.overheadFloor(calls),
  };
}
