// The proof that mappings are real: the edu device's DMA engine reads and
// writes process memory only where MAP_DMA put it, through the (emulated)
// VT-d, and is stopped by the IOMMU once the mapping is gone or read-only.
// The device comes from node-vfio/testing, as a user's suite would get it:
// each test maps what it uses and unmaps it, and the helper fails a test that
// leaves a mapping, pinned pages or an fd behind.
import type { DmaBuffer } from '../../lib/backend.js';
import { PROT_READ, PROT_RW, SZ_4K } from '../../lib/backend.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDeviceUnderTest, type DeviceUnderTest } from '../../lib/testing/index.js';
import { Edu, EDU_DMA_LIMIT } from './edu.js';
import { expectBlockedWrite } from './blocked-write.js';
import { isEdu, onVfioHost, SKIP_REASON, testDevice } from './lane.js';

const eduHere = onVfioHost && isEdu(testDevice());

// Bus addresses inside edu's 28-bit mask and far from each other.
const IOVA_SRC = 0x10_0000n;
const IOVA_DST = 0x20_0000n;
const IOVA_RO = 0x30_0000n;
const COUNT = 2048; // less than the 4 KiB device buffer: QEMU 7.2 refuses a full one
const POISON = 0xa5;

function pattern(buf: Uint8Array, seed: number): void {
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + seed) & 0xff;
}

function allEqual(bytes: Uint8Array, value: number): boolean {
  return bytes.every((b) => b === value);
}

describe.skipIf(!eduHere)(`edu DMA through VFIO type1 (${SKIP_REASON}; edu device only)`, () => {
  let dut: DeviceUnderTest;
  let edu: Edu;
  let src: DmaBuffer;
  let dst: DmaBuffer;

  beforeAll(async () => {
    dut = await openDeviceUnderTest(); // VFIO_TEST_DEVICE: the native backend, or a failure saying why
    src = dut.backend.allocBuffer({ size: SZ_4K, backing: '4k', prefault: true });
    dst = dut.backend.allocBuffer({ size: SZ_4K, backing: '4k', prefault: true });
  });

  // A reset (where the device has one) clears bus mastering: enable it again
  // for every test, through a fresh BAR0 mapping.
  beforeEach(() => {
    dut.begin();
    edu = new Edu(dut.device);
  });
  afterEach(() => dut.checkClean());

  // The device and container first: closing the container unmaps everything,
  // and a buffer that is still DMA-mapped refuses to be freed.
  afterAll(() => {
    dut?.close();
    src?.close();
    dst?.close();
  });

  it('opened the device the lane handed over, on the real kernel', () => {
    expect(dut.device.name).toBe(testDevice().address);
    expect(dut.groupId).toBe(testDevice().group);
    expect(dut.backend.simulated).toBe(false);
  });

  it('reaches the device registers through the BAR0 mmap', () => {
    expect(edu.id() & 0xff).toBe(0xed);
    expect(edu.liveness(0x1234_5678)).toBe(~0x1234_5678 >>> 0);
    expect(edu.busMasterEnabled()).toBe(true);
  });

  it('uses IOVAs the kernel says are usable and the device can reach', () => {
    const { ranges } = dut.container.info();
    for (const iova of [IOVA_SRC, IOVA_DST, IOVA_RO]) {
      expect(iova + SZ_4K).toBeLessThanOrEqual(EDU_DMA_LIMIT);
      expect(ranges.some((r) => r.start <= iova && iova + SZ_4K - 1n <= r.last)).toBe(true);
    }
  });

  it('copies RAM -> device -> RAM through two mappings', async () => {
    pattern(src.bytes, 7);
    dst.bytes.fill(0);
    dut.container.map({ vaddr: src.vaddr, iova: IOVA_SRC, size: SZ_4K, prot: PROT_READ });
    dut.container.map({ vaddr: dst.vaddr, iova: IOVA_DST, size: SZ_4K, prot: PROT_RW });

    await edu.fromRam(IOVA_SRC, 0, COUNT);
    await edu.toRam(0, IOVA_DST, COUNT);

    expect(Buffer.compare(dst.bytes.subarray(0, COUNT), src.bytes.subarray(0, COUNT))).toBe(0);
    // Only the bytes the device was told to move, nothing past them.
    expect(allEqual(dst.bytes.subarray(COUNT), 0)).toBe(true);
    expect(dut.container.unmap(IOVA_SRC, SZ_4K)).toBe(SZ_4K);
    expect(dut.container.unmap(IOVA_DST, SZ_4K)).toBe(SZ_4K);
  });

  it('lands device writes at an offset inside the mapping', async () => {
    pattern(src.bytes, 11);
    dst.bytes.fill(0);
    dut.container.map({ vaddr: src.vaddr, iova: IOVA_SRC, size: SZ_4K, prot: PROT_READ });
    dut.container.map({ vaddr: dst.vaddr, iova: IOVA_DST, size: SZ_4K, prot: PROT_RW });
    await edu.fromRam(IOVA_SRC, 0, 100);
    await edu.toRam(0, IOVA_DST + 1000n, 100);
    expect(Buffer.compare(dst.bytes.subarray(1000, 1100), src.bytes.subarray(0, 100))).toBe(0);
    expect(allEqual(dst.bytes.subarray(0, 1000), 0)).toBe(true);
    expect(allEqual(dst.bytes.subarray(1100), 0)).toBe(true);
    dut.container.unmapAll();
  });

  it('blocks device writes once the mapping is gone (IOMMU fault, memory untouched)', async () => {
    dut.container.map({ vaddr: dst.vaddr, iova: IOVA_DST, size: SZ_4K, prot: PROT_RW });
    expect(dut.container.unmap(IOVA_DST, SZ_4K)).toBe(SZ_4K);
    dst.bytes.fill(POISON);
    // intel-iommu reports the blocked write with the bus address it hit.
    const fault = await expectBlockedWrite(() => edu.toRam(0, IOVA_DST, COUNT), IOVA_DST);
    expect(allEqual(dst.bytes, POISON)).toBe(true);
    fault();
  });

  it('blocks device writes to a read-only mapping', async () => {
    dut.container.map({ vaddr: dst.vaddr, iova: IOVA_RO, size: SZ_4K, prot: PROT_READ });
    dst.bytes.fill(POISON);
    const fault = await expectBlockedWrite(() => edu.toRam(0, IOVA_RO, COUNT), IOVA_RO);
    expect(allEqual(dst.bytes, POISON)).toBe(true);
    fault();
    // ...while reads through it still work.
    pattern(dst.bytes, 99);
    await edu.fromRam(IOVA_RO, 0, COUNT);
    dut.container.map({ vaddr: src.vaddr, iova: IOVA_DST, size: SZ_4K, prot: PROT_RW });
    src.bytes.fill(0);
    await edu.toRam(0, IOVA_DST, COUNT);
    expect(Buffer.compare(src.bytes.subarray(0, COUNT), dst.bytes.subarray(0, COUNT))).toBe(0);
    expect(dut.container.unmap(IOVA_RO, SZ_4K)).toBe(SZ_4K);
    expect(dut.container.unmap(IOVA_DST, SZ_4K)).toBe(SZ_4K);
  });
});
