// Interrupt conformance, written once against the Backend interface: the sim
// in `npm test`, the kernel (vfio-pci, edu bound in the HIL guest) in the lane.
// Registers are reached with read()/write() on BAR0 (pread/pwrite on the
// device fd), which the sim models with side effects; completion is always
// awaited as an interrupt.
import { afterEach, describe, expect, it } from 'vitest';
import { PciRegion, PROT_RW, SZ_4K, type Device } from '../../lib/backend.js';
import { DeviceRequestEvent, requestSupported, watchRequests } from '../../lib/device-request.js';
import { Errno, VfioError } from '../../lib/errors.js';
import type { IrqVector } from '../../lib/irq.js';
import type { ConformanceFixture } from './fixture.js';

const IRQ_STATUS = 0x24n;
const IRQ_RAISE = 0x60n;
const IRQ_ACK = 0x64n;
const STATUS = 0x20n;
const FACT = 0x08n;
const DMA_SRC = 0x80n;
const DMA_DST = 0x88n;
const DMA_CNT = 0x90n;
const DMA_CMD = 0x98n;
const DMA_IRQ = 0x100;
const EDU_BUFFER = 0x40000;
const IOVA = 0x10_0000n;

function w32(d: Device, reg: bigint, value: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0, true);
  d.write(PciRegion.BAR0, reg, b);
}

function r32(d: Device, reg: bigint): number {
  const b = d.read(PciRegion.BAR0, reg, 4);
  return new DataView(b.buffer, b.byteOffset).getUint32(0, true);
}

/** The call must throw a VfioError with this errno from VFIO_DEVICE_SET_IRQS, with a hint. */
function refused(fn: () => unknown, errno: number): VfioError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected errno ${errno}`).toBeInstanceOf(VfioError);
  const e = thrown as VfioError;
  expect(e.errno).toBe(errno);
  expect(e.op).toBe('VFIO_DEVICE_SET_IRQS');
  expect(e.hint).toBeTruthy();
  return e;
}

export function defineIrqConformance(fx: ConformanceFixture): void {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    while (cleanups.length) {
      try {
        cleanups.pop()!();
      } catch {
        /* reported by the test that failed */
      }
    }
  });

  function open() {
    const { backend } = fx.open();
    const container = backend.openContainer();
    const group = backend.openGroup(fx.group);
    group.setContainer(container);
    container.setIommu('type1v2');
    const device = group.openDevice(fx.device);
    // memory decode + bus master
    const cmd = device.read(PciRegion.CONFIG, 4n, 2);
    device.write(PciRegion.CONFIG, 4n, new Uint8Array([cmd[0]! | 0x6, cmd[1]!]));
    cleanups.push(() => container.close(), () => group.close(), () => device.close(), () => w32(device, IRQ_ACK, 0xffff_ffff));
    // The kernel takes well under 10 ms to deliver in the lane; the sim one loop turn.
    const quietMs = backend.simulated ? 20 : 300;
    const quiet = async (v: IrqVector): Promise<void> => {
      await expect(v.wait({ timeoutMs: quietMs })).rejects.toMatchObject({ name: 'TimeoutError' });
    };
    const settle = () => new Promise((r) => setTimeout(r, quietMs));
    return { backend, container, group, device, quiet, settle };
  }

  // The request interrupt through the kernel's loopback (ACTION_TRIGGER with
  // DATA_NONE on VFIO_PCI_REQ_IRQ_INDEX signals it as vfio_pci_core_request()
  // would): the event and the release, without removing the device
  // (test/hil/device-removal does that, once per boot).
  describe(`device requests (${fx.label})`, () => {
    it('a request is a cancelable event; without release the device stays open', async () => {
      const { device } = open();
      expect(requestSupported(device)).toBe(true);
      const watch = watchRequests(device);
      cleanups.push(() => watch.stop());
      const seen: DeviceRequestEvent[] = [];
      watch.addEventListener('request', (e) => seen.push(e as DeviceRequestEvent));
      const first = watch.next({ timeoutMs: 5_000 });
      watch.vector.trigger();
      expect(await first).toBe(1n);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ count: 1n, total: 1n, cancelable: true });
      expect(watch.total).toBe(1n);
      expect(device.closed).toBe(false);
      expect(watch.released).toBe(false);
      expect(device.info().isPci).toBe(true);
      watch.stop();
      expect(watch.stopped).toBe(true);
      await expect(watch.next()).rejects.toMatchObject({ errno: Errno.EBADF });
      expect(device.closed).toBe(false);
      // The index is free again.
      const again = watchRequests(device);
      again.stop();
    });

    it('release: true closes the device on the first request not prevented; later calls say why (ENODEV)', async () => {
      const { backend, container, device } = open();
      const buf = backend.allocBuffer({ size: SZ_4K, backing: '4k', prefault: true });
      cleanups.unshift(() => buf.close()); // after its container
      container.map({ vaddr: buf.vaddr, iova: IOVA, size: SZ_4K, prot: PROT_RW });
      const msi = device.irqs('msi');
      const msiWait = msi.vectors[0]!.wait();
      const watch = watchRequests(device, { release: true });
      let n = 0;
      watch.addEventListener('request', (e) => {
        if (++n === 1) e.preventDefault();
      });
      const first = watch.next({ timeoutMs: 5_000 });
      watch.vector.trigger();
      await first;
      expect(device.closed).toBe(false);
      const second = watch.next({ timeoutMs: 5_000 });
      watch.vector.trigger();
      // The release closes the vector from inside its own event: next() hears EBADF.
      await expect(second).rejects.toMatchObject({ errno: Errno.EBADF });
      expect(n).toBe(2);
      expect(watch.released).toBe(true);
      expect(watch.stopped).toBe(true);
      expect(device.closed).toBe(true);
      await expect(msiWait).rejects.toMatchObject({ errno: Errno.EBADF });
      for (const call of [() => device.info(), () => device.read(PciRegion.BAR0, 0n, 4), () => device.irqs('msi')]) {
        let thrown: unknown;
        try {
          call();
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(VfioError);
        expect(thrown).toMatchObject({ errno: Errno.ENODEV, code: 'ENODEV', args: { device: device.name } });
        expect((thrown as VfioError).hint).toMatch(/asked for it back/);
      }
      // The mapping is the container's: still there.
      expect(container.unmap(IOVA, SZ_4K)).toBe(SZ_4K);
      // Harmless twice, and after a plain close.
      expect(() => watch.releaseDevice()).not.toThrow();
      expect(() => device.release('again')).not.toThrow();
    });
  });

  describe(`interrupts (${fx.label})`, () => {
    it('MSI: one event per write of the raise register, delivered asynchronously', async () => {
      const { device, quiet, settle } = open();
      const set = device.irqs('msi');
      cleanups.push(() => set.disable());
      expect(set.kind).toBe('msi');
      expect(set.vectors).toHaveLength(device.irqInfo(1).count);
      const v = set.vectors[0]!;
      for (let i = 1; i <= 5; i++) {
        const p = v.wait({ timeoutMs: 5_000 });
        w32(device, IRQ_RAISE, 0x8);
        expect(await p).toBe(1n);
        expect(v.delivered).toBe(BigInt(i));
      }
      await quiet(v);
      expect(r32(device, IRQ_STATUS)).toBe(0x8);
      // Raised with nobody waiting: kept for the next wait(), not lost.
      w32(device, IRQ_RAISE, 0x8);
      expect(v.delivered).toBe(5n); // not synchronously
      await settle();
      expect(await v.wait({ timeoutMs: 1_000 })).toBe(1n);
    });

    it('MSI: awaits a DMA through the IOMMU and a factorial as completion interrupts', async () => {
      const { backend, container, device } = open();
      const buf = backend.allocBuffer({ size: SZ_4K, backing: '4k', prefault: true });
      cleanups.unshift(() => buf.close()); // after its container
      container.map({ vaddr: buf.vaddr, iova: IOVA, size: SZ_4K, prot: PROT_RW });
      const set = device.irqs('msi');
      cleanups.push(() => set.disable());
      const v = set.vectors[0]!;
      for (let i = 0; i < 256; i++) buf.bytes[i] = 255 - i;
      const done = v.wait({ timeoutMs: 10_000 });
      w32(device, DMA_SRC, Number(IOVA));
      w32(device, DMA_DST, EDU_BUFFER);
      w32(device, DMA_CNT, 256);
      w32(device, DMA_CMD, 0x1 | 0x4); // run, RAM -> device, interrupt when done
      expect(await done).toBe(1n);
      expect(r32(device, IRQ_STATUS)).toBe(DMA_IRQ);
      w32(device, IRQ_ACK, DMA_IRQ);
      buf.bytes.fill(0);
      const back = v.wait({ timeoutMs: 10_000 });
      w32(device, DMA_SRC, EDU_BUFFER);
      w32(device, DMA_DST, Number(IOVA) + 1024);
      w32(device, DMA_CNT, 256);
      w32(device, DMA_CMD, 0x1 | 0x2 | 0x4);
      expect(await back).toBe(1n);
      expect(r32(device, DMA_CMD) & 1).toBe(0);
      for (let i = 0; i < 256; i++) expect(buf.bytes[1024 + i]).toBe(255 - i);
      w32(device, IRQ_ACK, DMA_IRQ);

      const fact = v.wait({ timeoutMs: 10_000 });
      w32(device, STATUS, 0x80);
      w32(device, FACT, 5);
      expect(await fact).toBe(1n);
      expect(r32(device, FACT)).toBe(120);
      expect(r32(device, IRQ_STATUS)).toBe(0x1);
    });

    it('INTx: auto-masked on delivery, re-armed by unmask; a line still asserted fires again', async () => {
      const { device, quiet } = open();
      const set = device.irqs('intx');
      cleanups.push(() => set.disable());
      expect(set.maskable).toBe(true);
      expect(set.automasked).toBe(true);
      const v = set.vectors[0]!;
      const p = v.wait({ timeoutMs: 5_000 });
      w32(device, IRQ_RAISE, 0x2);
      expect(await p).toBe(1n);
      w32(device, IRQ_RAISE, 0x4); // the line is still high and the kernel masked it
      await quiet(v);
      v.unmask(); // still asserted: sent again at once
      expect(await v.wait({ timeoutMs: 5_000 })).toBe(1n);
      w32(device, IRQ_ACK, 0x6);
      v.unmask();
      await quiet(v);
      const q = v.wait({ timeoutMs: 5_000 });
      w32(device, IRQ_RAISE, 0x2);
      expect(await q).toBe(1n);
    });

    it('a masked vector delivers nothing until unmasked (INTx in the kernel, MSI by not reading)', async () => {
      const { device, quiet } = open();
      const intx = device.irqs('intx');
      intx.vectors[0]!.mask();
      w32(device, IRQ_RAISE, 0x1);
      await quiet(intx.vectors[0]!);
      intx.vectors[0]!.unmask();
      expect(await intx.vectors[0]!.wait({ timeoutMs: 5_000 })).toBe(1n);
      w32(device, IRQ_ACK, 0x1);
      intx.disable();

      const msi = device.irqs('msi');
      cleanups.push(() => msi.disable());
      const v = msi.vectors[0]!;
      v.mask();
      w32(device, IRQ_RAISE, 0x1); // through the APIC and vfio_msihandler
      v.trigger(); // straight into the eventfd
      await quiet(v);
      v.unmask();
      // Both counted while nobody read: usually one read of the counter
      // takes both; a raise still in flight may come as a second event.
      const first = await v.wait({ timeoutMs: 5_000 });
      expect(first === 1n || first === 2n).toBe(true);
      if (first === 1n) expect(await v.wait({ timeoutMs: 5_000 })).toBe(1n);
      await quiet(v);
      expect(v.delivered).toBe(2n);
    });

    it('refuses what the kernel refuses, with its errno and a hint', () => {
      const { device } = open();
      const intx = device.irqs('intx');
      cleanups.push(() => intx.disable());
      expect(refused(() => device.irqs('msi'), Errno.EINVAL).hint).toMatch(/exclude/);
      refused(() => device.irqs('intx'), Errno.EBUSY);
      intx.disable();
      refused(() => device.irqs('msi', { count: 2 }), Errno.EINVAL);
      refused(() => device.irqs('msix'), Errno.EINVAL);
      refused(() => device.irqs('err'), Errno.EINVAL);
      const req = device.irqs('req');
      expect(req.vectors).toHaveLength(1);
      req.disable();
      expect(() => device.irqs('nmi' as 'msi')).toThrow(RangeError);
      expect(() => device.irqs(1 as unknown as 'msi')).toThrow(TypeError);
      expect(() => device.irqs('msi', { count: 1.5 })).toThrow(RangeError);
      const msi = device.irqs('msi');
      expect(() => msi.vectors[0]!.trigger()).not.toThrow();
      msi.disable();
      expect(() => msi.vectors[0]!.trigger()).toThrow(VfioError);
    });

    it('disable() and device close reject waiters with EBADF; iteration ends', async () => {
      const { device } = open();
      const msi = device.irqs('msi');
      const v = msi.vectors[0]!;
      const seen: bigint[] = [];
      const loop = (async () => {
        for await (const n of v) seen.push(n);
      })();
      const w = v.wait();
      v.trigger();
      await new Promise((r) => setTimeout(r, 50));
      await expect(w).resolves.toBe(1n);
      msi.disable();
      await loop;
      expect(seen).toEqual([1n]);
      await expect(v.wait()).rejects.toMatchObject({ errno: Errno.EBADF });

      const intx = device.irqs('intx');
      const pending = intx.vectors[0]!.wait();
      device.close();
      await expect(pending).rejects.toMatchObject({ errno: Errno.EBADF, hint: 'the device was closed' });
      expect(intx.disabled).toBe(true);
      refused(() => device.irqs('msi'), Errno.EBADF);
    });

    it('closing the container (or the group) takes the device\'s vectors with it', async () => {
      const { container, group, device } = open();
      const msi = device.irqs('msi');
      const pending = msi.vectors[0]!.wait();
      container.close();
      expect(device.closed).toBe(true);
      await expect(pending).rejects.toMatchObject({ errno: Errno.EBADF });
      expect(msi.disabled).toBe(true);
      expect(() => msi.disable()).not.toThrow();
      group.close(); // the node is free for the next open

      const { group: g2, device: d2 } = open();
      const intx = d2.irqs('intx');
      const p2 = intx.vectors[0]!.wait();
      g2.close();
      expect(d2.closed).toBe(true);
      await expect(p2).rejects.toMatchObject({ errno: Errno.EBADF });
    });
  });
}
