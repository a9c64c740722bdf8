// edu's interrupts through the iommufd cdev path: the device fd comes from
// /dev/vfio/devices/vfioN bound to /dev/iommu, its DMA goes through an IOAS,
// and SET_IRQS is the same ioctl on that fd. Closing the iommufd closes the
// bound device and with it every vector. Needs the lane's built kernel
// (IOMMUFD + VFIO_DEVICE_CDEV).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

describe.skipIf(why !== null)(`edu interrupts through the iommufd cdev${why ? ` (skipped: ${why})` : ''}`, () => {
  let fd: Iommufd;
  let ioas: Ioas;
  let dev: CdevDevice;
  let edu: EduIrq;
  let src: DmaBuffer;
  let dst: DmaBuffer;

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
