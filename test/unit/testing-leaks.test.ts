// node-vfio/testing on the simulator: each leak kind is caught and named,
// a clean test passes, and the device is reset between tests where it can be.
import { closeSync, openSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { PciRegion, PROT_RW, SZ_4K, type DmaBuffer } from '../../lib/backend.js';
import { DeviceUnderTest, LeakError, openDeviceUnderTest, type DeviceUnderTestOptions } from '../../lib/testing/index.js';
import { caughtAs } from './caught.js';

const PCI_COMMAND = 0x04n;
const IOVA = 0x10_0000n;

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanup.reverse()) fn();
  cleanup = [];
});

async function open(opts: DeviceUnderTestOptions = {}): Promise<DeviceUnderTest> {
  const dut = await openDeviceUnderTest({ env: {}, log: () => {}, ...opts });
  cleanup.push(() => dut.close());
  return dut;
}

function buffer(dut: DeviceUnderTest, size = SZ_4K): DmaBuffer {
  const b = dut.backend.allocBuffer({ size, backing: '4k' });
  cleanup.push(() => b.close());
  return b;
}

const caught = (fn: () => void): LeakError => caughtAs(LeakError, fn);

describe('node-vfio/testing: the device under test on the simulator', () => {
  it('opens the default simulated device on a type1v2 container and says so', async () => {
    const dut = await open();
    expect(dut.backend.simulated).toBe(true);
    expect(dut.reason).toMatch(/^sim: neither VFIO_TEST_DEVICE nor VFIO_TEST_GROUP is set/);
    expect(dut.device.name).toBe(dut.backend.host().deviceNames(dut.groupId)[0]);
    expect(dut.group.status()).toEqual({ viable: true, containerSet: true });
    expect(dut.container.info().dmaAvail).not.toBeNull(); // the mapping check's signal
  });

  it('passes a test that unmapped what it mapped', async () => {
    const dut = await open();
    const b = buffer(dut);
    dut.begin();
    dut.container.map({ vaddr: b.vaddr, iova: IOVA, size: SZ_4K, prot: PROT_RW });
    expect(dut.container.unmap(IOVA, SZ_4K)).toBe(SZ_4K);
    expect(dut.leaks()).toEqual([]);
  });

  it('fails a test that left a mapping, naming it and its pinned pages, and unmaps it', async () => {
    const dut = await open();
    const b = buffer(dut, 2n * SZ_4K);
    dut.begin();
    dut.container.map({ vaddr: b.vaddr, iova: IOVA, size: SZ_4K, prot: PROT_RW });
    dut.container.map({ vaddr: b.vaddr + SZ_4K, iova: IOVA + 0x10_0000n, size: SZ_4K, prot: PROT_RW });
    const err = caught(() => dut.checkClean());
    expect(err.leaks.map((l) => l.kind)).toEqual(['mapping', 'pinned']);
    expect(err.message).toContain('mapping: 2 DMA mappings (8192 bytes) left in the container (now unmapped)');
    expect(err.message).toContain('pinned: 8192 bytes of pinned memory (VmLck + VmPin) not released');
    // Cleaned up, and reported once: the next check is clean.
    expect(dut.container.unmapAll()).toBe(0n);
    expect(dut.leaks()).toEqual([]);
  });

  it('fails a test that left pages pinned outside the container under test', async () => {
    const dut = await open({ sim: { groups: [{ id: 7, devices: ['0000:00:03.0'] }, { id: 9, devices: ['0000:00:05.0'] }] } });
    const b = buffer(dut);
    dut.begin();
    const other = dut.backend.openContainer();
    const g = dut.backend.openGroup(9);
    cleanup.push(() => { g.close(); other.close(); });
    g.setContainer(other);
    other.setIommu('type1v2');
    other.map({ vaddr: b.vaddr, iova: IOVA, size: SZ_4K, prot: PROT_RW });
    const err = caught(() => dut.checkClean());
    expect(err.leaks).toEqual([{ kind: 'pinned', detail: '4096 bytes of pinned memory (VmLck + VmPin) not released' }]);
  });

  it('fails a test that left pages pinned by iommufd (VmPin), which no container shows', async () => {
    const dut = await open({ sim: { groups: [{ id: 7, devices: ['0000:00:03.0'] }, { id: 9, devices: ['0000:00:05.0'] }] } });
    const b = buffer(dut);
    dut.begin();
    const fd = dut.backend.openIommufd!();
    cleanup.push(() => fd.close());
    const ioas = fd.allocIoas();
    fd.bindDevice(dut.backend.host().cdevOfGroup(9)!).attach(ioas);
    ioas.map({ vaddr: b.vaddr, iova: IOVA, size: SZ_4K, prot: PROT_RW });
    const err = caught(() => dut.checkClean());
    expect(err.leaks).toEqual([{ kind: 'pinned', detail: '4096 bytes of pinned memory (VmLck + VmPin) not released' }]);
  });

  it('fails a test that left a file descriptor open, naming what it points at', async () => {
    const dut = await open();
    dut.begin();
    const fd = openSync('/dev/null', 'r');
    cleanup.push(() => closeSync(fd));
    const err = caught(() => dut.checkClean());
    expect(err.leaks).toEqual([{ kind: 'fd', detail: `1 file descriptor left open: ${fd} -> /dev/null` }]);
  });

  it('reports a container the test closed instead of crashing on it', async () => {
    const dut = await open();
    dut.begin();
    dut.container.close();
    expect(dut.leaks().map((l) => l.kind)).toEqual(['mapping']);
  });

  it('resets a device that supports VFIO_DEVICE_RESET before each test (its config space is back to power-on)', async () => {
    const dut = await open({ sim: { resetSupported: true } });
    const cmd = () => dut.device.read(PciRegion.CONFIG, PCI_COMMAND, 1)[0]!;
    const before = cmd();
    dut.device.write(PciRegion.CONFIG, PCI_COMMAND, new Uint8Array([before | 0x6]));
    expect(cmd()).toBe(before | 0x6);
    expect(dut.begin()).toBe('reset');
    expect(cmd()).toBe(before);
  });

  it('says once that a device without reset is shared between tests', async () => {
    const lines: string[] = [];
    const dut = await open({ log: (line) => lines.push(line) });
    expect(dut.resetSupported).toBe(false);
    expect(dut.begin()).toBe('unsupported');
    expect(dut.begin()).toBe('unsupported');
    expect(lines).toEqual([`node-vfio/testing: ${dut.device.name} has no VFIO_DEVICE_RESET (no FLR, PM or bus reset); `
      + 'tests share its register state']);
  });

  it('hooks() wires begin before each test, checkClean after each, close after all', async () => {
    const dut = await open({ sim: { resetSupported: true } });
    const hooks: Record<string, () => void> = {};
    dut.hooks({
      beforeEach: (fn) => (hooks.before = fn), afterEach: (fn) => (hooks.after = fn), afterAll: (fn) => (hooks.all = fn),
    });
    const b = buffer(dut);
    hooks.before!();
    dut.container.map({ vaddr: b.vaddr, iova: IOVA, size: SZ_4K });
    expect(() => hooks.after!()).toThrow(LeakError);
    hooks.all!();
    expect(dut.container.closed && dut.group.closed && dut.device.closed).toBe(true);
  });
});
