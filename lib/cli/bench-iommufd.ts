// The iommufd side of `vfio bench --interface iommufd|both`: an IOAS with the
// group's device bound (its cdev) and attached, so that mapping pins and
// programs the IOMMU as a type1 container with a group does. An IOAS with no
// device attached pins nothing (iommufd maps lazily), so its figures would not
// compare with type1's: then the interface is reported as not measured.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, Ioas } from '../backend.js';
import { Errno, VfioError } from '../errors.js';

export interface IommufdSpace {
  ioas: Ioas;
  /** The cdev attached, for the report's notes. */
  cdev: string;
  close(): void;
}

/** /dev/vfio/devices node of a device in IOMMU group `groupId`, from sysfs; null if none has one. */
export function cdevOfGroup(groupId: number, root: string): string | null {
  const devices = join(root, 'sys/kernel/iommu_groups', String(groupId), 'devices');
  try {
    for (const bdf of readdirSync(devices).sort()) {
      try {
        const node = readdirSync(join(devices, bdf, 'vfio-dev')).find((n) => /^vfio\d+$/.test(n));
        if (node) return node;
      } catch {
        // not bound to a vfio driver, or a kernel without VFIO_DEVICE_CDEV
      }
    }
  } catch {
    return null;
  }
  return null;
}

export function openIommufdSpace(backend: Backend, groupId: number, root: string): IommufdSpace {
  if (!backend.openIommufd) {
    throw new VfioError(Errno.ENOTTY, 'bench', { interface: 'iommufd' }, `the ${backend.name} backend has no iommufd support`);
  }
  // The sim numbers cdevs in group order: its default group's device is vfio0.
  const cdev = backend.simulated ? 'vfio0' : cdevOfGroup(groupId, root);
  if (cdev === null) {
    throw new VfioError(Errno.ENODEV, 'bench', { group: groupId, interface: 'iommufd' },
      `no /dev/vfio/devices node for a device of group ${groupId} (kernel without VFIO_DEVICE_CDEV?); `
      + 'an IOAS with no device attached pins nothing, so it is not measured');
  }
  const fd = backend.openIommufd();
  try {
    const ioas = fd.allocIoas();
    const dev = fd.bindDevice(cdev);
    dev.attach(ioas);
    return { ioas, cdev, close: () => fd.close() };
  } catch (err) {
    fd.close();
    throw err;
  }
}
