// The HostView of a real host, from sysfs: what the native backend drives.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { HostView } from './backend.js';
import { hugepagePools, iommuGroup, listIommuGroups, pciDevice, usableVfioGroup } from './sysfs.js';

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

export function sysfsHostView(root = '/'): HostView {
  return {
    groups: () => listIommuGroups(root).map((g) => g.id),
    deviceNames: (group) => iommuGroup(group, root)?.devices.map((d) => d.address) ?? [],
    groupOfDevice: (name) => {
      const dev = pciDevice(name, root);
      return dev === null ? undefined : dev.iommuGroup;
    },
    defaultGroup: () => usableVfioGroup(root),
    cdevOfGroup: (group) => cdevOfGroup(group, root),
    hugetlbFree: (pageSize) => {
      const pool = hugepagePools(root).find((p) => p.pageSize === pageSize);
      return pool ? pool.pageSize * BigInt(pool.free) : 0n;
    },
    foreignIoctls: () => null,
  };
}
