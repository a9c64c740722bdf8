// VFIO_DEVICE_GET_PCI_HOT_RESET_INFO without a kernel: the reply's decoding
// (uapi/linux/vfio.h: a vfio_pci_hot_reset_info header, then
// vfio_pci_dependent_device entries), the native wrapper over a stand-in
// addon object, and the optional call on the sim, which does not issue it and
// answers EOPNOTSUPP through deviceCallOf. The kernel's own answers are in
// test/hil/hot-reset-info.test.ts.
import { describe, expect, it } from 'vitest';
import type { Device } from '../../lib/backend.js';
import { Errno, Op, VfioError } from '../../lib/errors.js';
import { decodeHotResetInfo, NativeBackendDevice, type NativeDevice } from '../../lib/native/device.js';
import { deviceCallOf } from '../../lib/seam/capabilities.js';
import { SIM_DEFAULT_DEVICE, SIM_DEFAULT_GROUP, SimBackend } from '../../lib/sim/index.js';
import { caughtAs } from './caught.js';
import { DEVICE_CALLS } from '../../lib/device-calls.js';

const FLAG_DEV_ID = 1 << 0;
const FLAG_DEV_ID_OWNED = 1 << 1;

interface Entry { id: number; segment: number; bus: number; devfn: number }

/** A reply as the kernel writes it: argsz, flags, count, then { u32 id; u16 segment; u8 bus; u8 devfn } each. */
function reply(flags: number, entries: Entry[], count = entries.length): ArrayBuffer {
  const buf = new ArrayBuffer(12 + entries.length * 8);
  const view = new DataView(buf);
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1; // the host's order, as the kernel's
  view.setUint32(0, buf.byteLength, le);
  view.setUint32(4, flags, le);
  view.setUint32(8, count, le);
  entries.forEach((e, i) => {
    view.setUint32(12 + i * 8, e.id >>> 0, le);
    view.setUint16(16 + i * 8, e.segment, le);
    view.setUint8(18 + i * 8, e.bus);
    view.setUint8(19 + i * 8, e.devfn);
  });
  return buf;
}

describe('decodeHotResetInfo', () => {
  it('reads group ids when a device opened through its group asked (no DEV_ID flag)', () => {
    const devices = decodeHotResetInfo(reply(0, [
      { id: 7, segment: 0, bus: 0x01, devfn: 0x00 },
      { id: 12, segment: 0x1234, bus: 0xab, devfn: (0x1f << 3) | 7 },
    ]));
    expect(devices).toEqual([
      { segment: 0, bus: 1, slot: 0, function: 0, address: '0000:01:00.0', groupId: 7, devId: null },
      { segment: 0x1234, bus: 0xab, slot: 0x1f, function: 7, address: '1234:ab:1f.7', groupId: 12, devId: null },
    ]);
  });

  it('reads devids when a cdev asked (DEV_ID): an id, VFIO_PCI_DEVID_OWNED (0), VFIO_PCI_DEVID_NOT_OWNED (-1)', () => {
    const devices = decodeHotResetInfo(reply(FLAG_DEV_ID, [
      { id: 5, segment: 0, bus: 2, devfn: (3 << 3) | 2 },
      { id: 0, segment: 0, bus: 2, devfn: (3 << 3) | 3 },
      { id: 0xffff_ffff, segment: 0, bus: 2, devfn: (4 << 3) | 0 },
    ]));
    expect(devices.map((d) => [d.address, d.devId, d.groupId])).toEqual([
      ['0000:02:03.2', 5, null],
      ['0000:02:03.3', 0, null],
      ['0000:02:04.0', -1, null],
    ]);
    // DEV_ID_OWNED says nothing the entries do not: every devid is >= 0.
    expect(decodeHotResetInfo(reply(FLAG_DEV_ID | FLAG_DEV_ID_OWNED, [{ id: 3, segment: 0, bus: 0, devfn: 8 }]))[0])
      .toMatchObject({ devId: 3, slot: 1, function: 0 });
  });

  it('refuses a reply shorter than its header or than its count says', () => {
    expect(() => decodeHotResetInfo(new ArrayBuffer(8))).toThrow(RangeError);
    expect(() => decodeHotResetInfo(reply(0, [{ id: 1, segment: 0, bus: 0, devfn: 0 }], 2))).toThrow(/2 devices/);
    expect(decodeHotResetInfo(reply(0, []))).toEqual([]);
  });
});

/** The addon's device object with only what the wrapper reaches for here. */
function standIn(answer: () => ArrayBuffer): NativeDevice {
  let closed = false;
  return {
    name: '0000:01:00.0',
    get closed() { return closed; },
    hotResetInfo: answer,
    close: () => { closed = true; },
  } as unknown as NativeDevice;
}

describe('the native wrapper', () => {
  it('decodes what the addon answers, and deviceCallOf hands out that method, bound', () => {
    const dev = new NativeBackendDevice(standIn(() => reply(0, [{ id: 9, segment: 0, bus: 1, devfn: 0 }])));
    const expected = [{ segment: 0, bus: 1, slot: 0, function: 0, address: '0000:01:00.0', groupId: 9, devId: null }];
    expect(dev.hotResetInfo()).toEqual(expected);
    const call = deviceCallOf(dev, 'hotResetInfo');
    expect(call()).toEqual(expected);
  });

  it('passes the addon\'s VfioError through, and a released device says why before asking', () => {
    const dev = new NativeBackendDevice(standIn(() => {
      throw new VfioError(Errno.ENODEV, DEVICE_CALLS.hotResetInfo.op);
    }));
    const e = caughtAs(VfioError, () => dev.hotResetInfo());
    expect([e.code, e.op]).toEqual(['ENODEV', 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO']);
    expect(e.hint).toMatch(/root bus/);
    dev.release('unplugged');
    const r = caughtAs(VfioError, () => dev.hotResetInfo());
    expect([r.code, r.op]).toEqual(['ENODEV', 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO']);
    expect(r.message).toMatch(/unplugged/);
  });
});

describe('the sim, which does not issue it', () => {
  it('has no hotResetInfo, and deviceCallOf answers EOPNOTSUPP naming the ioctl, for a group device and a cdev', () => {
    const backend = new SimBackend();
    const expectUnsupported = (device: Device) => {
      expect(device.hotResetInfo).toBeUndefined();
      expect(device.hotResetInfo?.()).toBeUndefined();
      const e = caughtAs(VfioError, () => deviceCallOf(device, 'hotResetInfo')());
      expect(e.errno).toBe(Errno.EOPNOTSUPP);
      expect(e.op).toBe(DEVICE_CALLS.hotResetInfo.op);
      expect(e.op).toBe('VFIO_DEVICE_GET_PCI_HOT_RESET_INFO');
      expect(e.hint).toMatch(/does not implement hotResetInfo\(\)/);
    };
    const fd = backend.openIommufd();
    try {
      const cdev = backend.host().cdevOfGroup(SIM_DEFAULT_GROUP);
      expect(cdev).not.toBeNull();
      expectUnsupported(fd.bindDevice(cdev!));
    } finally {
      fd.close();
    }
    const container = backend.openContainer();
    try {
      const group = backend.openGroup(SIM_DEFAULT_GROUP);
      group.setContainer(container);
      container.setIommu('type1v2');
      expectUnsupported(group.openDevice(SIM_DEFAULT_DEVICE));
    } finally {
      container.close();
    }
  });
});
