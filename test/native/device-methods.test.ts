// The addon's device methods, registered from tables in native/device.cc,
// device_cdev.cc and irq.cc rather than declared in device.h: every one is on
// the prototype, each checks its receiver, and VFIO_DEVICE_GET_PCI_HOT_RESET_INFO
// reaches the kernel. /dev/null stands in for a device fd (every ioctl on it
// is ENOTTY); what vfio-pci answers is in test/hil/hot-reset-info.test.ts.
import { describe, expect, it } from 'vitest';
import { Op } from '../../lib/errors.js';
import { addon, expectVfioError } from './helpers.js';
import { DEVICE_CALLS } from '../../lib/device-calls.js';

const METHODS = [
  'info', 'regionInfo', 'read', 'write', 'mmap', 'irqInfo', 'reset', 'hotResetInfo', 'close', // device.cc
  'bindIommufd', 'attachPt', 'detachPt', // device_cdev.cc
  'irqEnable', 'irqDisable', 'irqAction', 'irqPoll', 'irqRef', // irq.cc
];
const GETTERS = ['name', 'closed', 'devId'];

describe('the addon\'s device methods', () => {
  it('are all on the prototype, methods and getters, from the three tables', () => {
    const dev = addon.openDeviceCdev('/dev/null');
    try {
      const proto = Object.getPrototypeOf(dev) as object;
      const own = Object.getOwnPropertyNames(proto).filter((n) => n !== 'constructor');
      expect(own.sort()).toEqual([...METHODS, ...GETTERS].sort());
      for (const m of METHODS) expect(typeof Object.getOwnPropertyDescriptor(proto, m)!.value).toBe('function');
      for (const g of GETTERS) expect(typeof Object.getOwnPropertyDescriptor(proto, g)!.get).toBe('function');
    } finally {
      dev.close();
    }
  });

  it('check their receiver: one borrowed onto another object is a TypeError, not a misread pointer', () => {
    const dev = addon.openDeviceCdev('/dev/null');
    const fd = addon.openIommufd('/dev/null');
    try {
      const proto = Object.getPrototypeOf(dev) as Record<string, (...a: unknown[]) => unknown>;
      for (const m of ['hotResetInfo', 'info', 'bindIommufd']) {
        expect(() => proto[m]!.call(fd), m).toThrow(/receiver is not a Device/);
        expect(() => proto[m]!.call({}), m).toThrow(TypeError);
      }
      const devId = Object.getOwnPropertyDescriptor(proto, 'devId')!.get!;
      expect(() => devId.call(fd)).toThrow(/receiver is not a Device/);
    } finally {
      dev.close();
      fd.close();
    }
  });

  it('hotResetInfo issues VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: the kernel\'s errno with its hint; EBADF once closed', () => {
    const dev = addon.openDeviceCdev('/dev/null');
    const e = expectVfioError(() => dev.hotResetInfo(), 'ENOTTY', DEVICE_CALLS.hotResetInfo.op);
    expect(e.args).toEqual({ device: '/dev/null' });
    expect(e.hint).toMatch(/vfio-pci/);
    dev.close();
    expectVfioError(() => dev.hotResetInfo(), 'EBADF', DEVICE_CALLS.hotResetInfo.op);
  });
});
