// edu's interrupts through the iommufd cdev path: the device fd comes from
// /dev/vfio/devices/vfioN bound to /dev/iommu, its DMA goes through an IOAS,
// and SET_IRQS is the same ioctl on that fd. Every claim edu-irq makes on the
// type1 path is checked here too: a DMA through the IOMMU awaited as MSI and as
// INTx (acknowledge + unmask), one event per write of the raise register, a
// masked INTx delivers nothing until unmasked (MSI: masked by not reading its
// eventfd), the kernel's refusals create no eventfd, disable() and closing the
// iommufd (which closes the bound device) leave none. Then the driver kit
// (examples/edu-driver.ts), unchanged, on the cdev and an IOAS: 10! and a DMA
// round trip by MSI and by INTx, nothing left mapped. Needs the lane's built
// kernel (IOMMUFD + VFIO_DEVICE_CDEV).
import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eduDemo } from '../../examples/edu-driver.js';
import type { Backend } from '../../lib/backend.js';
import type { IrqEvent, IrqSet } from '../../lib/irq.js';
import { VfioError } from '../../lib/errors.js';
import type { CdevDevice, DmaBuffer, Ioas, Iommufd } from '../../lib/backend.js';
import { PROT_READ, PROT_RW, SZ_4K } from '../../lib/backend.js';
import { Errno } from '../../lib/errors.js';
import { eduCdev } from '../conformance/iommufd-cdev.js';
import { Edu } from './edu.js';
import { DMA_IRQ, EduIrq } from './edu-irq.js';
import { eventfdSet, newEventfds } from './eventfds.js';
import { isEdu, onVfioHost, SKIP_REASON, testDevice } from './lane.js';
import { nativeBackend } from './native-backend.js';

const cdev = onVfioHost && isEdu(testDevice()) ? eduCdev() : { none: SKIP_REASON };
const why = typeof cdev !== 'string' ? cdev.none
  : !existsSync('/dev/iommu') ? 'no /dev/iommu (kernel without IOMMUFD: use the lane\'s built kernel)'
  : null;
const IOVA_SRC = 0x10_0000n;
const IOVA_DST = 0x20_0000n;
const COUNT = 1024;
// Long enough for TCG to deliver an interrupt that was coming, as in edu-irq.
const QUIET_MS = 300;

async function expectQuiet(p: Promise<bigint>): Promise<void> {
  await expect(p).rejects.toMatchObject({ name: 'TimeoutError' });
}

describe.skipIf(why !== null)(`edu interrupts through the iommufd cdev${why ? ` (skipped: ${why})` : ''}`, () => {
  let fd: Iommufd;
  let ioas: Ioas;
  let dev: CdevDevice;
  let edu: EduIrq;
  let src: DmaBuffer;
  let dst: DmaBuffer;
  let set: IrqSet | null = null;

  afterEach(() => {
    if (!dev.closed) {
      set?.disable();
      edu.ack(0xffff_ffff);
    }
    set = null;
  });

  beforeAll(async () => {
    const backend = await nativeBackend();
    fd = backend.openIommufd!();
    ioas = fd.allocIoas();
    dev = fd.bindDevice(cdev as string);
    dev.attach(ioas);
    new Edu(dev);
    edu = new EduIrq(dev);
    src = backend.allocBuffer({ size: SZ_4K, backing: '4k', prefault: true });
    dst = backend.allocBuffer({ size: SZ_4K, backing: '4k', prefault: true });
    ioas.map({ vaddr: src.vaddr, iova: IOVA_SRC, size: SZ_4K, prot: PROT_READ });
    ioas.map({ vaddr: dst.vaddr, iova: IOVA_DST, size: SZ_4K, prot: PROT_RW });
  });

  afterAll(() => {
    fd?.close();
    src?.close();
    dst?.close();
  });

  async function roundTrip(wait: () => Promise<bigint>, after: () => void): Promise<void> {
    for (let i = 0; i < COUNT; i++) src.bytes[i] = (i * 29 + 5) & 0xff;
    dst.bytes.fill(0);
    edu.startDma('fromRam', IOVA_SRC, 0, COUNT);
    expect(await wait()).toBe(1n);
    expect(edu.status()).toBe(DMA_IRQ);
    edu.ack(DMA_IRQ);
    after();
    edu.startDma('toRam', IOVA_DST, 0, COUNT);
    expect(await wait()).toBe(1n);
    edu.ack(DMA_IRQ);
    after();
    expect(Buffer.compare(dst.bytes.subarray(0, COUNT), src.bytes.subarray(0, COUNT))).toBe(0);
  }

  it('awaits DMA through the IOAS as MSI, then as INTx with unmask', async () => {
    const msi = dev.irqs('msi');
    await roundTrip(() => msi.vectors[0]!.wait({ timeoutMs: 10_000 }), () => {});
    msi.disable();
    const intx = dev.irqs('intx');
    await roundTrip(() => intx.vectors[0]!.wait({ timeoutMs: 10_000 }), () => intx.vectors[0]!.unmask());
    intx.disable();
  });

  it('one event per write of the raise register, MSI and INTx (acknowledge + unmask between)', async () => {
    const N = 50;
    for (const kind of ['msi', 'intx'] as const) {
      set = dev.irqs(kind);
      const v = set.vectors[0]!;
      const seen: bigint[] = [];
      v.addEventListener('interrupt', (e) => seen.push((e as IrqEvent).count));
      for (let i = 0; i < N; i++) {
        const got = v.wait({ timeoutMs: 5_000 });
        edu.raise(0x10);
        expect(await got).toBe(1n);
        expect(edu.status() & 0x10).toBe(0x10);
        edu.ack(0x10);
        if (kind === 'intx') v.unmask();
      }
      await expectQuiet(v.wait({ timeoutMs: QUIET_MS }));
      expect(seen).toHaveLength(N);
      expect(seen.every((c) => c === 1n)).toBe(true);
      expect(v.delivered).toBe(BigInt(N));
      set.disable();
      set = null;
    }
  });

  it('a masked INTx delivers nothing until unmasked; MSI is masked by not reading its eventfd', async () => {
    set = dev.irqs('intx');
    const intx = set.vectors[0]!;
    intx.mask();
    expect(intx.masked).toBe(true);
    edu.raise(0x2);
    await expectQuiet(intx.wait({ timeoutMs: QUIET_MS }));
    intx.unmask();
    expect(await intx.wait({ timeoutMs: 5_000 })).toBe(1n);
    edu.ack(0x2);
    intx.unmask();
    set.disable();
    set = dev.irqs('msi');
    expect(set.maskable).toBe(false);
    const msi = set.vectors[0]!;
    msi.mask();
    edu.raise(0x4);
    await expectQuiet(msi.wait({ timeoutMs: QUIET_MS }));
    edu.ack(0x4);
    msi.unmask();
    expect(await msi.wait({ timeoutMs: 5_000 })).toBe(1n);
  });

  it('refuses what the kernel refuses before any eventfd exists; disable() leaves none', async () => {
    const base = eventfdSet();
    set = dev.irqs('intx');
    const mine = newEventfds(base);
    expect(mine).toHaveLength(1);
    const refused = (fn: () => unknown): void => {
      let thrown: unknown;
      try {
        fn();
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(VfioError);
      expect((thrown as VfioError).errno).toBe(Errno.EINVAL);
      expect((thrown as VfioError).op).toBe('VFIO_DEVICE_SET_IRQS');
      expect(newEventfds(base)).toEqual(mine);
    };
    refused(() => dev.irqs('msi')); // INTx is on
    refused(() => dev.irqs('msi', { count: 2 }));
    refused(() => dev.irqs('msix')); // edu has no MSI-X
    const waiting = set.vectors[0]!.wait();
    set.disable();
    await expect(waiting).rejects.toMatchObject({ errno: Errno.EBADF });
    expect(newEventfds(base)).toEqual([]);
  });

  it('closing the iommufd closes the bound device: waiters get EBADF, no eventfd is left', async () => {
    const base = eventfdSet();
    const msi = dev.irqs('msi');
    const pending = msi.vectors[0]!.wait();
    expect(newEventfds(base)).toHaveLength(1);
    fd.close();
    expect(dev.closed).toBe(true);
    await expect(pending).rejects.toMatchObject({ errno: Errno.EBADF });
    expect(newEventfds(base)).toEqual([]);
  });
});

// The driver kit, unchanged, through the cdev: its EduBuffers map through the IOAS (a DmaSpace like a
// container), its EduDriver takes the cdev device (a Device like the group's).
describe.skipIf(why !== null)(`the edu driver kit through the iommufd cdev${why ? ` (skipped: ${why})` : ''}`, () => {
  let backend: Backend;
  let fd: Iommufd;
  let ioas: Ioas;
  let dev: CdevDevice;

  beforeAll(async () => {
    backend = await nativeBackend();
    fd = backend.openIommufd!();
    ioas = fd.allocIoas();
    dev = fd.bindDevice(cdev as string);
    dev.attach(ioas);
  });

  afterAll(() => fd?.close());

  for (const irq of ['msi', 'intx'] as const) {
    it(`the demo: 10! and a DMA round trip, every completion an ${irq} interrupt, nothing left mapped, no eventfd left`, async () => {
      const base = eventfdSet();
      const r = await eduDemo(backend, ioas, dev, { irq });
      expect(r).toMatchObject({ factorial10: 3628800, roundTrip: true, interrupts: 3n });
      expect(r.version.major).toBe(1);
      expect(ioas.unmapAll()).toBe(0n);
      expect(newEventfds(base)).toEqual([]);
    });
  }
});
