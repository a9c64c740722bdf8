// The iommufd HWPT dirty-tracking conformance suite, written once and run on
// the sim (npm test, every IOMMU profile) and on the kernel's IOMMUFD_TEST
// mock domain (the HIL lane's built-noiommu boot, test/hil/iommufd-dirty-mock).
// HWPTs are allocated, switched and read through the seam capability
// (hwptDirtyOf: the code a user writes); the mock device, which plays the DMA
// that dirties PTEs, and the raw ioctls for flags the capability never sends
// come from the backend's kernel calls (fixture.calls). Every expectation is
// what Linux 6.12.117 does: drivers/iommu/iommufd/{hw_pagetable.c,
// io_pagetable.c,iova_bitmap.c,selftest.c} (lib/sim/MODEL-IOMMUFD.md, "HWPT
// dirty tracking", names the function behind each).
import { describe, expect, it } from 'vitest';
import { SZ_4K, type Backend, type DmaBuffer, type HwptDirty, type Ioas, type Iommufd } from '../../lib/backend.js';
import { Errno } from '../../lib/errors.js';
import { hwptDirtyOf } from '../../lib/seam/capabilities.js';
import { closeAfterEach } from './cleanups.js';
import { expectErrno } from './suite.js';

const MOCK_IO_PAGE = 2048n; // selftest.c MOCK_IO_PAGE_SIZE: PAGE_SIZE / 2
const MOCK_FLAGS_DEVICE_NO_DIRTY = 1;
const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1;
const GET_DIRTY_NO_CLEAR = 1;
const IOVA = 1n << 24n; // MOCK_APERTURE_START: the mock domain reserves everything outside [2^24, 2^31)
const PAGES = 64n;
const U64_MAX = (1n << 64n) - 1n;

/** The kernel calls beside the seam the suite needs (NativeIommufd has them; the sim's lib/sim/hwpt-dirty.ts too). */
export interface HwptDirtyCalls {
  /** IOMMU_HWPT_ALLOC with raw flags. */
  hwptAlloc(devId: number, ptId: number, flags: number): number;
  /** IOMMU_HWPT_GET_DIRTY_BITMAP with raw flags. */
  hwptGetDirty(hwptId: number, iova: bigint, length: bigint, pageSize: bigint, flags: number): BigUint64Array;
  /** IOMMU_TEST_OP_MOCK_DOMAIN. */
  mockDomain(ioasId: number, devFlags: number): { stdevId: number; hwptId: number; idevId: number };
  /** IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: the pt id now attached. */
  mockDomainReplace(stdevId: number, ptId: number): number;
  /** IOMMU_TEST_OP_DIRTY: how many of the marked pages were mapped. */
  mockDirty(hwptId: number, iova: bigint, length: bigint, pageSize: bigint, bits: BigUint64Array): number;
}

export interface HwptDirtyFixture {
  label: string;
  open(): Backend;
  /** The kernel calls on a context of this backend. */
  calls(fd: Iommufd): HwptDirtyCalls;
  /** Why the mock-domain tests cannot run here (no IOMMUFD_TEST, a real IOMMU beside it on 6.12), or null. */
  mockSkip: string | null;
  /** A cdev of a device on a real (or simulated) IOMMU, and whether that IOMMU tracks dirty pages; or why there is none. */
  cdev: { name: string; dirtyTracking: boolean } | { none: string };
}

export function bitsOf(words: BigUint64Array): number[] {
  const out: number[] = [];
  words.forEach((w, i) => {
    for (let b = 0; b < 64; b++) if ((w >> BigInt(b)) & 1n) out.push(i * 64 + b);
  });
  return out;
}

/** A mark bitmap for IOMMU_TEST_OP_DIRTY: one bit per 2 KiB mock PTE of `pages` 4 KiB pages. */
function marksOf(ptes: number[], pages = PAGES): BigUint64Array {
  const marks = new BigUint64Array(Number((pages * 2n + 63n) / 64n));
  for (const p of ptes) marks[p >> 6]! |= 1n << BigInt(p & 63);
  return marks;
}

export function defineHwptDirtyConformance(fx: HwptDirtyFixture): void {
  const { track } = closeAfterEach();
  interface Env {
    backend: Backend;
    fd: Iommufd;
    calls: HwptDirtyCalls;
    dirty: HwptDirty;
    ioas: Ioas;
    mock: { stdevId: number; hwptId: number; idevId: number };
    buffer(pages?: bigint): DmaBuffer;
  }
  function setup(devFlags = 0): Env {
    const backend = fx.open();
    const fd = track(backend.openIommufd!());
    const dirty = hwptDirtyOf(fd);
    if (!dirty) throw new Error(`${fx.label}: the backend's iommufd has no HWPT dirty tracking capability`);
    const calls = fx.calls(fd);
    const ioas = fd.allocIoas();
    const mock = calls.mockDomain(ioas.id, devFlags);
    return {
      backend, fd, calls, dirty, ioas, mock,
      buffer: (pages = PAGES) => track(backend.allocBuffer({ size: pages * SZ_4K, backing: '4k', prefault: true })),
    };
  }
  /** A mock device moved onto a new dirty-tracking HWPT over the IOAS, 64 pages mapped at IOVA, tracking on. */
  function tracking(): Env & { hwpt: number; buf: DmaBuffer } {
    const e = setup();
    const hwpt = e.dirty.alloc({ devId: e.mock.idevId }, e.ioas);
    expect(e.calls.mockDomainReplace(e.mock.stdevId, hwpt)).toBe(hwpt);
    const buf = e.buffer();
    e.ioas.map({ vaddr: buf.vaddr, iova: IOVA, size: buf.size });
    e.dirty.setTracking(hwpt, true);
    return { ...e, hwpt, buf };
  }
  const get = (e: Env & { hwpt: number }, iova = IOVA, size = PAGES * SZ_4K, pageSize = SZ_4K, noClear = false) =>
    bitsOf(e.dirty.get(e.hwpt, iova, size, pageSize, { noClear }).bits);

  describe.skipIf(fx.mockSkip !== null)(`${fx.label}: HWPT dirty tracking on the IOMMUFD_TEST mock domain${fx.mockSkip ? ` (skipped: ${fx.mockSkip})` : ''}`, () => {
    it('a mock domain aligns the IOAS to its 2 KiB IO page and reserves what lies outside its aperture', () => {
      const { ioas } = setup();
      expect(ioas.iovaRanges()).toEqual({ alignment: MOCK_IO_PAGE, ranges: [{ start: 1n << 24n, last: (1n << 31n) - 1n }] });
    });

    it('GET_HW_INFO: a mock device reports IOMMU_HW_CAP_DIRTY_TRACKING, one made with MOCK_FLAGS_DEVICE_NO_DIRTY does not', () => {
      const { dirty, calls, ioas, mock } = setup();
      expect(dirty.supported({ devId: mock.idevId })).toBe(true);
      const plain = calls.mockDomain(ioas.id, MOCK_FLAGS_DEVICE_NO_DIRTY);
      expect(dirty.supported({ devId: plain.idevId })).toBe(false);
    });

    it('reports exactly the pages the "device" dirtied, then clears them; NO_CLEAR keeps them', () => {
      const e = tracking();
      // Nothing written yet.
      expect(get(e)).toEqual([]);
      // The mock dirties its 2 KiB PTEs: the first half of 4 KiB pages 0, 5 and 63.
      const dirtied = [0, 5, 63];
      const marks = marksOf(dirtied.map((p) => p * 2));
      expect(e.calls.mockDirty(e.hwpt, IOVA, e.buf.size, MOCK_IO_PAGE, marks)).toBe(dirtied.length);
      expect(get(e, IOVA, e.buf.size, SZ_4K, true)).toEqual(dirtied);
      expect(get(e)).toEqual(dirtied);
      expect(get(e)).toEqual([]);
      // At 8 KiB granularity pages 0, 5 and 63 fall in bits 0, 2 and 31.
      e.calls.mockDirty(e.hwpt, IOVA, e.buf.size, MOCK_IO_PAGE, marks);
      expect(get(e, IOVA, e.buf.size, 2n * SZ_4K)).toEqual([0, 2, 31]);
      e.dirty.setTracking(e.hwpt, false);
      // Tracking off: the mock refuses to mark (selftest.c: EINVAL without MOCK_DIRTY_TRACK).
      expectErrno(() => e.calls.mockDirty(e.hwpt, IOVA, e.buf.size, MOCK_IO_PAGE, marks), Errno.EINVAL);
      e.ioas.unmapAll();
    });

    it('a page dirty only in its second 2 KiB half is reported; a sub-range query reports and clears only its own pages', () => {
      const e = tracking();
      // 2 KiB PTE 15 is the second half of 4 KiB page 7; PTE 2 the first half of page 1; PTE 81 the second half of page 40.
      expect(e.calls.mockDirty(e.hwpt, IOVA, e.buf.size, MOCK_IO_PAGE, marksOf([2, 15, 81]))).toBe(3);
      // Upper half only: page 40 is bit 8 of a query starting at page 32; pages 1 and 7 lie outside it.
      const half = (PAGES / 2n) * SZ_4K;
      expect(get(e, IOVA + half, half)).toEqual([8]);
      expect(get(e, IOVA + half, half)).toEqual([]);
      // The lower half's pages were neither reported nor cleared by that query.
      expect(get(e)).toEqual([1, 7]);
      e.ioas.unmapAll();
    });

    it('at 2 KiB granularity each bit is one mock PTE', () => {
      const e = tracking();
      e.calls.mockDirty(e.hwpt, IOVA, e.buf.size, MOCK_IO_PAGE, marksOf([2, 15, 81, 127]));
      expect(get(e, IOVA, e.buf.size, MOCK_IO_PAGE)).toEqual([2, 15, 81, 127]);
      // IOMMU_TEST_OP_DIRTY looks PTEs up by (iova + i * page_size) / page_size, a 2 KiB PTE index only when
      // page_size is 2 KiB: at 4 KiB bit 0 names PTE 0x1000 (IOVA 8 MiB, outside the mock's aperture), so nothing is marked.
      expect(e.calls.mockDirty(e.hwpt, IOVA, e.buf.size, SZ_4K, marksOf([0, 1, 2]))).toBe(0);
      expect(get(e)).toEqual([]);
      e.ioas.unmapAll();
    });

    it('a mock device without dirty support cannot get a dirty-tracking HWPT (EOPNOTSUPP), but a plain one', () => {
      const { dirty, calls, ioas, mock } = setup(MOCK_FLAGS_DEVICE_NO_DIRTY);
      expectErrno(() => dirty.alloc({ devId: mock.idevId }, ioas), Errno.EOPNOTSUPP);
      const plain = calls.hwptAlloc(mock.idevId, ioas.id, 0);
      expect(plain).toBeGreaterThan(0);
      // iopt_set_dirty_tracking: a domain without dirty ops, switched on or off.
      expectErrno(() => dirty.setTracking(plain, true), Errno.EOPNOTSUPP);
      expectErrno(() => dirty.setTracking(plain, false), Errno.EOPNOTSUPP);
    });

    it('IOMMU_HWPT_ALLOC: a missing device ENOENT, a missing pt EINVAL, a device id as pt EINVAL, unknown flags EOPNOTSUPP, DIRTY over a HWPT EOPNOTSUPP', () => {
      const { dirty, calls, ioas, mock } = setup();
      expectErrno(() => calls.hwptAlloc(9999, ioas.id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING), Errno.ENOENT);
      expectErrno(() => calls.hwptAlloc(mock.idevId, 9999, IOMMU_HWPT_ALLOC_DIRTY_TRACKING), Errno.EINVAL);
      expectErrno(() => calls.hwptAlloc(mock.idevId, mock.idevId, IOMMU_HWPT_ALLOC_DIRTY_TRACKING), Errno.EINVAL);
      expectErrno(() => calls.hwptAlloc(mock.idevId, ioas.id, 1 << 5), Errno.EOPNOTSUPP);
      // A HWPT as the pt asks for a nested one (iommufd_hwpt_nested_alloc): only FAULT_ID_VALID is allowed there.
      expectErrno(() => calls.hwptAlloc(mock.idevId, mock.hwptId, IOMMU_HWPT_ALLOC_DIRTY_TRACKING), Errno.EOPNOTSUPP);
      expect(dirty.alloc({ devId: mock.idevId }, ioas)).toBeGreaterThan(0);
    });

    it('SET_DIRTY_TRACKING and GET_DIRTY_BITMAP: unknown flags first, then the HWPT (ENOENT), then the range, then the domain\'s dirty ops', () => {
      const e = tracking();
      const len = PAGES * SZ_4K;
      // iommufd_hwpt_get_dirty_bitmap: flags before the object lookup.
      expectErrno(() => e.calls.hwptGetDirty(9999, IOVA + 1n, len, SZ_4K, 1 << 1), Errno.EOPNOTSUPP);
      expectErrno(() => e.calls.hwptGetDirty(e.hwpt, IOVA, len, SZ_4K, 1 << 1), Errno.EOPNOTSUPP);
      // A missing id, or an IOAS id, is no HWPT_PAGING; the lookup comes before the range checks.
      expectErrno(() => e.dirty.get(9999, IOVA + 1n, len, SZ_4K), Errno.ENOENT);
      expectErrno(() => e.dirty.get(e.ioas.id, IOVA, len, SZ_4K), Errno.ENOENT);
      expectErrno(() => e.dirty.setTracking(9999, true), Errno.ENOENT);
      expectErrno(() => e.dirty.setTracking(e.ioas.id, true), Errno.ENOENT);
      // iommufd_check_iova_range, in its order.
      expectErrno(() => e.dirty.get(e.hwpt, IOVA, 0n, SZ_4K), Errno.EINVAL);
      expectErrno(() => e.dirty.get(e.hwpt, U64_MAX - SZ_4K + 1n, 2n * SZ_4K, SZ_4K), Errno.EOVERFLOW);
      expectErrno(() => e.dirty.get(e.hwpt, IOVA + 0x400n, len, SZ_4K), Errno.EINVAL); // not 2 KiB (IOAS) aligned
      expectErrno(() => e.dirty.get(e.hwpt, IOVA, 0x1400n, 0x400n), Errno.EINVAL); // end not 2 KiB aligned
      expectErrno(() => e.dirty.get(e.hwpt, IOVA + SZ_4K, len, 2n * SZ_4K), Errno.EINVAL); // not page_size aligned
      expectErrno(() => e.dirty.get(e.hwpt, IOVA, SZ_4K, 2n * SZ_4K), Errno.EINVAL); // end not page_size aligned
      // page_size 0 never reaches the kernel: the seam refuses it.
      expect(() => e.dirty.get(e.hwpt, IOVA, len, 0n)).toThrow(RangeError);
      // The mock's first, automatic domain went when its only device moved off it (iommufd_device_replace).
      expectErrno(() => e.dirty.get(e.mock.hwptId, IOVA + 0x400n, len, SZ_4K), Errno.ENOENT);
    });

    it('a HWPT without dirty ops: a bad range is EINVAL before the EOPNOTSUPP a good one gets', () => {
      const { dirty, calls, ioas, mock } = setup();
      const plain = calls.hwptAlloc(mock.idevId, ioas.id, 0);
      expectErrno(() => dirty.get(plain, IOVA + 0x400n, PAGES * SZ_4K, SZ_4K), Errno.EINVAL);
      expectErrno(() => dirty.get(plain, IOVA, PAGES * SZ_4K, SZ_4K), Errno.EOPNOTSUPP);
      expectErrno(() => dirty.get(mock.hwptId, IOVA, PAGES * SZ_4K, SZ_4K), Errno.EOPNOTSUPP);
    });

    it('tracking off: GET reports nothing yet succeeds (6.12 drops the driver\'s EINVAL); switching it on, even when on, cleans every PTE', () => {
      const e = tracking();
      const marks = marksOf([0, 10, 20]);
      expect(e.calls.mockDirty(e.hwpt, IOVA, e.buf.size, MOCK_IO_PAGE, marks)).toBe(3);
      e.dirty.setTracking(e.hwpt, false);
      expect(get(e, IOVA, e.buf.size, SZ_4K, true)).toEqual([]);
      // iopt_set_dirty_tracking clears the dirty bits before it switches tracking on.
      e.dirty.setTracking(e.hwpt, true);
      expect(get(e)).toEqual([]);
      e.calls.mockDirty(e.hwpt, IOVA, e.buf.size, MOCK_IO_PAGE, marks);
      e.dirty.setTracking(e.hwpt, true); // already on: cleared all the same
      expect(get(e)).toEqual([]);
      e.calls.mockDirty(e.hwpt, IOVA, e.buf.size, MOCK_IO_PAGE, marks);
      expect(get(e)).toEqual([0, 5, 10]);
      e.ioas.unmapAll();
    });

    it('a query across a hole reports the mappings before it and succeeds; what lies past the hole stays dirty', () => {
      const e = setup();
      const hwpt = e.dirty.alloc({ devId: e.mock.idevId }, e.ioas);
      e.calls.mockDomainReplace(e.mock.stdevId, hwpt);
      const a = e.buffer(32n);
      const b = e.buffer(32n);
      // [IOVA, +32 pages) mapped, 32 pages hole, [IOVA + 64 pages, +32 pages) mapped.
      e.ioas.map({ vaddr: a.vaddr, iova: IOVA, size: a.size });
      e.ioas.map({ vaddr: b.vaddr, iova: IOVA + 64n * SZ_4K, size: b.size });
      e.dirty.setTracking(hwpt, true);
      const h = { ...e, hwpt };
      // PTEs of pages 3 (first mapping), 40 (the hole: not mapped, not counted) and 66 (second mapping).
      expect(e.calls.mockDirty(hwpt, IOVA, 96n * SZ_4K, MOCK_IO_PAGE, marksOf([6, 80, 132], 96n))).toBe(2);
      // __iommu_read_and_clear_dirty stops at the hole with EINVAL, which iommu_read_and_clear_dirty drops.
      expect(get(h, IOVA + 32n * SZ_4K, 64n * SZ_4K)).toEqual([]);
      expect(get(h, IOVA, 96n * SZ_4K)).toEqual([3]);
      expect(get(h, IOVA + 64n * SZ_4K, 32n * SZ_4K)).toEqual([2]);
      e.ioas.unmapAll();
    });

    it('an unmap takes its PTEs\' dirty bits with it: the same IOVA mapped again is clean', () => {
      const e = tracking();
      e.calls.mockDirty(e.hwpt, IOVA, e.buf.size, MOCK_IO_PAGE, marksOf([2, 4]));
      expect(e.ioas.unmap(IOVA, e.buf.size)).toBe(e.buf.size);
      e.ioas.map({ vaddr: e.buf.vaddr, iova: IOVA, size: e.buf.size });
      expect(get(e)).toEqual([]);
      e.ioas.unmapAll();
    });

    it('bad input: ids that are not u32 numbers, a non-boolean switch, negative addresses are TypeError / RangeError; a bitmap past 2^31 pages EINVAL; a closed context EBADF', () => {
      const e = tracking();
      const len = PAGES * SZ_4K;
      const id = (v: unknown) => v as number;
      expect(() => e.dirty.get(id('1'), IOVA, len, SZ_4K)).toThrow(TypeError);
      expect(() => e.dirty.get(-1, IOVA, len, SZ_4K)).toThrow(RangeError);
      expect(() => e.dirty.get(2 ** 32, IOVA, len, SZ_4K)).toThrow(RangeError);
      expect(() => e.dirty.get(e.hwpt, -1n, len, SZ_4K)).toThrow(RangeError);
      expect(() => e.dirty.get(e.hwpt, IOVA, 1n << 64n, SZ_4K)).toThrow(RangeError);
      expect(() => e.dirty.setTracking(e.hwpt, 1 as unknown as boolean)).toThrow(TypeError);
      expect(() => e.dirty.setTracking(1.5, true)).toThrow(RangeError);
      expect(() => e.dirty.destroy(id(null))).toThrow(TypeError);
      expect(() => e.dirty.supported({ devId: id('x') })).toThrow(TypeError);
      // The reply the addon allocates is bounded before the ioctl: 2^32 pages of 4 KiB is a 512 MiB bitmap.
      expectErrno(() => e.dirty.get(e.hwpt, 0n, 1n << 44n, SZ_4K), Errno.EINVAL);
      e.ioas.unmapAll();
      e.fd.close();
      expectErrno(() => e.dirty.get(e.hwpt, IOVA, len, SZ_4K), Errno.EBADF);
      expectErrno(() => e.dirty.setTracking(e.hwpt, false), Errno.EBADF);
      expectErrno(() => e.dirty.alloc({ devId: e.mock.idevId }, e.ioas), Errno.EBADF);
      expectErrno(() => e.dirty.supported({ devId: e.mock.idevId }), Errno.EBADF);
      expectErrno(() => e.dirty.destroy(e.hwpt), Errno.EBADF);
    });

    it('IOMMU_DESTROY of a HWPT a device is attached to is EBUSY; moved back to the IOAS, it goes, and its id is ENOENT after', () => {
      const e = setup();
      const hwpt = e.dirty.alloc({ devId: e.mock.idevId }, e.ioas);
      expect(e.calls.mockDomainReplace(e.mock.stdevId, hwpt)).toBe(hwpt);
      expectErrno(() => e.dirty.destroy(hwpt), Errno.EBUSY);
      const auto = e.calls.mockDomainReplace(e.mock.stdevId, e.ioas.id);
      expect(auto).toBeGreaterThan(0);
      expect(auto).not.toBe(hwpt);
      e.dirty.destroy(hwpt);
      expectErrno(() => e.dirty.get(hwpt, IOVA, SZ_4K, SZ_4K), Errno.ENOENT);
      expectErrno(() => e.dirty.setTracking(hwpt, true), Errno.ENOENT);
      expectErrno(() => e.dirty.destroy(hwpt), Errno.ENOENT);
    });
  });

  const cdev = 'name' in fx.cdev ? fx.cdev : null;
  const noCdev = 'none' in fx.cdev ? fx.cdev.none : '';
  describe.skipIf(cdev === null)(`${fx.label}: HWPT dirty tracking for a cdev${cdev ? '' : ` (skipped: ${noCdev})`}`, () => {
    function bound() {
      const backend = fx.open();
      const fd = track(backend.openIommufd!());
      const ioas = fd.allocIoas();
      const dev = track(fd.bindDevice(cdev!.name));
      return { backend, fd, ioas, dev, dirty: hwptDirtyOf(fd)! };
    }

    it(`GET_HW_INFO says the IOMMU ${cdev?.dirtyTracking ? 'tracks' : 'does not track'} dirty pages, and IOMMU_HWPT_ALLOC with DIRTY_TRACKING ${cdev?.dirtyTracking ? 'succeeds' : 'is EOPNOTSUPP'}`, () => {
      const { ioas, dev, dirty } = bound();
      expect(dirty.supported(dev)).toBe(cdev!.dirtyTracking);
      if (!cdev!.dirtyTracking) {
        expectErrno(() => dirty.alloc(dev, ioas), Errno.EOPNOTSUPP);
        return;
      }
      const hwpt = dirty.alloc(dev, ioas);
      expect(dev.attach(hwpt)).toBe(hwpt);
      expect(ioas.iovaRanges().alignment).toBe(SZ_4K);
      dirty.setTracking(hwpt, true);
      expect(bitsOf(dirty.get(hwpt, 0x10_0000n, 64n * SZ_4K, SZ_4K).bits)).toEqual([]);
      expectErrno(() => dirty.destroy(hwpt), Errno.EBUSY);
      dev.detach();
      dirty.destroy(hwpt);
    });
  });
}
