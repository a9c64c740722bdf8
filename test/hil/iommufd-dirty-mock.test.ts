// iommufd dirty tracking, end to end through the kernel's IOMMUFD_TEST mock
// domain: the emulated VT-d has no SSADS, so a real device cannot get a
// dirty-tracking HWPT (edu-iommufd.test.ts checks that refusal); the mock
// device can. IOMMU_HWPT_ALLOC(DIRTY_TRACKING) -> replace the mock's domain
// -> IOMMU_HWPT_SET_DIRTY_TRACKING -> the mock marks PTEs dirty (what DMA
// would do) -> IOMMU_HWPT_GET_DIRTY_BITMAP reports exactly those pages, and
// clears them unless NO_CLEAR. Needs CONFIG_IOMMUFD_TEST (the lane's built kernel)
// and, on 6.12, no other IOMMU: the lane's "built-noiommu" boot (no VT-d) runs
// this file, and there it must run, never skip.
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SZ_4K } from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, NativeBackend, nativeAvailability, nativeIommufdOf } from '../../lib/native/index.js';
import type { NativeIommufd } from '../../lib/native/addon.js';
import type { Ioas, Iommufd } from '../../lib/backend.js';

const MOCK_IO_PAGE = 2048n; // selftest.c MOCK_IO_PAGE_SIZE: PAGE_SIZE / 2
const MOCK_FLAGS_DEVICE_NO_DIRTY = 1;
const GET_DIRTY_NO_CLEAR = 1;
const IOVA = 1n << 24n; // MOCK_APERTURE_START: the mock domain reserves everything outside [2^24, 2^31)
const PAGES = 64n;
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
const skip = mustRun ? null : reason;

describe.runIf(mustRun)('the built-noiommu lane boot', () => {
  it('can create a mock domain (the reason this boot exists)', () => {
    expect(reason).toBeNull();
  });
});

function bitsOf(words: BigUint64Array): number[] {
  const out: number[] = [];
  words.forEach((w, i) => {
    for (let b = 0; b < 64; b++) if ((w >> BigInt(b)) & 1n) out.push(i * 64 + b);
  });
  return out;
}

describe.skipIf(skip !== null)(`iommufd dirty tracking on the IOMMUFD_TEST mock domain${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let fd: Iommufd | undefined;
  afterEach(() => fd?.close());

  function setup(devFlags = 0): { fd: Iommufd; n: NativeIommufd; ioas: Ioas; mock: { stdevId: number; hwptId: number; idevId: number } } {
    fd = new NativeBackend().openIommufd();
    const n = nativeIommufdOf(fd)!;
    const ioas = fd.allocIoas();
    const mock = n.mockDomain(ioas.id, devFlags);
    return { fd, n, ioas, mock };
  }

  it('a mock domain aligns the IOAS to its 2 KiB IO page and reserves what lies outside its aperture', () => {
    const { ioas } = setup();
    expect(ioas.iovaRanges()).toEqual({ alignment: MOCK_IO_PAGE, ranges: [{ start: 1n << 24n, last: (1n << 31n) - 1n }] });
  });

  it('reports exactly the pages the "device" dirtied, then clears them; NO_CLEAR keeps them', () => {
    const { fd: ctx, n, ioas, mock } = setup();
    const hwpt = n.hwptAlloc(mock.idevId, ioas.id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
    expect(n.mockDomainReplace(mock.stdevId, hwpt)).toBe(hwpt);
    const buf = new NativeBackend().allocBuffer({ size: PAGES * SZ_4K, backing: '4k', prefault: true });
    try {
      ioas.map({ vaddr: buf.vaddr, iova: IOVA, size: buf.size });
      n.hwptSetDirty(hwpt, true);
      // Nothing written yet.
      expect(bitsOf(n.hwptGetDirty(hwpt, IOVA, buf.size, SZ_4K, 0))).toEqual([]);
      // The mock dirties its 2 KiB PTEs: the first half of 4 KiB pages 0, 5 and 63.
      const dirtied = [0, 5, 63];
      const marks = new BigUint64Array(Number(PAGES * 2n / 64n));
      for (const p of dirtied) marks[(p * 2) >> 6]! |= 1n << BigInt((p * 2) & 63);
      expect(n.mockDirty(hwpt, IOVA, buf.size, MOCK_IO_PAGE, marks)).toBe(dirtied.length);
      expect(bitsOf(n.hwptGetDirty(hwpt, IOVA, buf.size, SZ_4K, GET_DIRTY_NO_CLEAR))).toEqual(dirtied);
      expect(bitsOf(n.hwptGetDirty(hwpt, IOVA, buf.size, SZ_4K, 0))).toEqual(dirtied);
      expect(bitsOf(n.hwptGetDirty(hwpt, IOVA, buf.size, SZ_4K, 0))).toEqual([]);
      // At 8 KiB granularity pages 0, 5 and 63 fall in bits 0, 2 and 31.
      n.mockDirty(hwpt, IOVA, buf.size, MOCK_IO_PAGE, marks);
      expect(bitsOf(n.hwptGetDirty(hwpt, IOVA, buf.size, 2n * SZ_4K, 0))).toEqual([0, 2, 31]);
      n.hwptSetDirty(hwpt, false);
      // Tracking off: the mock refuses to mark (selftest.c: EINVAL without MOCK_DIRTY_TRACK).
      expect(() => n.mockDirty(hwpt, IOVA, buf.size, MOCK_IO_PAGE, marks)).toThrow(expect.objectContaining({ errno: Errno.EINVAL }));
      ioas.unmapAll();
    } finally {
      ctx.close();
      buf.close();
    }
  });

  it('a page dirty only in its second 2 KiB half is reported; a sub-range query reports and clears only its own pages', () => {
    const { fd: ctx, n, ioas, mock } = setup();
    const hwpt = n.hwptAlloc(mock.idevId, ioas.id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
    n.mockDomainReplace(mock.stdevId, hwpt);
    const buf = new NativeBackend().allocBuffer({ size: PAGES * SZ_4K, backing: '4k', prefault: true });
    try {
      ioas.map({ vaddr: buf.vaddr, iova: IOVA, size: buf.size });
      n.hwptSetDirty(hwpt, true);
      // 2 KiB PTE 15 is the second half of 4 KiB page 7; PTE 2 the first half of page 1; PTE 81 the second half of page 40.
      const marks = new BigUint64Array(Number(PAGES * 2n / 64n));
      for (const pte of [2, 15, 81]) marks[pte >> 6]! |= 1n << BigInt(pte & 63);
      expect(n.mockDirty(hwpt, IOVA, buf.size, MOCK_IO_PAGE, marks)).toBe(3);
      // Upper half only: page 40 is bit 8 of a query starting at page 32; pages 1 and 7 lie outside it.
      const half = (PAGES / 2n) * SZ_4K;
      expect(bitsOf(n.hwptGetDirty(hwpt, IOVA + half, half, SZ_4K, 0))).toEqual([8]);
      expect(bitsOf(n.hwptGetDirty(hwpt, IOVA + half, half, SZ_4K, 0))).toEqual([]);
      // The lower half's pages were neither reported nor cleared by that query.
      expect(bitsOf(n.hwptGetDirty(hwpt, IOVA, buf.size, SZ_4K, 0))).toEqual([1, 7]);
      ioas.unmapAll();
    } finally {
      ctx.close();
      buf.close();
    }
  });

  it('a mock device without dirty support cannot get a dirty-tracking HWPT (EOPNOTSUPP), but a plain one', () => {
    const { n, ioas, mock } = setup(MOCK_FLAGS_DEVICE_NO_DIRTY);
    expect(() => n.hwptAlloc(mock.idevId, ioas.id, IOMMU_HWPT_ALLOC_DIRTY_TRACKING))
      .toThrow(expect.objectContaining({ errno: Errno.EOPNOTSUPP }));
    const plain = n.hwptAlloc(mock.idevId, ioas.id, 0);
    expect(plain).toBeGreaterThan(0);
    // iopt_set_dirty_tracking: a domain without dirty ops.
    expect(() => n.hwptSetDirty(plain, true)).toThrow(expect.objectContaining({ errno: Errno.EOPNOTSUPP }));
  });
});
