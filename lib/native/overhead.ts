// The addon's own cost with no VFIO (native/overhead_space.h): a DmaSpace over
// the stand-in space, through NativeSpace exactly as a container goes, so the
// argument checks, the executor and the result objects measured are the
// container's; only the system call behind each entry differs.
import type { IommuInfo, OverheadProbe } from '../backend.js';
import type { NativeAddon, NativeOverheadSpace } from './addon.js';
import { requireAddon } from './load.js';
import { NativeSpace, type SpaceNames } from './space.js';

/** What the stand-in says about itself: 4 KiB, 2 MiB and 1 GiB pages over a 48-bit IOVA space, no entry limit. */
const STAND_IN_INFO: IommuInfo = {
  pageSizes: (1n << 12n) | (1n << 21n) | (1n << 30n),
  ranges: [{ start: 0n, last: (1n << 48n) - 1n }],
  dmaAvail: null,
  migration: null,
};

// The ops its errors name: what the stand-in stands in for, and what it really calls.
const OVERHEAD_NAMES: SpaceNames = {
  map: 'overhead map (FIONBIO)',
  unmap: 'overhead unmap (FIONBIO)',
  mapArgs: (m, prot) => ({ vaddr: m.vaddr, iova: m.iova, size: m.size, flags: prot }),
  what: 'the overhead space',
};

export class NativeOverheadSpaceWrapper extends NativeSpace<NativeOverheadSpace> {
  constructor(addon: NativeAddon, n: NativeOverheadSpace) {
    super(addon, n, OVERHEAD_NAMES);
  }

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
