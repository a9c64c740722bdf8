// iommufd's HWPT dirty tracking in the sim (Linux 6.12.117):
// IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_DIRTY_TRACKING (hw_pagetable.c
// iommufd_hwpt_alloc, iommufd_hwpt_paging_alloc), IOMMU_HWPT_SET_DIRTY_TRACKING
// (iommufd_hwpt_set_dirty_tracking -> io_pagetable.c iopt_set_dirty_tracking),
// IOMMU_HWPT_GET_DIRTY_BITMAP (iommufd_hwpt_get_dirty_bitmap ->
// iopt_read_and_clear_dirty_data, iommufd_check_iova_range, iova_bitmap.c),
// IOMMU_GET_HW_INFO's IOMMU_HW_CAP_DIRTY_TRACKING (device.c iommufd_get_hw_info)
// and IOMMU_DESTROY of a HWPT; and the IOMMUFD_TEST mock domain (selftest.c)
// that the lane uses where no emulated IOMMU tracks dirty pages:
// IOMMU_TEST_OP_MOCK_DOMAIN, _MOCK_DOMAIN_REPLACE and _DIRTY.
//
// Which IOMMUs track: the mock domain (unless MOCK_FLAGS_DEVICE_NO_DIRTY), and
// a simulated cdev only when SimOptions.dirtyTracking says its IOMMU can
// (no profile does: QEMU's VT-d has no SSADS and its AMD-Vi no HDSup, and the
// kernel answers EOPNOTSUPP there). MODEL-IOMMUFD.md ("HWPT dirty tracking")
// names the kernel function behind each rule.
import type { DirtyBitmap, HwptDirty, Ioas } from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { checkPageSize, checkRange, toU32, toU64, U64_MAX } from '../seam/args.js';
import { closedError } from './args.js';
import { SimIoas } from './ioas.js';
import type { SimArea } from './iommufd-iopt.js';
import type { SimIommufd } from './iommufd.js';

// uapi/linux/iommufd.h
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0;
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2;
export const IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1 << 0;
export const IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1 << 0;
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1n << 0n;
// iommufd_test.h / selftest.c
export const MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0;
export const MOCK_FLAGS_DEVICE_HUGE_IOVA = 1 << 1;
/** MOCK_IO_PAGE_SIZE = PAGE_SIZE / 2: the mock's PTE size, so its domain's pgsize_bitmap. */
export const MOCK_IO_PAGE_SIZE = 0x800n;
export const MOCK_APERTURE_START = 1n << 24n;
export const MOCK_APERTURE_LAST = (1n << 31n) - 1n;
/** The native backend bounds the reply it allocates (native/kernel/bitmap.h kDirtyBitmapBytesMax) before the ioctl. */
const DIRTY_BITMAP_BYTES_MAX = 1n << 28n;

function fail(errno: number, op: string, args: Record<string, unknown>, hint: string): never {
  throw new VfioError(errno, op, args, hint);
}

/**
 * A paging HWPT (struct iommufd_hwpt_paging) and its iommu_domain: the IO
 * page size its PTEs have, whether the domain has dirty_ops, tracking on or
 * off, and the PTEs' dirty bits, kept per area (an unmap drops the area and
 * with it its PTEs' bits, as unmapping erases the mock's xarray entries).
 */
export class SimHwpt {
  readonly id: number;
  readonly ioas: SimIoas;
  /** The domain's smallest page: what one dirty bit of a PTE covers here. */
  readonly ioPage: bigint;
  /** domain->dirty_ops is set (allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING). */
  readonly dirtyOps: boolean;
  /** A mock_iommu_domain (selftest.c) rather than the simulated host IOMMU's. */
  readonly mock: boolean;
  /** An automatic domain (attach to an IOAS): destroyed when its last device leaves. */
  readonly auto: boolean;
  /** MOCK_DIRTY_TRACK / the driver's dirty_tracking flag. */
  tracking = false;
  /** Devices attached. */
  users = 0;
  readonly #dirty = new Map<SimArea, Set<bigint>>();

  constructor(ctx: SimIommufd, ioas: SimIoas, o: { ioPage: bigint; dirtyOps: boolean; mock: boolean; auto: boolean }) {
    this.ioas = ioas;
    this.ioPage = o.ioPage;
    this.dirtyOps = o.dirtyOps;
    this.mock = o.mock;
    this.auto = o.auto;
    this.id = ctx.allocId(this);
  }

  /** Sets the dirty bit of the PTEs holding [iova, iova + length) where they are mapped; returns how many. */
  markDirty(iova: bigint, length: bigint): number {
    let n = 0;
    for (let idx = iova / this.ioPage; idx * this.ioPage < iova + length; idx++) {
      const area = this.ioas.iopt.lookup(idx * this.ioPage, 1n);
      if (!area) continue;
      let set = this.#dirty.get(area);
      if (!set) this.#dirty.set(area, (set = new Set()));
      set.add(idx);
      n++;
    }
    return n;
  }

  /** A device wrote [iova, iova + length) through this domain: the IOMMU sets the PTEs' dirty bits while tracking. */
  deviceWrote(iova: bigint, length: bigint): void {
    if (this.dirtyOps && this.tracking) this.markDirty(iova, length);
  }

  /**
   * ops->read_and_clear_dirty over [iova, last] of one area: each dirty PTE is
   * recorded (iommu_dirty_bitmap_record) and cleared unless NO_CLEAR
   * (mock_test_and_clear_dirty).
   */
  readAndClear(area: SimArea, iova: bigint, last: bigint, noClear: boolean, record: (iova: bigint, length: bigint) => void): void {
    const set = this.#dirty.get(area);
    if (!set) return;
    for (const idx of [...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      const at = idx * this.ioPage;
      if (at < iova || at > last) continue;
      record(at, this.ioPage);
      if (!noClear) set.delete(idx);
    }
  }

  /** iopt_clear_dirty_data(): every area's PTEs clean, before tracking is switched on. */
  clearAll(): void {
    this.#dirty.clear();
  }

  /**
   * Forgets the bits of areas no longer mapped. Only memory: bits are reached through the live area at an IOVA,
   * so a dead area's are never read (the same IOVA mapped again is a new area, clean).
   */
  prune(): void {
    for (const a of this.#dirty.keys()) if (this.ioas.iopt.lookup(a.iova, 1n) !== a) this.#dirty.delete(a);
  }
}

/** A mock device (selftest.c struct mock_dev + its selftest object and iommufd_device). */
export class SimMockDevice {
  readonly stdevId: number;
  readonly idevId: number;
  readonly flags: number;
  hwpt: SimHwpt;

  constructor(ctx: SimIommufd, ioas: SimIoas, flags: number) {
    this.flags = flags;
    // iommufd_test_mock_domain(): the selftest object, then iommufd_device_bind(), then the attach.
    this.stdevId = ctx.allocId(this);
    this.idevId = ctx.allocId(this);
    this.hwpt = mockAutoDomain(ctx, ioas);
    this.hwpt.users++;
  }

  /** mock_dev_ops.capable(IOMMU_CAP_DIRTY_TRACKING) */
  get dirtyCapable(): boolean {
    return (this.flags & MOCK_FLAGS_DEVICE_NO_DIRTY) === 0;
  }
}

/** The mock domain's reserved regions: everything outside its aperture (iopt_table_add_domain). */
const MOCK_RESERVED = [{ start: 0n, last: MOCK_APERTURE_START - 1n }, { start: MOCK_APERTURE_LAST + 1n, last: U64_MAX }];

/** iommufd_device_auto_get_domain() for a mock device: the IOAS's automatic mock domain, or a new one. */
function mockAutoDomain(ctx: SimIommufd, ioas: SimIoas): SimHwpt {
  const found = hwptsOf(ctx).find((h) => h.auto && h.mock && h.ioas === ioas && !h.dirtyOps);
  if (found) return found;
  return addDomain(ctx, ioas, { ioPage: MOCK_IO_PAGE_SIZE, dirtyOps: false, mock: true, auto: true },
    'IOMMU_TEST_OP_MOCK_DOMAIN', { ioasId: ioas.id });
}

/**
 * A new HWPT whose domain joins the IOAS (iopt_table_add_domain: the aperture's
 * outside reserved, the alignment checked; iopt_fill_domain). Its id is taken
 * first and given back on failure, as __iommufd_object_alloc() and
 * iommufd_object_abort_and_destroy() do.
 */
function addDomain(ctx: SimIommufd, ioas: SimIoas, o: ConstructorParameters<typeof SimHwpt>[2], op: string,
  args: Record<string, unknown>): SimHwpt {
  const h = new SimHwpt(ctx, ioas, o);
  try {
    ioas.iopt.addDomain(h, o.mock ? MOCK_RESERVED : hostReserved(ctx), o.ioPage, op, args);
  } catch (err) {
    ctx.freeId(h.id);
    throw err;
  }
  return h;
}

/** The simulated host IOMMU's reserved IOVA: everything outside its usable ranges (the aperture and MSI window). */
function hostReserved(ctx: SimIommufd): { start: bigint; last: bigint }[] {
  const out: { start: bigint; last: bigint }[] = [];
  let cur = 0n;
  for (const r of [...ctx.host.options.iovaRanges].sort((a, b) => (a.start < b.start ? -1 : 1))) {
    if (r.start > cur) out.push({ start: cur, last: r.start - 1n });
    cur = r.last + 1n;
  }
  if (cur <= U64_MAX) out.push({ start: cur, last: U64_MAX });
  return out;
}

function hwptsOf(ctx: SimIommufd): SimHwpt[] {
  return ctx.objects().filter((o): o is SimHwpt => o instanceof SimHwpt);
}

/** Destroys a HWPT: its domain leaves the IOAS (iopt_table_remove_domain) and its id goes. */
function destroyHwpt(ctx: SimIommufd, h: SimHwpt): void {
  if (!h.ioas.closed) h.ioas.iopt.removeDomain(h);
  ctx.freeId(h.id);
}

/** iommufd_get_hwpt_paging(): ENOENT for a missing id or another kind of object. */
function hwptPaging(ctx: SimIommufd, id: number, op: string): SimHwpt {
  const o = ctx.object(id);
  if (!(o instanceof SimHwpt)) fail(Errno.ENOENT, op, { hwptId: id }, `no HWPT with id ${id}`);
  o.prune();
  return o;
}

/** What a device id names: a bound cdev or a mock device, with whether its IOMMU can track dirty pages. */
function deviceOf(ctx: SimIommufd, devId: number, op: string): { capable: boolean; mock: SimMockDevice | null } {
  const o = ctx.object(devId);
  if (o instanceof SimMockDevice && o.idevId === devId) return { capable: o.dirtyCapable, mock: o };
  const cdev = ctx.devices().find((d) => d.devId === devId && !d.closed);
  if (cdev) return { capable: ctx.host.options.dirtyTracking, mock: null };
  return fail(Errno.ENOENT, op, { devId }, `no device with id ${devId}`);
}

/** The kernel's calls for HWPTs and the IOMMUFD_TEST mock, with the addon's names and argument order. */
export interface SimIommufdCalls {
  /** IOMMU_HWPT_ALLOC (iommufd_hwpt_alloc); returns the HWPT id. */
  hwptAlloc(devId: number, ptId: number, flags: number): number;
  /** IOMMU_HWPT_SET_DIRTY_TRACKING. */
  hwptSetDirty(hwptId: number, enable: boolean): void;
  /** IOMMU_HWPT_GET_DIRTY_BITMAP with raw flags; bit i = the page at iova + i * pageSize. */
  hwptGetDirty(hwptId: number, iova: bigint, length: bigint, pageSize: bigint, flags: number): BigUint64Array;
  /** IOMMU_GET_HW_INFO: the capabilities word. */
  hwInfo(devId: number): { type: number; capabilities: bigint };
  /** IOMMU_DESTROY. */
  destroy(id: number): void;
  /** IOMMU_TEST_OP_MOCK_DOMAIN: a mock device attached to the IOAS through an automatic mock domain. */
  mockDomain(ioasId: number, devFlags: number): { stdevId: number; hwptId: number; idevId: number };
  /** IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: returns the pt id now attached. */
  mockDomainReplace(stdevId: number, ptId: number): number;
  /** IOMMU_TEST_OP_DIRTY: marks the mock PTEs `bits` name (one per pageSize from iova) dirty; returns how many were mapped. */
  mockDirty(hwptId: number, iova: bigint, length: bigint, pageSize: bigint, bits: BigUint64Array): number;
}

// IOMMU_HW_INFO_TYPE_*: the sim answers as the driver its profile imitates.
const HW_INFO_TYPE = { 'intel-iommu': 1, 'amd-iommu': 0, selftest: 0xfeedbeef } as const;

/** The simulated kernel's HWPT and IOMMUFD_TEST calls on one context (what NativeIommufd has for these). */
export function simIommufdCalls(ctx: SimIommufd): SimIommufdCalls {
  // As the addon: a closed context first (EBADF), then each argument's type and range (TypeError, RangeError).
  const live = (op: string) => {
    if (ctx.closed) throw closedError(op);
  };
  return {
    hwptAlloc(devId, ptId, flags) {
      const op = 'IOMMU_HWPT_ALLOC';
      live(op);
      toU32(devId, 'devId');
      toU32(ptId, 'ptId');
      toU32(flags, 'flags');
      const args = { devId, ptId, flags };
      // iommufd_hwpt_alloc(): the device, then the pt object (any type; missing is EINVAL, not ENOENT).
      const dev = deviceOf(ctx, devId, op);
      const pt = ctx.object(ptId);
      if (pt === undefined) fail(Errno.EINVAL, op, args, `no object with id ${ptId}`);
      if (pt instanceof SimHwpt) {
        // iommufd_hwpt_nested_alloc(): only FAULT_ID_VALID, and driver data the seam never sends.
        return fail(Errno.EOPNOTSUPP, op, args, 'a HWPT over a HWPT is a nested one: it needs driver data and takes no DIRTY_TRACKING');
      }
      if (!(pt instanceof SimIoas)) fail(Errno.EINVAL, op, args, `object ${ptId} is neither an IOAS nor a HWPT`);
      // iommufd_hwpt_paging_alloc()
      if (flags & ~(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING)) {
        fail(Errno.EOPNOTSUPP, op, args, `unknown flags 0x${flags.toString(16)}`);
      }
      const wantDirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0;
      if (wantDirty && !dev.capable) {
        fail(Errno.EOPNOTSUPP, op, args, dev.mock
          ? 'the mock device has MOCK_FLAGS_DEVICE_NO_DIRTY'
          : `this IOMMU (${ctx.host.options.iommu.profile}) cannot track dirty pages (VT-d needs SSADS, AMD-Vi HDSup): SimOptions.dirtyTracking`);
      }
      const h = addDomain(ctx, pt, {
        ioPage: dev.mock ? MOCK_IO_PAGE_SIZE : ctx.host.options.pageSizes & -ctx.host.options.pageSizes,
        dirtyOps: wantDirty, mock: dev.mock !== null, auto: false,
      }, op, args);
      return h.id;
    },

    hwptSetDirty(hwptId, enable) {
      const op = 'IOMMU_HWPT_SET_DIRTY_TRACKING';
      live(op);
      toU32(hwptId, 'hwptId');
      if (typeof enable !== 'boolean') throw new TypeError('enable must be a boolean');
      const h = hwptPaging(ctx, hwptId, op);
      // iopt_set_dirty_tracking(): no dirty_ops; enabling first clears every PTE's dirty bit.
      if (!h.dirtyOps) fail(Errno.EOPNOTSUPP, op, { hwptId, enable }, 'the HWPT was not allocated with DIRTY_TRACKING');
      if (enable) h.clearAll();
      h.tracking = enable;
    },

    hwptGetDirty(hwptId, iova, length, pageSize, flags) {
      const op = 'IOMMU_HWPT_GET_DIRTY_BITMAP';
      live(op);
      const args = { hwptId, iova, length, pageSize, flags };
      toU32(hwptId, 'hwptId');
      toU64(iova, 'iova');
      toU64(length, 'length');
      toU64(pageSize, 'pageSize');
      toU32(flags, 'flags');
      if (pageSize === 0n) throw new RangeError('pageSize must be non-zero');
      // The addon allocates the whole reply, so it bounds it before the ioctl (native/kernel/bitmap.h).
      const pages = (length + pageSize - 1n) / pageSize;
      if ((pages + 63n) / 64n * 8n > DIRTY_BITMAP_BYTES_MAX) {
        fail(Errno.EINVAL, op, args, 'dirty bitmap past 2^31 pages: ask for a smaller range');
      }
      // iommufd_hwpt_get_dirty_bitmap()
      if (flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) fail(Errno.EOPNOTSUPP, op, args, `unknown flags 0x${flags.toString(16)}`);
      const h = hwptPaging(ctx, hwptId, op);
      // iommufd_check_iova_range()
      const align = h.ioas.iopt.alignment;
      if (length === 0n) fail(Errno.EINVAL, op, args, 'length must be non-zero');
      const last = iova + length - 1n;
      if (last > U64_MAX) fail(Errno.EOVERFLOW, op, args, 'the range wraps around 2^64');
      if ((iova & (align - 1n)) !== 0n || ((last + 1n) & (align - 1n)) !== 0n) {
        fail(Errno.EINVAL, op, args, `iova and length must be multiples of the IOAS alignment (${align})`);
      }
      if (pageSize === 0n) fail(Errno.EINVAL, op, args, 'pageSize must be non-zero');
      if ((iova & (pageSize - 1n)) !== 0n || ((last + 1n) & (pageSize - 1n)) !== 0n) {
        fail(Errno.EINVAL, op, args, `iova and length must be multiples of pageSize (${pageSize})`);
      }
      // iommu_read_and_clear_dirty()
      if (!h.dirtyOps) fail(Errno.EOPNOTSUPP, op, args, 'the HWPT was not allocated with DIRTY_TRACKING');
      const words = new BigUint64Array(Number((pages + 63n) / 64n));
      // iova_bitmap_alloc(): pgshift = __ffs(page_size); iova_bitmap_set() sets every bit a record touches.
      const shift = BigInt((pageSize & -pageSize).toString(2).length - 1);
      const record = (at: bigint, len: bigint) => {
        for (let bit = (at - iova) >> shift; bit <= (at + len - 1n - iova) >> shift; bit++) {
          const w = Number(bit >> 6n);
          if (w < words.length) words[w]! |= 1n << (bit & 63n);
        }
      };
      // 6.12 drops the walk's error: tracking off (the driver's EINVAL) or a hole in the range (the
      // contiguous-area walk's EINVAL) end the walk early, and the ioctl still answers 0.
      if (!h.tracking) return words;
      const noClear = (flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) !== 0;
      // __iommu_read_and_clear_dirty(): iopt_for_each_contig_area over [iova, last].
      let cur = iova;
      while (cur <= last) {
        const area = h.ioas.iopt.lookup(cur, 1n);
        if (!area) break;
        const to = area.end - 1n < last ? area.end - 1n : last;
        h.readAndClear(area, cur, to, noClear, record);
        if (to === U64_MAX) break;
        cur = to + 1n;
      }
      return words;
    },

    hwInfo(devId) {
      const op = 'IOMMU_GET_HW_INFO';
      live(op);
      toU32(devId, 'devId');
      const dev = deviceOf(ctx, devId, op);
      return {
        type: dev.mock ? HW_INFO_TYPE.selftest : HW_INFO_TYPE[ctx.host.options.iommu.driver],
        capabilities: dev.capable ? IOMMU_HW_CAP_DIRTY_TRACKING : 0n,
      };
    },

    destroy(id) {
      const op = 'IOMMU_DESTROY';
      live(op);
      toU32(id, 'id');
      const o = ctx.object(id);
      if (o === undefined) fail(Errno.ENOENT, op, { id }, `no object with id ${id}`);
      if (o instanceof SimHwpt) {
        if (o.users > 0) fail(Errno.EBUSY, op, { id }, 'a device is attached to this HWPT');
        destroyHwpt(ctx, o);
        return;
      }
      if (o instanceof SimIoas) {
        if (hwptsOf(ctx).some((h) => h.ioas === o)) fail(Errno.EBUSY, op, { id }, 'a HWPT still holds this IOAS');
        o.close();
        return;
      }
      // Devices (bound cdevs, mock devices) and the automatic HWPTs of attached cdevs are held by their users.
      fail(Errno.EBUSY, op, { id }, `object ${id} is in use`);
    },

    mockDomain(ioasId, devFlags) {
      const op = 'IOMMU_TEST_OP_MOCK_DOMAIN';
      live(op);
      toU32(ioasId, 'ioasId');
      toU32(devFlags, 'devFlags');
      if (devFlags & ~(MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_HUGE_IOVA)) {
        fail(Errno.EINVAL, op, { ioasId, devFlags }, `unknown mock device flags 0x${devFlags.toString(16)}`);
      }
      const ioas = ctx.object(ioasId);
      if (!(ioas instanceof SimIoas)) fail(Errno.ENOENT, op, { ioasId }, `no IOAS with id ${ioasId}`);
      const m = new SimMockDevice(ctx, ioas, devFlags);
      return { stdevId: m.stdevId, hwptId: m.hwpt.id, idevId: m.idevId };
    },

    mockDomainReplace(stdevId, ptId) {
      const op = 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE';
      live(op);
      toU32(stdevId, 'stdevId');
      toU32(ptId, 'ptId');
      const m = ctx.object(stdevId);
      if (!(m instanceof SimMockDevice) || m.stdevId !== stdevId) fail(Errno.ENOENT, op, { stdevId }, `no mock device ${stdevId}`);
      const pt = ctx.object(ptId);
      let next: SimHwpt;
      if (pt instanceof SimIoas) {
        next = mockAutoDomain(ctx, pt);
      } else if (pt instanceof SimHwpt) {
        // mock_domain_nop_attach(): a dirty-tracking domain on a device without dirty support; another driver's domain.
        if (!pt.mock) fail(Errno.EINVAL, op, { stdevId, ptId }, 'the HWPT belongs to another IOMMU driver');
        if (pt.dirtyOps && !m.dirtyCapable) fail(Errno.EINVAL, op, { stdevId, ptId }, 'the mock device has MOCK_FLAGS_DEVICE_NO_DIRTY');
        next = pt;
      } else {
        return fail(Errno.ENOENT, op, { stdevId, ptId }, `no IOAS or HWPT with id ${ptId}`);
      }
      if (next === m.hwpt) return next.id;
      const old = m.hwpt;
      next.users++;
      m.hwpt = next;
      if (--old.users === 0 && old.auto) destroyHwpt(ctx, old);
      return next.id;
    },

    mockDirty(hwptId, iova, length, pageSize, bits) {
      const op = 'IOMMU_TEST_OP_DIRTY';
      live(op);
      toU32(hwptId, 'hwptId');
      toU64(iova, 'iova');
      toU64(length, 'length');
      toU64(pageSize, 'pageSize');
      if (!(bits instanceof BigUint64Array)) throw new TypeError('bits must be a BigUint64Array');
      if (pageSize === 0n) throw new RangeError('pageSize must be non-zero');
      const max = length / pageSize;
      if (BigInt(bits.length) * 64n < max) throw new RangeError('bits holds fewer bits than length / pageSize pages');
      const args = { hwptId, iova, length, pageSize };
      // iommufd_test_dirty()
      if (length === 0n || iova % pageSize !== 0n || length % pageSize !== 0n) {
        fail(Errno.EINVAL, op, args, 'iova and length must be non-zero multiples of pageSize');
      }
      if (max > (16n << 20n) * 8n) fail(Errno.EOVERFLOW, op, args, 'more than 2^27 pages');
      // get_md_pagetable()
      const h = hwptPaging(ctx, hwptId, op);
      if (!h.mock) fail(Errno.EINVAL, op, args, 'not a mock domain');
      if (!h.tracking) fail(Errno.EINVAL, op, args, 'dirty tracking is off (MOCK_DIRTY_TRACK clear)');
      let count = 0;
      for (let i = 0n; i < max; i++) {
        if (((bits[Number(i >> 6n)]! >> (i & 63n)) & 1n) === 0n) continue;
        // The kernel indexes the mock's PTEs (one per MOCK_IO_PAGE_SIZE) with cur / page_size.
        const pte = (iova + i * pageSize) / pageSize;
        count += h.markDirty(pte * MOCK_IO_PAGE_SIZE, 1n);
      }
      return count;
    },
  };
}

/** The seam capability (Iommufd.hwptDirty) over the simulated calls, argument for argument as lib/native/hwpt-dirty.ts. */
export function simHwptDirty(ctx: SimIommufd): HwptDirty {
  const calls = simIommufdCalls(ctx);
  const devIdOf = (dev: { devId: number }) => {
    if (dev === null || typeof dev !== 'object' || typeof dev.devId !== 'number') throw new TypeError('a bound CdevDevice is required');
    return dev.devId;
  };
  return {
    supported: (dev) => (calls.hwInfo(devIdOf(dev)).capabilities & IOMMU_HW_CAP_DIRTY_TRACKING) !== 0n,
    alloc: (dev, ioas: Ioas) => calls.hwptAlloc(devIdOf(dev), ioas.id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING),
    setTracking: (hwptId, enabled) => calls.hwptSetDirty(hwptId, enabled),
    get: (hwptId, iova, size, pageSize, opts = {}): DirtyBitmap => {
      checkRange(iova, size);
      checkPageSize(pageSize);
      const flags = opts.noClear ? IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR : 0;
      return { pageSize, bits: calls.hwptGetDirty(hwptId, iova, size, pageSize, flags) };
    },
    destroy: (hwptId) => calls.destroy(hwptId),
  };
}

/** The HWPT a cdev is attached to by id (cdev.ts), or undefined when the id names none. */
export function simHwptById(ctx: SimIommufd, id: number): SimHwpt | undefined {
  const o = ctx.object(id);
  return o instanceof SimHwpt ? o : undefined;
}
