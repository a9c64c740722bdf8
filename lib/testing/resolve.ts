// Turns what the environment asked for (select.ts) into a group and a device
// of the opened backend, through its HostView only, and says why in words a
// test log can show.
import type { HostView } from '../backend.js';
import type { Wanted } from './select.js';

export interface Resolved {
  group: number;
  device: string;
  /** Why this device, e.g. "VFIO_TEST_DEVICE=0000:00:03.0 (IOMMU group 5)". */
  why: string;
}

export function resolveDevice(wanted: Wanted, host: HostView): Resolved {
  if (wanted.address !== null) {
    const group = host.groupOfDevice(wanted.address);
    if (group === undefined) throw new Error(`VFIO_TEST_DEVICE=${wanted.address}: no such PCI device on this host`);
    if (group === null) throw new Error(`VFIO_TEST_DEVICE=${wanted.address} has no IOMMU group (is the IOMMU on?)`);
    if (wanted.group !== null && wanted.group !== group) {
      throw new Error(`VFIO_TEST_DEVICE=${wanted.address} is in IOMMU group ${group}, not VFIO_TEST_GROUP=${wanted.group}`);
    }
    return { group, device: wanted.address, why: `VFIO_TEST_DEVICE=${wanted.address} (IOMMU group ${group})` };
  }
  if (wanted.group !== null) {
    const device = firstDevice(host, wanted.group);
    if (device === null) throw new Error(`VFIO_TEST_GROUP=${wanted.group}: the group has no devices on this host`);
    return { group: wanted.group, device, why: `VFIO_TEST_GROUP=${wanted.group}, its first device ${device}` };
  }
  const group = host.defaultGroup();
  const device = group === null ? null : firstDevice(host, group);
  if (group === null || device === null) throw new Error('no viable IOMMU group with a device to test');
  // The simulator's default group holds one device modelled on QEMU's edu,
  // the device the HIL lane binds to vfio-pci: code tested here meets the
  // same registers and errnos in the lane.
  return {
    group,
    device,
    why: `neither VFIO_TEST_DEVICE nor VFIO_TEST_GROUP is set, so the simulator's default device ${device} `
      + `(IOMMU group ${group}), a model of QEMU's edu device, which the HIL lane binds on a real kernel`,
  };
}

function firstDevice(host: HostView, group: number): string | null {
  return host.deviceNames(group)[0] ?? null;
}
