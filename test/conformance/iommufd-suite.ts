// The iommufd conformance suite, written once against the Backend's optional
// iommufd part and run against the sim (npm test) and the native backend on a
// kernel with /dev/iommu (the HIL lane's built kernel). Every expectation is
// what Linux 6.12 does; the source is cited where iommufd differs from type1:
// drivers/iommu/iommufd/{ioas.c,io_pagetable.c,main.c}, drivers/vfio/device_cdev.c.
import { describe, expect, it } from 'vitest';
import {
  PROT_READ, PROT_RW, SZ_2M, SZ_4K,
  type Backend, type CdevDevice, type DmaBuffer, type Ioas, type Iommufd,
} from '../../lib/backend.js';
import { Errno } from '../../lib/errors.js';
import { buildPlan, buildUnmapPlan, mapBatch, unmapBatch } from '../../lib/plan/index.js';
import { expectErrno } from './suite.js';
import { closeAfterEach } from './cleanups.js';

const U64_MAX = (1n << 64n) - 1n;
const MSI_START = 0xfee0_0000n;
const MSI_LAST = 0xfeef_ffffn;

export interface IommufdFixture {
  label: string;
  open(): Backend;
  /** A cdev (vfio0 or a path) of an edu device bound to vfio-pci whose group is not open elsewhere, or why there is none. */
  cdev: string | { none: string };
  /** Root with CAP_SYS_RESOURCE (IOMMU_OPTION_RLIMIT_MODE can be set). */
  sysResource: boolean;
}

export function defineIommufdConformance(fx: IommufdFixture): void {
  const { track } = closeAfterEach();
  interface Env {
    backend: Backend;
    fd: Iommufd;
    ioas: Ioas;
    buffer(pages: number, backing?: '4k' | 'thp'): DmaBuffer;
  }
  function env(): Env {
    const backend = fx.open();
    if (!backend.openIommufd) throw new Error(`${fx.label}: backend has no iommufd part`);
    const fd = track(backend.openIommufd());
    const ioas = track(fd.allocIoas());
    return {
      backend, fd, ioas,
      buffer: (pages, backing = '4k') => track(backend.allocBuffer({ size: BigInt(pages) * SZ_4K, backing, prefault: true })),
    };
  }

  describe(`${fx.label}: IOAS basics`, () => {
    it('a fresh IOAS has no reserved region and alignment 1 (iopt_init_table); info() shows 4 KiB and no type1 extras', () => {
      const { ioas } = env();
      expect(ioas.iovaRanges()).toEqual({ alignment: 1n, ranges: [{ start: 0n, last: U64_MAX }] });
      const info = ioas.info();
      expect(info.pageSizes).toBe(SZ_4K);
      expect(info.dmaAvail).toBeNull();
      expect(info.migration).toBeNull();
      expect(ioas.id).toBeGreaterThan(0);
    });

    it('two IOASes of one context get distinct ids', () => {
      const { fd, ioas } = env();
      const other = track(fd.allocIoas());
      expect(other.id).not.toBe(ioas.id);
    });

    it('map at a fixed IOVA, unmap it exactly: the bytes come back; a second unmap is ENOENT (iommufd_ioas_unmap: nothing unmapped)', () => {
      const { ioas, buffer } = env();
      const b = buffer(4);
      ioas.map({ vaddr: b.vaddr, iova: 0x10_0000n, size: b.size });
      expect(ioas.unmap(0x10_0000n, b.size)).toBe(b.size);
      expectErrno(() => ioas.unmap(0x10_0000n, b.size), Errno.ENOENT);
    });

    it('unmapping where nothing is mapped is ENOENT (type1 answers 0 bytes instead)', () => {
      const { ioas } = env();
      expectErrno(() => ioas.unmap(0x4000_0000n, SZ_4K), Errno.ENOENT);
    });

    it('an unmap that cuts a mapping is ENOENT and leaves it whole (iopt_unmap_iova_range never splits an area)', () => {
      const { ioas, buffer } = env();
      const b = buffer(4);
      ioas.map({ vaddr: b.vaddr, iova: 0x20_0000n, size: b.size });
      expectErrno(() => ioas.unmap(0x20_0000n, SZ_4K), Errno.ENOENT); // head only
      expectErrno(() => ioas.unmap(0x20_1000n, b.size), Errno.ENOENT); // starts inside
      expect(ioas.unmap(0x20_0000n, b.size)).toBe(b.size);
    });

    it('a range that holds one mapping whole and cuts the next fails with ENOENT after removing the first', () => {
      const { ioas, buffer } = env();
      const a = buffer(2);
      const c = buffer(2);
      ioas.map({ vaddr: a.vaddr, iova: 0x30_0000n, size: a.size });
      ioas.map({ vaddr: c.vaddr, iova: 0x30_2000n, size: c.size });
      expectErrno(() => ioas.unmap(0x30_0000n, 0x3000n), Errno.ENOENT);
      // The first is gone (its IOVA maps again), the second is still there.
      ioas.map({ vaddr: a.vaddr, iova: 0x30_0000n, size: a.size });
      expectErrno(() => ioas.map({ vaddr: c.vaddr, iova: 0x30_2000n, size: c.size }), Errno.EEXIST);
      expect(ioas.unmap(0x30_0000n, 0x4000n)).toBe(0x4000n);
    });

    it('a range covering several mappings (and holes) unmaps them all', () => {
      const { ioas, buffer } = env();
      const b = buffer(3);
      for (let i = 0n; i < 3n; i++) ioas.map({ vaddr: b.vaddr + i * SZ_4K, iova: 0x40_0000n + i * 0x10000n, size: SZ_4K });
      expect(ioas.unmap(0x3f_0000n, 0x10_0000n)).toBe(3n * SZ_4K);
    });

    it('overlapping maps are EEXIST; zero length EINVAL; no permission EINVAL; wrapping ranges EOVERFLOW', () => {
      const { ioas, buffer } = env();
      const b = buffer(2);
      ioas.map({ vaddr: b.vaddr, iova: 0x50_0000n, size: b.size });
      expectErrno(() => ioas.map({ vaddr: b.vaddr, iova: 0x50_1000n, size: b.size }), Errno.EEXIST);
      expectErrno(() => ioas.map({ vaddr: b.vaddr, iova: 0x60_0000n, size: 0n }), Errno.EINVAL);
      expectErrno(() => ioas.map({ vaddr: b.vaddr, iova: 0x60_0000n, size: b.size, prot: 0 }), Errno.EINVAL);
      expectErrno(() => ioas.map({ vaddr: b.vaddr, iova: U64_MAX - SZ_4K + 1n, size: b.size }), Errno.EOVERFLOW);
      expectErrno(() => ioas.map({ vaddr: b.vaddr, iova: U64_MAX, size: SZ_4K }), Errno.EOVERFLOW);
      expectErrno(() => ioas.unmap(0x50_0000n, 0n), Errno.EINVAL);
      expectErrno(() => ioas.unmap(U64_MAX - SZ_4K + 1n, 0x2000n), Errno.EOVERFLOW);
    });

    it('without a domain nothing is aligned: an unaligned IOVA and length map (iova_alignment 1)', () => {
      const { ioas, buffer } = env();
      const b = buffer(2);
      ioas.map({ vaddr: b.vaddr + 0x10n, iova: 0x70_0010n, size: 0x100n });
      expect(ioas.unmap(0x70_0000n, SZ_4K)).toBe(0x100n);
    });

    it('unmapAll (iova 0, length U64_MAX) returns every byte, and 0 on an empty IOAS without ENOENT', () => {
      const { ioas, buffer } = env();
      expect(ioas.unmapAll()).toBe(0n);
      const b = buffer(3);
      ioas.map({ vaddr: b.vaddr, iova: 0x80_0000n, size: SZ_4K });
      ioas.map({ vaddr: b.vaddr + SZ_4K, iova: 0x90_0000n, size: 2n * SZ_4K });
      expect(ioas.unmapAll()).toBe(3n * SZ_4K);
      expect(ioas.unmapAll()).toBe(0n);
    });

    it('a mapped buffer refuses to close (EBUSY) until the IOAS lets go of it', () => {
      const { ioas, buffer } = env();
      const b = buffer(1);
      ioas.map({ vaddr: b.vaddr, iova: 0xa0_0000n, size: b.size });
      expectErrno(() => b.close(), Errno.EBUSY);
      ioas.close();
      b.close();
      expect(b.closed).toBe(true);
    });

    it('a closed IOAS or context answers EBADF', () => {
      const { fd, ioas } = env();
      ioas.close();
      expectErrno(() => ioas.iovaRanges(), Errno.EBADF);
      fd.close();
      expectErrno(() => fd.allocIoas(), Errno.EBADF);
    });
  });

  describe(`${fx.label}: kernel-chosen IOVAs (iopt_alloc_iova)`, () => {
    it('the first one-page mapping of a fresh IOAS lands at 0x1000 (never IOVA 0)', () => {
      const { ioas, buffer } = env();
      const b = buffer(1);
      expect(ioas.mapAuto(b.vaddr, b.size)).toBe(0x1000n);
    });

    it('keeps the user address\'s alignment up to 2 MiB, and never overlaps an existing mapping', () => {
      const { ioas, buffer } = env();
      const small = buffer(1);
      const first = ioas.mapAuto(small.vaddr, small.size);
      const big = buffer(512, 'thp');
      const at = ioas.mapAuto(big.vaddr, big.size);
      const low = big.vaddr & -big.vaddr;
      expect(at % (low < SZ_2M ? low : SZ_2M)).toBe(0n);
      expect(at >= first + small.size || at + big.size <= first).toBe(true);
      expect(ioas.unmap(at, big.size)).toBe(big.size);
    });

    it('ALLOW_IOVAS confines them; bad range lists are EINVAL; [] lifts the restriction', () => {
      const { ioas, buffer } = env();
      const b = buffer(1);
      ioas.allowIovas([{ start: 0x1000_0000n, last: 0x1fff_ffffn }]);
      const at = ioas.mapAuto(b.vaddr, b.size);
      expect(at).toBe(0x1000_0000n);
      // Fixed IOVAs are not confined by the allowed list.
      ioas.map({ vaddr: b.vaddr, iova: 0x2000n, size: b.size });
      expectErrno(() => ioas.allowIovas([{ start: 0x5000n, last: 0x5000n }]), Errno.EINVAL);
      expectErrno(() => ioas.allowIovas([{ start: 0x0n, last: 0x2000n }, { start: 0x1000n, last: 0x3000n }]), Errno.EINVAL);
      ioas.allowIovas([]);
      expect(ioas.mapAuto(b.vaddr, b.size)).toBe(0x1000n);
    });

    it('no room in the allowed ranges is ENOSPC', () => {
      const { ioas, buffer } = env();
      const b = buffer(2);
      ioas.allowIovas([{ start: 0x10_0000n, last: 0x10_0fffn }]);
      expectErrno(() => ioas.mapAuto(b.vaddr, b.size), Errno.ENOSPC);
    });
  });

  describe(`${fx.label}: IOMMU_IOAS_COPY`, () => {
    it('copies a mapping into another IOAS; the copy outlives the source\'s unmap', () => {
      const { fd, ioas, buffer } = env();
      const dst = track(fd.allocIoas());
      const b = buffer(4);
      ioas.map({ vaddr: b.vaddr, iova: 0x100_0000n, size: b.size });
      expect(dst.copy(ioas, 0x100_0000n, b.size, 0x200_0000n)).toBe(0x200_0000n);
      expect(ioas.unmap(0x100_0000n, b.size)).toBe(b.size);
      expectErrno(() => b.close(), Errno.EBUSY); // still mapped through the copy
      expect(dst.unmap(0x200_0000n, b.size)).toBe(b.size);
    });

    it('copies a span of two adjacent mappings into two mappings (one per source area)', () => {
      const { fd, ioas, buffer } = env();
      const dst = track(fd.allocIoas());
      const b = buffer(4);
      ioas.map({ vaddr: b.vaddr, iova: 0x100_0000n, size: 2n * SZ_4K });
      ioas.map({ vaddr: b.vaddr + 2n * SZ_4K, iova: 0x100_2000n, size: 2n * SZ_4K });
      const at = dst.copy(ioas, 0x100_1000n, 2n * SZ_4K, null);
      expect(at).toBeGreaterThan(0n);
      // Cuts the second piece: ENOENT, and the first (wholly inside) is already gone.
      expectErrno(() => dst.unmap(at, SZ_4K + 1n), Errno.ENOENT);
      expect(dst.unmap(at, 2n * SZ_4K)).toBe(SZ_4K);
    });

    it('a source range with a hole is ENOENT; write access to read-only pages is EPERM', () => {
      const { fd, ioas, buffer } = env();
      const dst = track(fd.allocIoas());
      const b = buffer(2);
      ioas.map({ vaddr: b.vaddr, iova: 0x100_0000n, size: SZ_4K, prot: PROT_READ });
      expectErrno(() => dst.copy(ioas, 0x100_0000n, 2n * SZ_4K, null), Errno.ENOENT);
      expectErrno(() => dst.copy(ioas, 0x100_0000n, SZ_4K, null, PROT_RW), Errno.EPERM);
      expect(dst.copy(ioas, 0x100_0000n, SZ_4K, 0x5000n, PROT_READ)).toBe(0x5000n);
    });
  });

  describe(`${fx.label}: plans and the planner over an IOAS`, () => {
    it('runPlan maps and unmaps entry by entry, stopping at the first refusal with its errno', () => {
      const { ioas, buffer } = env();
      const b = buffer(3);
      const plan = new BigUint64Array([
        b.vaddr, 0x300_0000n, SZ_4K, BigInt(PROT_RW),
        b.vaddr + SZ_4K, 0x300_1000n, SZ_4K, BigInt(PROT_RW),
        b.vaddr + 2n * SZ_4K, 0x300_1000n, SZ_4K, BigInt(PROT_RW), // overlaps the second
      ]);
      const r = ioas.runPlan('map', plan);
      expect([r.completed, r.failedIndex, r.errno, r.ns.length]).toEqual([2, 2, Errno.EEXIST, 3]);
      const u = ioas.runPlan('unmap', new BigUint64Array([0n, 0x300_0000n, 0x2000n, 0n, 0n, 0x300_0000n, SZ_4K, 0n]));
      expect([u.completed, u.failedIndex, u.errno, u.unmapped]).toEqual([1, 1, Errno.ENOENT, 0x2000n]);
    });

    it('the planner runs unchanged: per-page and coalesced batches map, then unmap, everything', () => {
      const { ioas, buffer } = env();
      const b = buffer(64);
      const info = ioas.info();
      for (const strategy of ['per-page', 'coalesced'] as const) {
        const plan = buildPlan([{ vaddr: b.vaddr, iova: 0x400_0000n, size: b.size }], strategy, info);
        const m = mapBatch(ioas, plan);
        expect(m.count).toBe(strategy === 'per-page' ? 64 : 1);
        const u = unmapBatch(ioas, buildUnmapPlan(plan));
        expect(u.unmapped).toBe(b.size);
        expect(ioas.unmapAll()).toBe(0n);
      }
    });
  });

  describe(`${fx.label}: IOMMU_OPTION_RLIMIT_MODE`, () => {
    it('defaults to user accounting; can switch to mm only before any object exists (EBUSY after)', () => {
      const backend = fx.open();
      const fd = track(backend.openIommufd!());
      expect(fd.rlimitMode()).toBe('user');
      if (!fx.sysResource) {
        expectErrno(() => fd.setRlimitMode('mm'), Errno.EPERM);
        return;
      }
      fd.setRlimitMode('mm');
      expect(fd.rlimitMode()).toBe('mm');
      track(fd.allocIoas());
      expectErrno(() => fd.setRlimitMode('user'), Errno.EBUSY);
    });
  });

  const cdev = typeof fx.cdev === 'string' ? fx.cdev : null;
  const noCdev = typeof fx.cdev === 'string' ? '' : fx.cdev.none;
  describe.skipIf(cdev === null)(`${fx.label}: a cdev attached to the IOAS${cdev ? '' : ` (skipped: ${noCdev})`}`, () => {
    function attached(): Env & { dev: CdevDevice; pt: number } {
      const e = env();
      const dev = track(e.fd.bindDevice(cdev!));
      const pt = dev.attach(e.ioas);
      return { ...e, dev, pt };
    }

    it('binding gives a device id; attaching makes a HWPT, aligns the IOAS to 4 KiB and reserves the MSI window', () => {
      const { ioas, dev, pt } = attached();
      expect(dev.devId).toBeGreaterThan(0);
      expect(pt).toBeGreaterThan(0);
      expect(pt).not.toBe(ioas.id);
      const r = ioas.iovaRanges();
      expect(r.alignment).toBe(SZ_4K);
      expect(r.ranges.some((x) => x.start <= MSI_START && x.last >= MSI_LAST)).toBe(false);
      expect(r.ranges.some((x) => x.last === MSI_START - 1n)).toBe(true);
    });

    it('with a domain, unaligned maps are EINVAL and the MSI window is refused (EINVAL, reserved)', () => {
      const { ioas, buffer } = attached();
      const b = buffer(2);
      expectErrno(() => ioas.map({ vaddr: b.vaddr, iova: 0x10_0800n, size: SZ_4K }), Errno.EINVAL);
      expectErrno(() => ioas.map({ vaddr: b.vaddr, iova: 0x10_0000n, size: 0x800n }), Errno.EINVAL);
      expectErrno(() => ioas.map({ vaddr: b.vaddr, iova: MSI_START, size: SZ_4K }), Errno.EINVAL);
      ioas.map({ vaddr: b.vaddr, iova: 0x10_0000n, size: b.size });
      expect(ioas.unmap(0x10_0000n, b.size)).toBe(b.size);
    });

    it('attaching over a mapping in the device\'s reserved region is EADDRINUSE; detach restores alignment 1', () => {
      const e = env();
      const b = e.buffer(1);
      e.ioas.map({ vaddr: b.vaddr, iova: MSI_START, size: SZ_4K });
      const dev = track(e.fd.bindDevice(cdev!));
      expectErrno(() => dev.attach(e.ioas), Errno.EADDRINUSE);
      e.ioas.unmap(MSI_START, SZ_4K);
      dev.attach(e.ioas);
      expect(e.ioas.iovaRanges().alignment).toBe(SZ_4K);
      dev.detach();
      expect(e.ioas.iovaRanges()).toEqual({ alignment: 1n, ranges: [{ start: 0n, last: U64_MAX }] });
      dev.detach(); // nothing attached: the kernel answers 0
    });

    // Found by the kernel-vs-sim fuzz (seed 422568934, 6.12.117): a replace
    // allocates and fills the new domain (iommufd_hwpt_paging_alloc without
    // immediate_attach) before iommufd_device_do_replace checks the device's
    // regions; a first attach checks them first (iommufd_hw_pagetable_attach).
    it('a replace onto an IOAS with no domain fills it before checking the MSI window (EFAULT); a first attach checks first (EADDRINUSE)', () => {
      const e = env();
      const other = track(e.fd.allocIoas());
      const dev = track(e.fd.bindDevice(cdev!));
      dev.attach(other);
      // Nothing pins without a domain: an address this process does not have maps, in the MSI window.
      e.ioas.map({ vaddr: 0x1000n, iova: MSI_START, size: SZ_4K });
      expectErrno(() => dev.attach(e.ioas), Errno.EFAULT);
      expect(other.iovaRanges().alignment, 'the failed replace left the device on its old IOAS').toBe(SZ_4K);
      expect(e.ioas.iovaRanges().alignment, 'and took nothing into the new one').toBe(1n);
      dev.detach();
      expectErrno(() => dev.attach(e.ioas), Errno.EADDRINUSE);
      e.ioas.unmap(MSI_START, SZ_4K);
    });

    it('kernel-chosen IOVAs keep the domain\'s alignment and avoid the reserved regions; allowing a reserved range is EADDRINUSE', () => {
      const { ioas, buffer } = attached();
      const b = buffer(1);
      expect(ioas.mapAuto(b.vaddr, b.size)).toBe(0x1000n);
      expectErrno(() => ioas.allowIovas([{ start: MSI_START - 0x1000n, last: MSI_START + 0xfffn }]), Errno.EADDRINUSE);
      ioas.allowIovas([{ start: MSI_START - 0x2000n, last: MSI_START - 1n }, { start: MSI_LAST + 1n, last: MSI_LAST + 0x2000n }]);
      const c = buffer(2);
      // Alignment min(8 KiB, lowest bit of the address) = at most 8 KiB: the first allowed range (8 KiB aligned) fits.
      expect(ioas.mapAuto(c.vaddr, c.size)).toBe(MSI_START - 0x2000n);
      expect(ioas.unmapAll()).toBe(b.size + c.size);
    });

    it('closing the IOAS detaches its devices and unmaps; the buffers close', () => {
      const { ioas, dev, buffer } = attached();
      const b = buffer(4);
      ioas.map({ vaddr: b.vaddr, iova: 0x20_0000n, size: b.size });
      ioas.close();
      b.close();
      expect(dev.closed).toBe(false);
      expect(b.closed).toBe(true);
    });
  });
}
