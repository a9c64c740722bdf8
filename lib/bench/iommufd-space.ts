// The iommufd side of `vfio bench --interface iommufd|both`: an IOAS with the
// group's device bound (its cdev) and attached, so that mapping pins and
// programs the IOMMU as a type1 container with a group does. An IOAS with no
// device attached pins nothing (iommufd maps lazily), so its figures would not
// compare with type1's: then the interface is reported as not measured.
import type { Backend, HostView, Ioas } from '../backend.js';
import { Errno, VfioError } from '../errors.js';

export interface IommufdSpace {
  ioas: Ioas;
  /** The cdev attached, for the report's notes. */
  cdev: string;
  close(): void;
}

export function openIommufdSpace(backend: Backend, host: HostView, groupId: number): IommufdSpace {
  if (!backend.openIommufd) {
    throw new VfioError(Errno.ENOTTY, 'bench', { interface: 'iommufd' }, `the ${backend.name} backend has no iommufd support`);
  }
  const cdev = host.cdevOfGroup(groupId);
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
