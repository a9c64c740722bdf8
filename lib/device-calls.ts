// A device's optional calls: device ioctls that not every backend issues (the
// sim issues none of them). Each is declared once, here: its signature on the
// seam (DeviceCalls, which Device takes as optional methods), its ioctl, and a
// hint for each errno the kernel returns from it. A caller asks for one through
// deviceCallOf(device, name) (lib/seam/capabilities.ts), which answers
// EOPNOTSUPP where the backend lacks it. Adding a device ioctl is an entry
// here, the kernel's call (native/kernel/device.h), its N-API method
// (native/device.cc) and its wrapper (lib/native/device.ts): lib/native/README.md.
// Nothing here imports anything: the seam (lib/backend.ts) and the hints
// (lib/error-hints.ts) both read it.

/**
 * One device a hot reset of a device would reset (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO): the device itself and
 * every other function of its slot, or of its bus when the slot cannot be reset alone.
 */
export interface HotResetDevice {
  /** PCI segment (domain), bus, slot (device) and function, and the same as a sysfs name: '0000:01:00.0'. */
  segment: number;
  bus: number;
  slot: number;
  function: number;
  address: string;
  /** Asked through a device opened from its group (/dev/vfio/<group>): this device's IOMMU group; else null. */
  groupId: number | null;
  /**
   * Asked through a cdev (/dev/vfio/devices/vfioN): this device's id in the asking device's iommufd when bound
   * to it (> 0); 0 (VFIO_PCI_DEVID_OWNED): not bound there but in an IOMMU group that iommufd holds; -1
   * (VFIO_PCI_DEVID_NOT_OWNED): neither. null when asked through a group.
   */
  devId: number | null;
}

/** The optional calls, as Device has them (each optional there). */
export interface DeviceCalls {
  /**
   * VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: the devices a hot reset of this one would reset, itself included.
   * ENODEV where neither its slot nor its bus can be reset (a device on a root bus).
   */
  hotResetInfo(): HotResetDevice[];
}

export type OptionalDeviceCall = keyof DeviceCalls;

/** Each call's ioctl (the op its errors name) and a hint for each errno the kernel returns from it. */
export const DEVICE_CALLS = {
  hotResetInfo: {
    op: 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO',
    // vfio_pci_ioctl_get_pci_hot_reset_info (6.12), and vfio_device_fops_unl_ioctl's EINVAL for an unbound cdev.
    hints: {
      ENODEV: 'neither a slot nor a bus reset can reach this device: a device on a root bus has no bridge above it to reset it',
      EINVAL: 'a cdev must be bound to an iommufd before any other ioctl',
      EPERM: 'a device the reset would reach has no IOMMU group: it is not isolated, so VFIO will not reset it',
      ENOSPC: 'the devices the reset would reach kept changing while they were counted (hot-plug under the bridge): ask again',
      EAGAIN: 'the devices the reset would reach kept changing while they were counted (hot-plug under the bridge): ask again',
      ENOTTY: 'not a vfio-pci device: only PCI devices have a hot reset',
      ERANGE: 'the kernel found no device to reset, not even this one (it logs a warning): a kernel bug',
    },
  },
} as const satisfies Record<OptionalDeviceCall, { op: string; hints: Readonly<Record<string, string>> }>;

/** The ioctls of the optional calls, as VfioError names them. */
export type DeviceCallOpName = (typeof DEVICE_CALLS)[OptionalDeviceCall]['op'];
