// node-vfio/testing on the real kernel: the leaks a test can leave are seen
// through what the kernel reports (CAP_DMA_AVAIL and an unmap-all, VmLck +
// VmPin, /proc/self/fd), and the reset decision matches what
// VFIO_DEVICE_RESET really does on the lane's device.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PROT_RW, SZ_4K, type DmaBuffer } from '../../lib/backend.js';
import { Errno } from '../../lib/errors.js';
import { LeakError, openDeviceUnderTest, type DeviceUnderTest } from '../../lib/testing/index.js';
import { onVfioHost, SKIP_REASON } from './lane.js';
import { caughtAs } from '../unit/caught.js';

const IOVA = 0x10_0000n;

const caught = (fn: () => void): LeakError => caughtAs(LeakError, fn);

describe.skipIf(!onVfioHost)(`node-vfio/testing catches leaks on the real kernel (${SKIP_REASON})`, () => {
  let dut: DeviceUnderTest;
  let buf: DmaBuffer;
  let cleanup: (() => void)[] = [];

  beforeAll(async () => {
    dut = await openDeviceUnderTest();
    buf = dut.backend.allocBuffer({ size: 2n * SZ_4K, backing: '4k', prefault: true });
  });
  afterEach(() => {
    for (const fn of cleanup.splice(0).reverse()) fn();
  });
  afterAll(() => {
    dut?.close();
    buf?.close();
  });

  it('is on the native backend, for the device in the environment', () => {
    expect(dut.backend.name).toBe('native');
    expect(dut.reason).toMatch(/^native: VFIO_TEST_DEVICE=/);
  });

  it('passes a test that unmapped what it mapped', () => {
    dut.begin();
    dut.container.map({ vaddr: buf.vaddr, iova: IOVA, size: SZ_4K, prot: PROT_RW });
    dut.container.unmap(IOVA, SZ_4K);
    expect(dut.leaks()).toEqual([]);
  });

  it('names a mapping left in the container and the pages it pinned (VmLck), then unmaps it', () => {
    dut.begin();
    dut.container.map({ vaddr: buf.vaddr, iova: IOVA, size: 2n * SZ_4K, prot: PROT_RW });
    const err = caught(() => dut.checkClean());
    expect(err.leaks).toEqual([
      { kind: 'mapping', detail: '1 DMA mapping (8192 bytes) left in the container (now unmapped)' },
      { kind: 'pinned', detail: '8192 bytes of pinned memory (VmLck + VmPin) not released' },
    ]);
    expect(dut.container.unmapAll()).toBe(0n);
    expect(dut.leaks()).toEqual([]);
  });

  it('names an fd left open: a second container on /dev/vfio/vfio', () => {
    dut.begin();
    const extra = dut.backend.openContainer();
    cleanup.push(() => extra.close());
    const err = caught(() => dut.checkClean());
    expect(err.leaks).toHaveLength(1);
    expect(err.leaks[0]!.kind).toBe('fd');
    expect(err.leaks[0]!.detail).toMatch(/^1 file descriptor left open: \d+ -> \/dev\/vfio\/vfio$/);
  });

  it('resets only a device that can be reset: VFIO_DEVICE_RESET fails where the device reports none', () => {
    const outcome = dut.begin();
    if (dut.device.info().resetSupported) {
      expect(outcome).toBe('reset');
    } else {
      expect(outcome).toBe('unsupported');
      expect(() => dut.device.reset()).toThrow(expect.objectContaining({ errno: Errno.EINVAL }));
    }
    expect(dut.leaks()).toEqual([]);
  });
});
