// Backend Ioas over the addon's IOAS. info() is built from IOMMU_IOAS_IOVA_RANGES
// (iommufd reports no page-size bitmap; see IoasRanges in backend.ts).
import type { Ioas, IoasRanges, IommuInfo, IovaRange, RlimitMode } from '../backend.js';
import { Op } from '../error-hints.js';
import { checkIovaRanges, checkProt, toU64 } from '../seam/args.js';
import type { NativeAddon, NativeIoas } from './addon.js';
import { Handles, NativeSpace, type SpaceNames } from './space.js';

const handles = new Handles<NativeIoas>();

const IOAS_NAMES: SpaceNames = {
  map: Op.IOAS_MAP,
  unmap: Op.IOAS_UNMAP,
  mapArgs: (m, prot) => ({ vaddr: m.vaddr, size: m.size, prot, iova: m.iova }),
  what: 'the IOAS',
};

/** The addon object behind an Ioas this backend made, or undefined. */
export function nativeIoasOf(i: unknown): NativeIoas | undefined {
  return handles.of(i);
}

/** The DmaSpace view of IOVA_RANGES: one page size, max(alignment, 4 KiB). */
export function ioasInfo(r: IoasRanges): IommuInfo {
  const page = r.alignment > 0x1000n ? r.alignment : 0x1000n;
  return { pageSizes: page, ranges: r.ranges, dmaAvail: null, migration: null };
}

export class NativeBackendIoas extends NativeSpace<NativeIoas> implements Ioas {
  /** Its iommufd's IOMMU_OPTION_RLIMIT_MODE: fixed once any object exists (the option is EBUSY then). */
  readonly #mode: RlimitMode;

  constructor(addon: NativeAddon, n: NativeIoas, mode: RlimitMode = 'user') {
    super(addon, n, IOAS_NAMES);
    handles.set(this, n);
    this.#mode = mode;
  }

  /** memlock() then also names the counter its pins are held against in its iommufd's accounting mode (MemlockAccount). */
  protected override get rlimitMode(): RlimitMode {
    return this.#mode;
  }

  get id(): number {
    return this.n.id;
  }

  iovaRanges(): IoasRanges {
    const r = this.n.iovaRanges();
    const ranges: IovaRange[] = [];
    for (let i = 0; i < r.ranges.length; i += 2) ranges.push({ start: r.ranges[i]!, last: r.ranges[i + 1]! });
    return { alignment: r.alignment, ranges };
  }

  info(): IommuInfo {
    return ioasInfo(this.iovaRanges());
  }

  mapAuto(vaddr: bigint, size: bigint, prot?: number): bigint {
    toU64(vaddr, 'mapAuto: vaddr');
    toU64(size, 'mapAuto: size');
    return this.n.mapAuto(vaddr, size, checkProt(prot, 'mapAuto'));
  }

  copy(src: Ioas, srcIova: bigint, size: bigint, dstIova: bigint | null, prot?: number): bigint {
    const s = nativeIoasOf(src);
    if (!s) throw new TypeError('copy: src must be an Ioas of the native backend');
    toU64(srcIova, 'srcIova');
    toU64(size, 'size');
    if (dstIova !== null) toU64(dstIova, 'dstIova');
    return this.n.copyFrom(s, srcIova, size, dstIova, checkProt(prot, 'copy'));
  }

  allowIovas(ranges: IovaRange[]): void {
    checkIovaRanges(ranges);
    const pairs = new BigUint64Array(ranges.length * 2);
    ranges.forEach((r, i) => {
      pairs[2 * i] = r.start;
      pairs[2 * i + 1] = r.last;
    });
    this.n.allowIovas(pairs);
  }
}
