// The driver kit (examples/edu-driver.ts), unchanged, on whichever edu the
// environment names: the simulator's under `npm test` (no VFIO_TEST_DEVICE),
// the lane's real edu behind vfio-pci under `npm run test:hil` (this directory
// is in both vitest configs). node-vfio/testing opens the device and fails any
// test that leaves a mapping, pinned memory or an fd behind, so the driver's
// cleanup is checked as well as its results.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PciRegion, PROT_READ } from '../../lib/backend.js';
import { openDeviceUnderTest } from '../../lib/testing/index.js';
import {
  DMA_IRQ, EDU_DMA_LIMIT, EduBuffers, EduDriver, eduDemo, FACT_IRQ,
} from '../../examples/edu-driver.js';

const dut = (await openDeviceUnderTest({ log: () => {} })).hooks({ beforeEach, afterEach, afterAll });
const cfg = dut.device.read(PciRegion.CONFIG, 0n, 4);
const isEdu = cfg[0] === 0x34 && cfg[1] === 0x12 && cfg[2] === 0xe8 && cfg[3] === 0x11;
const where = `${dut.backend.name}${dut.backend.simulated ? ' (simulated edu)' : `, ${dut.device.name}`}`;

describe.skipIf(!isEdu)(`edu driver kit on ${where}${isEdu ? '' : ' (skipped: the device under test is not edu)'}`, () => {
  for (const irq of ['msi', 'intx'] as const) {
    it(`the demo: 10! and a DMA round trip, every completion an ${irq} interrupt, nothing left mapped`, async () => {
      const r = await eduDemo(dut.backend, dut.container, dut.device, { irq });
      expect(r.version.major).toBe(1);
      expect(r.factorial10).toBe(3628800);
      expect(r.roundTrip).toBe(true);
      // One interrupt per operation: the factorial and the two transfers.
      expect(r.interrupts).toBe(3n);
    });
  }

  it('named registers go through the mapping on a kernel and through read()/write() on the sim', () => {
    using edu = new EduDriver(dut.device);
    expect(edu.regs.access).toBe(dut.backend.simulated ? 'io' : 'mmap');
    edu.regs.write('liveness', 0x1234_5678);
    expect(edu.regs.read('liveness')).toBe(~0x1234_5678 >>> 0);
    edu.regs.write('dmaSrc', 0x0abc_d000n); // 64-bit register, one 8-byte access
    expect(edu.regs.read('dmaSrc')).toBe(0x0abc_d000n);
    expect(() => edu.regs.write('irqStatus', 1)).toThrow(/read-only/);
  });

  it('the raise register interrupts once per write, and the driver acknowledges what it finds', async () => {
    using edu = new EduDriver(dut.device);
    const v = edu.irqs.vectors[0]!;
    for (let i = 0; i < 5; i++) {
      const got = v.wait({ timeoutMs: 5_000 });
      edu.regs.write('irqRaise', 0x10);
      expect(await got).toBe(1n);
      expect(edu.regs.read('irqStatus')).toBe(0x10);
      edu.regs.write('irqAck', 0x10);
    }
    expect(edu.regs.read('irqStatus')).toBe(0);
    expect(FACT_IRQ | DMA_IRQ).toBe(0x101);
  });

  it('buffers come from the planner inside edu\'s 28-bit window and go with it; bad transfers are refused first', async () => {
    using edu = new EduDriver(dut.device);
    using buffers = new EduBuffers(dut.backend, dut.container);
    const a = buffers.alloc(100, PROT_READ);
    const b = buffers.alloc(8192);
    expect(a.size).toBe(4096n);
    expect(b.iova + b.size).toBeLessThanOrEqual(EDU_DMA_LIMIT);
    expect(a.iova === b.iova).toBe(false);
    await expect(edu.copyIn(a, 0, 4096)).rejects.toThrow(/end before byte 4096/);
    await expect(edu.copyIn(a, 4000, 200)).rejects.toThrow(/inside the buffer/);
    b.bytes.set([1, 2, 3, 4], 5000);
    await edu.copyIn(b, 5000, 4, 100);
    await edu.copyOut(b, 6000, 4, 100);
    expect([...b.bytes.subarray(6000, 6004)]).toEqual([1, 2, 3, 4]);
    const busy = edu.factorial(5);
    await expect(edu.factorial(6)).rejects.toThrow(/one operation at a time/);
    expect(await busy).toBe(120);
    a.close();
    a.close();
  });
});
