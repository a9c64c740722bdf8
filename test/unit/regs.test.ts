// lib/regs.ts: named registers over a region, through the mapping or through
// read()/write(), with the layout checked once and every access of the
// register's own width.
import { describe, expect, it } from 'vitest';
import { PciRegion, type Device, type RegionInfo } from '../../lib/backend.js';
import { defineRegisters, openRegisters } from '../../lib/regs.js';
import { SimBackend, SIM_DEFAULT_DEVICE, SIM_DEFAULT_GROUP } from '../../lib/index.js';

const LAYOUT = defineRegisters({
  id: { offset: 0x00, access: 'ro' },
  scratch: { offset: 0x04 },
  kick: { offset: 0x08, access: 'wo' },
  addr: { offset: 0x10, width: 64 },
});

/** A device whose region 0 is 4 KiB of plain memory, counting read()/write() calls and their sizes. */
function fakeDevice(opts: { mmappable?: boolean; mmapLive?: boolean } = {}) {
  const mem = new ArrayBuffer(4096);
  const io: string[] = [];
  const info: RegionInfo = { index: 0, flags: 7, size: 4096n, offset: 0n, readable: true, writable: true, mmappable: opts.mmappable ?? true };
  const dev = {
    name: 'fake', closed: false, mmapLive: opts.mmapLive,
    regionInfo: () => info,
    mmap: () => mem,
    read: (_r: number, off: bigint, len: number) => {
      io.push(`r${len}@${off}`);
      return new Uint8Array(mem, Number(off), len).slice();
    },
    write: (_r: number, off: bigint, data: Uint8Array) => {
      io.push(`w${data.length}@${off}`);
      new Uint8Array(mem, Number(off), data.length).set(data);
    },
  } as unknown as Device;
  return { dev, mem, io };
}

describe('defineRegisters', () => {
  it('refuses misaligned, overlapping, negative offsets and unknown widths or access modes', () => {
    expect(() => defineRegisters({ a: { offset: 2 } })).toThrow(/not 4-byte aligned/);
    expect(() => defineRegisters({ a: { offset: 4, width: 64 } })).toThrow(/not 8-byte aligned/);
    expect(() => defineRegisters({ a: { offset: 0, width: 64 }, b: { offset: 4 } })).toThrow(/a and b overlap/);
    expect(() => defineRegisters({ a: { offset: -4 } })).toThrow(RangeError);
    expect(() => defineRegisters({ a: { offset: 0, width: 16 as 32 } })).toThrow(/width must be 32 or 64/);
    expect(() => defineRegisters({ a: { offset: 0, access: 'x' as 'rw' } })).toThrow(/access must be/);
    expect(defineRegisters({ a: { offset: 0 }, b: { offset: 4 } })).toEqual({ a: { offset: 0 }, b: { offset: 4 } });
  });
});

describe('openRegisters', () => {
  it('mmap: one little-endian access of the register width, no system call', () => {
    const { dev, mem, io } = fakeDevice();
    const regs = openRegisters(dev, 0, LAYOUT);
    expect(regs.access).toBe('mmap');
    new DataView(mem).setUint32(0, 0x010000ed, true);
    expect(regs.read('id')).toBe(0x010000ed);
    regs.write('scratch', -1);
    expect(new DataView(mem).getUint32(4, true)).toBe(0xffff_ffff);
    regs.write('addr', 0x1_2345_6789n);
    expect(new DataView(mem).getBigUint64(0x10, true)).toBe(0x1_2345_6789n);
    expect(regs.read('addr')).toBe(0x1_2345_6789n);
    regs.update('scratch', (v) => v & 0xff);
    expect(regs.read('scratch')).toBe(0xff);
    expect(io).toEqual([]);
  });

  it('io: read()/write() of exactly 4 or 8 bytes at the register offset', () => {
    const { dev, io } = fakeDevice();
    const regs = openRegisters(dev, 0, LAYOUT, { access: 'io' });
    expect(regs.access).toBe('io');
    regs.write('scratch', 0x1234);
    regs.write('addr', 7n);
    expect(regs.read('scratch')).toBe(0x1234);
    expect(regs.read('addr')).toBe(7n);
    expect(io).toEqual(['w4@4', 'w8@16', 'r4@4', 'r8@16']);
  });

  it('auto takes io where the region cannot be mapped or the mapping is not live', () => {
    expect(openRegisters(fakeDevice({ mmappable: false }).dev, 0, LAYOUT).access).toBe('io');
    expect(openRegisters(fakeDevice({ mmapLive: false }).dev, 0, LAYOUT).access).toBe('io');
    expect(openRegisters(fakeDevice({ mmapLive: true }).dev, 0, LAYOUT).access).toBe('mmap');
  });

  it('refuses wrong names, access, types, ranges, and a layout beyond the region, before any access', () => {
    const { dev, io } = fakeDevice();
    const regs = openRegisters(dev, 0, LAYOUT, { access: 'io' });
    expect(() => regs.write('id', 1)).toThrow(/read-only/);
    expect(() => regs.read('kick')).toThrow(/write-only/);
    expect(() => regs.read('nope' as 'id')).toThrow(/no register named "nope"/);
    expect(() => regs.write('addr', 1 as unknown as bigint)).toThrow(/must be a bigint/);
    expect(() => regs.write('addr', -1n)).toThrow(/64 bits/);
    expect(() => regs.write('scratch', 1n as unknown as number)).toThrow(/integer number/);
    expect(() => regs.write('scratch', 2 ** 32)).toThrow(/32 bits/);
    expect(() => regs.write('scratch', 1.5)).toThrow(TypeError);
    expect(() => regs.read('toString' as 'id')).toThrow(/no register/);
    expect(io).toEqual([]);
    expect(() => openRegisters(dev, 0, { far: { offset: 4096 } })).toThrow(/beyond region 0/);
    expect(() => openRegisters(dev, 0, LAYOUT, { access: 'dma' as 'io' })).toThrow(RangeError);
  });

  it('on the simulator reaches the edu model (auto = io), and a closed device refuses', () => {
    const backend = new SimBackend();
    const container = backend.openContainer();
    const group = backend.openGroup(SIM_DEFAULT_GROUP);
    group.setContainer(container);
    container.setIommu('type1v2');
    const device = group.openDevice(SIM_DEFAULT_DEVICE);
    expect(device.mmapLive).toBe(false);
    const edu = openRegisters(device, PciRegion.BAR0, defineRegisters({ id: { offset: 0, access: 'ro' }, liveness: { offset: 4 } }));
    expect(edu.access).toBe('io');
    expect(edu.read('id')).toBe(0x010000ed);
    edu.write('liveness', 0x0f0f0f0f);
    expect(edu.read('liveness')).toBe(0xf0f0f0f0);
    const mapped = openRegisters(device, PciRegion.BAR0, { liveness: { offset: 4 } }, { access: 'mmap' });
    device.close();
    expect(() => edu.read('id')).toThrow(/EBADF|closed/);
    expect(() => mapped.read('liveness')).toThrow(/mapping is gone/);
    group.close();
    container.close();
  });
});
