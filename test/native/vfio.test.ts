// The addon against a real kernel: the HIL lane's guest (edu device behind an
// emulated intel-iommu) or a VFIO host. The lane sets VFIO_TEST_GROUP (the
// edu device's IOMMU group) and VFIO_TEST_DEVICE (its PCI address).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  PLAN_STRIDE, PciRegion, SZ_4K,
  type Container, type Device, type DmaBuffer, type Group,
} from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { nativeContainerOf } from '../../lib/native/container.js';
import { NativeBackend } from '../../lib/native/index.js';
import type { NativeBackendDmaBuffer } from '../../lib/native/dma-buffer.js';
import { expectVfioError, smapsAt } from './helpers.js';

const groupId = Number(process.env.VFIO_TEST_GROUP);
const deviceName = process.env.VFIO_TEST_DEVICE ?? '';
const EDU_VENDOR = 0x1234;
const EDU_DEVICE = 0x11e8;
const EDU_ID = 0x010000ed;
const IOVA = 0x10_0000n; // below edu's 28-bit DMA mask, inside any x86 IOVA range
const root = fileURLToPath(new URL('../../', import.meta.url));
const child = (name: string) => fileURLToPath(new URL(`./children/${name}`, import.meta.url));

interface Setup {
  container: Container;
  group: Group;
}

describe.skipIf(!process.env.VFIO_TEST_GROUP)('native addon on a real VFIO kernel (needs VFIO_TEST_GROUP, VFIO_TEST_DEVICE)', () => {
  const backend = new NativeBackend();
  const cleanup: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const o of cleanup.splice(0).reverse()) o.close();
  });

  function attach(type: 'type1' | 'type1v2' = 'type1v2'): Setup {
    const container = backend.openContainer();
    cleanup.push(container);
    const group = backend.openGroup(groupId);
    cleanup.push(group);
    expect(group.status()).toEqual({ viable: true, containerSet: false });
    group.setContainer(container);
    expect(group.status().containerSet).toBe(true);
    expect(container.checkExtension('TYPE1v2')).toBe(true);
    container.setIommu(type);
    return { container, group };
  }

  function buffer(size: number): NativeBackendDmaBuffer {
    const b = backend.allocBuffer({ size, backing: '4k', prefault: true }) as NativeBackendDmaBuffer;
    cleanup.unshift(b); // closed last, after the container let go of it
    return b;
  }

  it('API version, extensions, and GET_INFO with its capability chain', () => {
    const { container } = attach();
    expect(container.apiVersion()).toBe(0);
    expect(container.checkExtension('TYPE1')).toBe(true);
    const raw = nativeContainerOf(container)!.iommuInfo();
    expect(raw.byteLength).toBeGreaterThan(24); // the chain was fetched with the grown argsz
    const info = container.info();
    expect(info.pageSizes & SZ_4K).toBe(SZ_4K);
    expect(info.ranges.length).toBeGreaterThan(0);
    expect(info.ranges.some((r) => r.start <= IOVA && IOVA + 0x10000n - 1n <= r.last)).toBe(true);
    expect(info.dmaAvail).toBeGreaterThan(0);
    expect(info.migration?.pageSizes ?? 0n).not.toBe(0n);
  });

  it('maps a 4k buffer, pins it while mapped, unmaps it', () => {
    const { container } = attach();
    const b = buffer(4096);
    container.map({ vaddr: b.vaddr, iova: IOVA, size: b.size });
    expect(b.mappings).toBe(1);
    expect(container.info().dmaAvail).toBeGreaterThan(0);
    const busy = expectVfioError(() => b.close(), 'EBUSY', 'munmap');
    expect(busy.hint).toMatch(/still DMA-mapped/);
    expectVfioError(() => container.map({ vaddr: b.vaddr, iova: IOVA, size: b.size }), 'EEXIST', 'VFIO_IOMMU_MAP_DMA');
    expect(container.unmap(IOVA, b.size)).toBe(b.size);
    expect(b.mappings).toBe(0);
    expect(container.unmap(IOVA, b.size)).toBe(0n); // nothing left there
    b.close();
  });

  it('a misaligned map is EINVAL with the alignment hint', () => {
    const { container } = attach();
    const b = buffer(8192);
    const e = expectVfioError(() => container.map({ vaddr: b.vaddr + 1n, iova: IOVA, size: SZ_4K }), 'EINVAL');
    expect(e.hint).toMatch(/aligned/);
    expect(b.mappings).toBe(0);
  });

  it('runs a map plan and an unmap plan, timing each entry', () => {
    const { container } = attach();
    const b = buffer(4 * 4096);
    const n = 4;
    const plan = new BigUint64Array(n * PLAN_STRIDE);
    for (let i = 0; i < n; i++) {
      plan.set([b.vaddr + BigInt(i) * SZ_4K, IOVA + BigInt(i) * SZ_4K, SZ_4K, 3n], i * PLAN_STRIDE);
    }
    const mapped = container.runPlan('map', plan);
    expect(mapped).toMatchObject({ completed: n, failedIndex: -1, errno: 0, simulated: false });
    expect(mapped.ns.length).toBe(n);
    for (const t of mapped.ns) expect(t).toBeGreaterThan(0);
    expect(b.mappings).toBe(n);
    expect(nativeContainerOf(container)!.trackedMappings).toBe(n);

    const unmapped = container.runPlan('unmap', plan);
    expect(unmapped).toMatchObject({ completed: n, failedIndex: -1, unmapped: BigInt(n) * SZ_4K });
    expect(b.mappings).toBe(0);
  });

  it('a plan stops at the first failure and leaves the rest to the caller', () => {
    const { container } = attach();
    const b = buffer(2 * 4096);
    const plan = BigUint64Array.from([
      b.vaddr, IOVA, SZ_4K, 3n,
      b.vaddr + SZ_4K, IOVA, SZ_4K, 3n, // same IOVA again: EEXIST
      b.vaddr + SZ_4K, IOVA + SZ_4K, SZ_4K, 3n,
    ]);
    const r = container.runPlan('map', plan);
    expect(r).toMatchObject({ completed: 1, failedIndex: 1, errno: Errno.EEXIST });
    expect(r.ns.length).toBe(2);
    expect(b.mappings).toBe(1); // entry 0 stays mapped: no unwind in the executor
    expect(container.unmap(IOVA, SZ_4K)).toBe(SZ_4K);
  });

  it('one unmap over several mappings releases every buffer it covered (TYPE1v2)', () => {
    const { container } = attach();
    const a = buffer(4096);
    const b = buffer(4096);
    container.map({ vaddr: a.vaddr, iova: IOVA, size: SZ_4K });
    container.map({ vaddr: b.vaddr, iova: IOVA + SZ_4K, size: SZ_4K });
    // Bisecting a mapping is refused by v2 and releases nothing.
    expectVfioError(() => container.unmap(IOVA, SZ_4K + 0x800n), 'EINVAL', 'VFIO_IOMMU_UNMAP_DMA');
    expect(a.mappings + b.mappings).toBe(2);
    expect(container.unmap(IOVA, 2n * SZ_4K)).toBe(2n * SZ_4K);
    expect([a.mappings, b.mappings]).toEqual([0, 0]);
  });

  it('unmapAll releases everything; container close unmaps and detaches the group', () => {
    const { container, group } = attach();
    const b = buffer(2 * 4096);
    container.map({ vaddr: b.vaddr, iova: IOVA, size: SZ_4K });
    container.map({ vaddr: b.vaddr + SZ_4K, iova: IOVA + SZ_4K, size: SZ_4K });
    expect(container.unmapAll()).toBe(2n * SZ_4K);
    expect(b.mappings).toBe(0);
    container.map({ vaddr: b.vaddr, iova: IOVA, size: 2n * SZ_4K });
    const device = group.openDevice(deviceName);
    const bar = new Uint32Array(device.mmap(PciRegion.BAR0));
    container.close();
    // Kernel order: device closed (its BAR view detached), group unset, then the container.
    expect(device.closed).toBe(true);
    expect(bar.length).toBe(0);
    expect(group.status().containerSet).toBe(false);
    expect(b.mappings).toBe(0);
    b.close();
    expect(() => container.info()).toThrow(VfioError);
  });

  it('dirty tracking: type1 reports every pinned page dirty', (ctx) => {
    const { container } = attach();
    const info = container.info();
    if (!info.migration) ctx.skip(); // a kernel without the migration capability
    const b = buffer(8 * 4096);
    container.map({ vaddr: b.vaddr, iova: IOVA, size: b.size });
    container.dirtyStart();
    const bits = container.dirtyGet(IOVA, b.size, SZ_4K);
    expect(bits.pageSize).toBe(SZ_4K);
    expect(bits.bits.length).toBe(1);
    expect(bits.bits[0]).toBe(0xffn); // 8 pages, all dirty: no page wrongly clean
    const r = container.unmapWithDirty(IOVA, b.size, SZ_4K);
    expect(r.unmapped).toBe(b.size);
    expect(r.dirty.bits[0]! & 0xffn).toBe(0xffn);
    expect(b.mappings).toBe(0);
    container.dirtyStop();
  });

  it('TYPE1 (v1) unmap semantics are mirrored: pins follow what the kernel really removed', () => {
    const { container } = attach('type1');
    const a = buffer(2 * 4096);
    const b = buffer(2 * 4096);
    container.map({ vaddr: a.vaddr, iova: IOVA, size: a.size });
    container.map({ vaddr: b.vaddr, iova: IOVA + a.size, size: b.size });
    const tracked = () => nativeContainerOf(container)!.trackedMappings;
    // From inside a mapping: v1 succeeds with 0 bytes and removes nothing.
    expect(container.unmap(IOVA + SZ_4K, SZ_4K)).toBe(0n);
    expect([a.mappings, b.mappings, tracked()]).toEqual([1, 1, 2]);
    // Covering a mapping's first IOVA: v1 removes the whole mapping.
    expect(container.unmap(IOVA, SZ_4K)).toBe(a.size);
    expect([a.mappings, b.mappings, tracked()]).toEqual([0, 1, 1]);
    expect(container.unmapAll()).toBe(b.size);
    expect([b.mappings, tracked()]).toEqual([0, 0]);
  });

  it('hugetlb and thp buffers map and unmap (pool reserved by the lane)', (ctx) => {
    const { container } = attach();
    for (const backing of ['thp', 'hugetlb'] as const) {
      let b: DmaBuffer;
      try {
        b = backend.allocBuffer({ size: 2n << 20n, backing, prefault: true });
      } catch (err) {
        if (backing === 'hugetlb' && (err as VfioError).code === 'ENOMEM') ctx.skip('no free 2 MiB hugetlb pages');
        throw err;
      }
      cleanup.unshift(b);
      container.map({ vaddr: b.vaddr, iova: 0x400_0000n, size: b.size });
      expect(container.unmap(0x400_0000n, b.size)).toBe(b.size);
      b.close();
    }
  });

  it('the last group leaving releases every pin (the kernel dropped the mappings)', () => {
    const { container, group } = attach();
    const b = buffer(4096);
    container.map({ vaddr: b.vaddr, iova: IOVA, size: SZ_4K });
    expect(b.mappings).toBe(1);
    group.unsetContainer();
    expect(b.mappings).toBe(0);
    expectVfioError(() => container.info(), 'EINVAL', 'VFIO_IOMMU_GET_INFO');
    b.close();
  });

  it('`using` in the natural order: container, group, then a buffer left mapped, all disposed without a throw', () => {
    let kept!: DmaBuffer;
    {
      using container = backend.openContainer();
      using group = backend.openGroup(groupId);
      group.setContainer(container);
      container.setIommu('type1v2');
      using b = backend.allocBuffer({ size: 2 * 4096, backing: '4k', prefault: true });
      kept = b;
      container.map({ vaddr: b.vaddr, iova: IOVA, size: b.size });
    }
    // The container's close dropped the mapping; the deferred disposal then released the memory.
    expect(kept.closed).toBe(true);
    expect(smapsAt(kept.vaddr)?.start).not.toBe(kept.vaddr);
  });

  it('disposing a mapped buffer waits for the unmap; an explicit close() still refuses (EBUSY)', () => {
    const { container } = attach();
    const b = backend.allocBuffer({ size: 4096, backing: '4k', prefault: true }) as NativeBackendDmaBuffer;
    container.map({ vaddr: b.vaddr, iova: IOVA, size: SZ_4K });
    b[Symbol.dispose]();
    expect(b.closed).toBe(false);
    expect(smapsAt(b.vaddr)?.start).toBe(b.vaddr);
    expectVfioError(() => b.close(), 'EBUSY', 'munmap');
    container.unmap(IOVA, SZ_4K);
    expect(b.closed).toBe(true);
    expect(smapsAt(b.vaddr)?.start).not.toBe(b.vaddr);
  });

  it('a mapped buffer survives GC without its wrapper, and is freed once unmapped', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', child('gc-mapped.cjs'), root], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ keptWhileMapped: true, unmapped: String(1 << 20), freedAfterUnmap: true });
  });

  it('a second process opening the group gets EBUSY with a hint, and opens it once the first lets go', () => {
    const hooks = fileURLToPath(new URL('../hil/children/register-ts.mjs', import.meta.url));
    const tryOpen = () => JSON.parse(execFileSync(process.execPath, ['--import', hooks, child('open-group.ts'), String(groupId)],
      { encoding: 'utf8' })) as { opened: boolean; code?: string; op?: string; hint?: string | null };
    const held = backend.openGroup(groupId);
    let second;
    try {
      second = tryOpen();
    } finally {
      held.close();
    }
    expect(second).toMatchObject({ opened: false, code: 'EBUSY' });
    expect(second.hint).toMatch(/group in use: another process/);
    expect(tryOpen()).toEqual({ opened: true });
  });

  it.each([['exiting', 'exit', 0], ['terminated while busy in JS', 'terminate', 1]])('a worker %s with a live mapping leaves nothing behind: group reopens, pages uncharged', (_, mode, code) => {
    const out = execFileSync(process.execPath, [child('worker-mapped.cjs'), root, mode as string], { encoding: 'utf8' });
    const r = JSON.parse(out) as { code: number; pinnedKb: number; afterKb: number; reopened: unknown };
    expect(r.code).toBe(code);
    expect(r.pinnedKb).toBeGreaterThanOrEqual(2048);
    expect(r.afterKb).toBeLessThan(2048);
    expect(r.reopened).toBe(true);
  });

  describe('the edu device', () => {
    function openEdu(): { device: Device; group: Group } {
      const { group } = attach();
      const device = group.openDevice(deviceName);
      cleanup.push(device);
      return { device, group };
    }

    it('device info, region info and config-space identity', () => {
      const { device } = openEdu();
      expect(device.name).toBe(deviceName);
      const info = device.info();
      expect(info.isPci).toBe(true);
      expect(info.numRegions).toBeGreaterThan(PciRegion.CONFIG);
      const cfg = device.regionInfo(PciRegion.CONFIG);
      expect(cfg.readable && cfg.writable).toBe(true);
      const id = new DataView(device.read(PciRegion.CONFIG, 0n, 4).buffer);
      expect(id.getUint16(0, true)).toBe(EDU_VENDOR);
      expect(id.getUint16(2, true)).toBe(EDU_DEVICE);
      expect(() => device.read(PciRegion.CONFIG, cfg.size, 1)).toThrow(RangeError);
      expect(device.irqInfo(0).count).toBe(1); // INTx
      // Indexes past what the device has: the kernel's EINVAL, as VfioErrors.
      expectVfioError(() => device.regionInfo(info.numRegions + 5), 'EINVAL', 'VFIO_DEVICE_GET_REGION_INFO');
      expectVfioError(() => device.irqInfo(info.numIrqs + 5), 'EINVAL', 'VFIO_DEVICE_GET_IRQ_INFO');
      // VFIO_DEVICE_RESET works exactly when the device says it can be reset.
      if (info.resetSupported) device.reset();
      else expectVfioError(() => device.reset(), 'EINVAL', 'VFIO_DEVICE_RESET');
    });

    it('BAR0: pread and mmap both see the identification register', () => {
      const { device } = openEdu();
      const bar0 = device.regionInfo(PciRegion.BAR0);
      expect(bar0.mmappable).toBe(true);
      expect(new DataView(device.read(PciRegion.BAR0, 0n, 4).buffer).getUint32(0, true)).toBe(EDU_ID);
      // A Uint32Array, not a DataView: V8 may split DataView reads into byte loads,
      // and edu (like most devices) only answers 32/64-bit accesses to its registers.
      const bar = device.mmap(PciRegion.BAR0);
      const regs = new Uint32Array(bar);
      expect(bar.byteLength).toBe(Number(bar0.size));
      expect(regs[0]).toBe(EDU_ID);
      // Liveness register: reads back the complement of what was written.
      regs[1] = 0x12345678;
      expect(regs[1]).toBe(~0x12345678 >>> 0);
      expect(device.mmap(PciRegion.BAR0)).toBe(bar); // one view per region
      device.close();
      expect(regs.length).toBe(0);
      expect(bar.byteLength).toBe(0);
      expectVfioError(() => device.info(), 'EBADF', 'VFIO_DEVICE_GET_INFO');
    });

    it('the group cannot be unset while its device is open; closing the group closes the device first', () => {
      const { device, group } = openEdu();
      expectVfioError(() => group.unsetContainer(), 'EBUSY', 'VFIO_GROUP_UNSET_CONTAINER');
      group.close();
      expect(device.closed).toBe(true);
      expect(group.closed).toBe(true);
    });
  });
});
