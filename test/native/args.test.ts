// Argument checks of every native entry point (map, unmap and runPlan through
// the seam that checks them for the hot calls: native/space_calls.h): wrong
// types are TypeErrors, values that do not fit are RangeErrors, no call
// crashes the process, and none of them reaches the kernel. /dev/null stands in for a VFIO node where
// a descriptor is needed: its ioctls answer ENOTTY, which shows exactly when a
// call did reach the kernel.
import { afterEach, describe, expect, it } from 'vitest';
import type { NativeContainer } from '../../lib/native/addon.js';
import { NativeBackendContainer } from '../../lib/native/container.js';
import { U64_MAX, addon, expectVfioError } from './helpers.js';

const opened: Array<{ close(): void }> = [];
function nullContainer(): NativeContainer {
  const c = addon.openContainer('/dev/null');
  opened.push(c);
  return c;
}
/** The same, through the seam: how map, unmap and runPlan are reached. */
function nullSpace(): NativeBackendContainer {
  const s = new NativeBackendContainer(addon, addon.openContainer('/dev/null'));
  opened.push(s);
  return s;
}
const map = (s: NativeBackendContainer, vaddr: unknown, iova: unknown, size: unknown, prot?: unknown) =>
  s.map({ vaddr, iova, size, prot } as Parameters<NativeBackendContainer['map']>[0]);
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
});

describe('BigInt arguments', () => {
  it('a Number where a bigint belongs is a TypeError', () => {
    const c = nullContainer();
    const s = nullSpace();
    expect(() => map(s, 0, 0n, 4096n, 3)).toThrow(TypeError);
    expect(() => s.unmap(0n, 4096 as unknown as bigint)).toThrow(TypeError);
    expect(() => c.dirtyGet(0n, 4096n, '4096' as unknown as bigint)).toThrow(TypeError);
  });

  it('negative and >= 2^64 values are RangeErrors (lossless check)', () => {
    const s = nullSpace();
    expect(() => map(s, -1n, 0n, 4096n, 3)).toThrow(RangeError);
    expect(() => map(s, 0n, U64_MAX + 1n, 4096n, 3)).toThrow(RangeError);
    expect(() => s.unmap(0n, 1n << 70n)).toThrow(RangeError);
  });

  it('the largest u64 is accepted and reaches the kernel', () => {
    const s = nullSpace();
    // 2^64 - 4096 + 4096 ends exactly at the top: no wrap, so /dev/null's ENOTTY comes back.
    expectVfioError(() => map(s, 0n, U64_MAX - 4095n, 4096n, 3), 'ENOTTY', 'VFIO_IOMMU_MAP_DMA');
  });
});

describe('Number arguments', () => {
  it('non-integers, negatives and > 2^32-1 are RangeErrors; strings TypeErrors', () => {
    const c = nullContainer();
    const s = nullSpace();
    expect(() => map(s, 0n, 0n, 4096n, 1.5)).toThrow(TypeError);
    expect(() => map(s, 0n, 0n, 4096n, -1)).toThrow(RangeError);
    expect(() => c.checkExtension(2 ** 32)).toThrow(RangeError);
    expect(() => c.checkExtension(Number.NaN)).toThrow(RangeError);
    expect(() => c.setIommu('3' as unknown as number)).toThrow(TypeError);
  });

  it('map flags beyond READ|WRITE are a RangeError', () => {
    expect(() => map(nullSpace(), 0n, 0n, 4096n, 4)).toThrow(RangeError);
  });
});

describe('ranges that wrap 2^64', () => {
  it('map refuses with EINVAL before any ioctl, naming the arguments', () => {
    const s = nullSpace();
    const e = expectVfioError(() => map(s, 0n, U64_MAX - 4095n, 8192n, 3), 'EINVAL', 'VFIO_IOMMU_MAP_DMA');
    expect(e.args).toMatchObject({ iova: U64_MAX - 4095n, size: 8192n });
    expect(e.hint).toMatch(/wrap/);
    // vaddr wrapping counts the same.
    expectVfioError(() => map(s, U64_MAX, 0n, 4096n, 3), 'EINVAL', 'VFIO_IOMMU_MAP_DMA');
  });

  it('unmap, unmap-with-dirty and dirty-get refuse with EINVAL too', () => {
    const c = nullContainer();
    expectVfioError(() => nullSpace().unmap(U64_MAX, 2n), 'EINVAL', 'VFIO_IOMMU_UNMAP_DMA');
    expectVfioError(() => c.unmapWithDirty(U64_MAX, 4096n, 4096n), 'EINVAL', 'VFIO_IOMMU_UNMAP_DMA');
    expectVfioError(() => c.dirtyGet(U64_MAX, 4096n, 4096n), 'EINVAL', 'VFIO_IOMMU_DIRTY_PAGES');
  });
});

describe('dirty bitmaps', () => {
  it('a zero page size is a RangeError', () => {
    const c = nullContainer();
    expect(() => c.dirtyGet(0n, 4096n, 0n)).toThrow(RangeError);
    expect(() => c.unmapWithDirty(0n, 4096n, 0n)).toThrow(RangeError);
  });

  it('a bitmap past the kernel maximum (2^31 pages) is EINVAL, as verify_bitmap_size says, without an ioctl', () => {
    const c = nullContainer();
    const pages = (1n << 31n) + 1n;
    const e = expectVfioError(() => c.dirtyGet(0n, pages * 4096n, 4096n), 'EINVAL', 'VFIO_IOMMU_DIRTY_PAGES');
    expect(e.hint).toMatch(/smaller range/);
    expectVfioError(() => c.unmapWithDirty(0n, pages * 4096n, 4096n), 'EINVAL', 'VFIO_IOMMU_UNMAP_DMA');
    // At 2 MiB granularity the same range needs a small bitmap and goes to the kernel.
    expectVfioError(() => c.dirtyGet(0n, pages * 4096n, 1n << 21n), 'ENOTTY', 'VFIO_IOMMU_DIRTY_PAGES');
  });

  it('a sane request reaches the kernel', () => {
    const c = nullContainer();
    expectVfioError(() => c.dirtyGet(0n, 1n << 21n, 4096n), 'ENOTTY', 'VFIO_IOMMU_DIRTY_PAGES');
    expectVfioError(() => c.dirtyStart(), 'ENOTTY', 'VFIO_IOMMU_DIRTY_PAGES');
  });
});

describe('receivers and constructors', () => {
  it('a method borrowed onto a plain object or another class is a TypeError', () => {
    const c = nullContainer();
    const b = addon.allocBuffer(4096n, '4k', 0n, false);
    opened.push(b);
    const g = addon.openGroup(1, '/dev/null');
    opened.push(g);
    expect(() => c.checkExtension.call({}, 3)).toThrow(TypeError);
    expect(() => c.spaceCalls.call(b)).toThrow(TypeError);
    expect(() => b.close.call(c)).toThrow(TypeError);
    expect(() => g.status.call(c)).toThrow(TypeError);
    expect(() => Reflect.apply(c.close, undefined, [])).toThrow(TypeError);
    const closedGetter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(c), 'closed')!.get!;
    expect(() => closedGetter.call(b)).toThrow(TypeError);
  });

  it('JS cannot construct the classes itself', () => {
    const c = nullContainer();
    const Ctor = Object.getPrototypeOf(c).constructor as new (...a: unknown[]) => unknown;
    expect(() => new Ctor()).toThrow(TypeError);
    expect(() => new Ctor({})).toThrow(/Illegal constructor/);
  });
});

describe('use after close', () => {
  it('container: EBADF VfioError for every method, close twice harmless', () => {
    const c = addon.openContainer('/dev/null');
    expect(c.closed).toBe(false);
    c.close();
    c.close();
    expect(c.closed).toBe(true);
    expectVfioError(() => c.apiVersion(), 'EBADF', 'VFIO_GET_API_VERSION');
    expectVfioError(() => c.unmapAll(), 'EBADF', 'VFIO_IOMMU_UNMAP_DMA');
    expectVfioError(() => c.iommuInfo(), 'EBADF', 'VFIO_IOMMU_GET_INFO');
    expectVfioError(() => c.runPlanCycles(new BigUint64Array(4), 1), 'EBADF', 'plan');
    // Through the seam: map, unmap and runPlan name what they would have done.
    const s = nullSpace();
    s.close();
    expectVfioError(() => map(s, 0n, 0n, 4096n, 3), 'EBADF', 'VFIO_IOMMU_MAP_DMA');
    expectVfioError(() => s.unmap(0n, 4096n), 'EBADF', 'VFIO_IOMMU_UNMAP_DMA');
    expectVfioError(() => s.runPlan('map', new BigUint64Array(4)), 'EBADF', 'plan');
  });

  it('group: EBADF, and a closed container cannot be set', () => {
    const g = addon.openGroup(7, '/dev/null');
    const c = addon.openContainer('/dev/null');
    c.close();
    expectVfioError(() => g.setContainer(c), 'EBADF', 'VFIO_GROUP_SET_CONTAINER');
    g.close();
    g.close();
    expectVfioError(() => g.status(), 'EBADF', 'VFIO_GROUP_GET_STATUS');
    expectVfioError(() => g.openDevice('0000:00:03.0'), 'EBADF', 'VFIO_GROUP_GET_DEVICE_FD');
  });
});

describe('group arguments', () => {
  it('id must be a non-negative int32; setContainer needs a Container; names are strings', () => {
    expect(() => addon.openGroup(-1)).toThrow(RangeError);
    expect(() => addon.openGroup(1.5)).toThrow(RangeError);
    expect(() => addon.openGroup('3' as unknown as number)).toThrow(TypeError);
    const g = addon.openGroup(3, '/dev/null');
    opened.push(g);
    expect(g.id).toBe(3);
    expect(() => g.setContainer({} as NativeContainer)).toThrow(TypeError);
    expect(() => g.openDevice(5 as unknown as string)).toThrow(TypeError);
    expect(() => g.openDevice('')).toThrow(RangeError);
    expectVfioError(() => g.openDevice('0000:00:03.0'), 'ENOTTY', 'VFIO_GROUP_GET_DEVICE_FD');
    expectVfioError(() => g.status(), 'ENOTTY', 'VFIO_GROUP_GET_STATUS');
    // Not attached: the kernel's own answer (here ENOTTY from /dev/null) is what comes back.
    expectVfioError(() => g.unsetContainer(), 'ENOTTY', 'VFIO_GROUP_UNSET_CONTAINER');
  });
});

describe('allocBuffer arguments', () => {
  it('types, ranges and alignment', () => {
    expect(() => addon.allocBuffer(4096 as unknown as bigint, '4k', 0n, false)).toThrow(TypeError);
    expect(() => addon.allocBuffer(4096n, '2m', 0n, false)).toThrow(TypeError);
    expect(() => addon.allocBuffer(4096n, '4k', 0n, 1 as unknown as boolean)).toThrow(TypeError);
    expect(() => addon.allocBuffer(0n, '4k', 0n, false)).toThrow(RangeError);
    expect(() => addon.allocBuffer(-4096n, '4k', 0n, false)).toThrow(RangeError);
    expect(() => addon.allocBuffer(4097n, '4k', 0n, false)).toThrow(RangeError);
    expect(() => addon.allocBuffer(4096n, '4k', 1n << 21n, false)).toThrow(RangeError);
    expect(() => addon.allocBuffer(1n << 21n, 'hugetlb', 4096n, false)).toThrow(RangeError);
    expect(() => addon.allocBuffer(4096n, 'hugetlb', 0n, false)).toThrow(RangeError); // not a 2 MiB multiple
  });

  it('an impossible size is ENOMEM from mmap, not a crash', () => {
    expectVfioError(() => addon.allocBuffer(1n << 50n, '4k', 0n, false), 'ENOMEM', 'mmap');
  });
});
