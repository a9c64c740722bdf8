// The addon's iommufd objects where no IOMMU is needed: the errors a host
// without /dev/iommu gives, argument checks before any ioctl, and teardown of
// objects whose ioctls the kernel refuses (/dev/null stands in for /dev/iommu:
// every ioctl on it is ENOTTY). The real behaviour is in test/conformance/iommufd-*.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NativeBackend } from '../../lib/native/index.js';
import { addon, expectVfioError } from './helpers.js';

describe('native iommufd without an IOMMU', () => {
  it.skipIf(existsSync('/dev/iommu'))('openIommufd on a kernel without iommufd: ENOENT with the reason', () => {
    const e = expectVfioError(() => new NativeBackend().openIommufd(), 'ENOENT', 'open /dev/iommu');
    expect(e.hint).toMatch(/CONFIG_IOMMUFD/);
  });

  it('a context whose ioctls fail reports ENOTTY per call and closes cleanly, twice', () => {
    const fd = addon.openIommufd('/dev/null');
    expectVfioError(() => fd.allocIoas(), 'ENOTTY', 'IOMMU_IOAS_ALLOC');
    expectVfioError(() => fd.option(0, 1, 0, 0n), 'ENOTTY', 'IOMMU_OPTION');
    expectVfioError(() => fd.hwptAlloc(1, 2, 2), 'ENOTTY', 'IOMMU_HWPT_ALLOC');
    expect(() => fd.hwptGetDirty(1, 0n, 0x1000n, 0n, 0)).toThrow(RangeError);
    fd.close();
    fd.close();
    expect(fd.closed).toBe(true);
    expectVfioError(() => fd.allocIoas(), 'EBADF');
  });

  it('wrong argument types are TypeErrors before any ioctl', () => {
    const fd = addon.openIommufd('/dev/null');
    try {
      expect(() => fd.option(0, 1, 0, 0 as unknown as bigint)).toThrow(TypeError);
      expect(() => fd.destroy('1' as unknown as number)).toThrow(TypeError);
      expect(() => fd.hwptSetDirty(1, 'yes' as unknown as boolean)).toThrow(TypeError);
    } finally {
      fd.close();
    }
  });

  it('a cdev path that does not exist is ENOENT naming the kernel option', () => {
    const e = expectVfioError(() => addon.openDeviceCdev('/dev/vfio/devices/vfio999'), 'ENOENT');
    expect(e.hint).toMatch(/VFIO_DEVICE_CDEV/);
  });

  it('binding needs an Iommufd object; a non-VFIO fd refuses the bind with the kernel\'s errno', () => {
    const dev = addon.openDeviceCdev('/dev/null');
    const fd = addon.openIommufd('/dev/null');
    try {
      expect(() => dev.bindIommufd({} as never)).toThrow(TypeError);
      expectVfioError(() => dev.bindIommufd(fd), 'ENOTTY', 'VFIO_DEVICE_BIND_IOMMUFD');
      expect(dev.devId).toBeNull();
    } finally {
      dev.close();
      fd.close();
    }
  });
});
