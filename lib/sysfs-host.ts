// The HostView of a real host, from sysfs: what the native backend drives.
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { HostIommu, HostView, IommuUnit, ReservedRegion } from './backend.js';
import {
  dmaEntryLimit, hugepagePools, iommuGroup, listIommuGroups, memlockLimit, pciDevice, thpMode, usableVfioGroup,
  vfioNodeAccess, vfioPresence,
  type HugepagePool, type IommuGroupInfo, type MemlockLimit, type ThpMode, type VfioNodeAccess, type VfioPresence,
} from './sysfs.js';

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

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

const DRIVER_WORDS: Record<string, string> = { 'intel-iommu': 'Intel VT-d', 'amd-iommu': 'AMD-Vi' };

/**
 * intel-iommu/cap (the capability register, hex): MGAW is bits 21:16 plus one,
 * SLLPS (bits 37:34) the superpage levels, as intel/iommu.c's
 * domain_super_pgsize_bitmap() turns them into page sizes (a second-stage
 * domain; a first-stage one goes by cap FL1GP instead); ecap bit 7 is snoop
 * control (what DMA_CC needs). A prediction: GET_INFO is the answer.
 */
export function vtdGeometry(cap: bigint, ecap: bigint | null): NonNullable<IommuUnit['predicted']> {
  const addressWidth = Number((cap >> 16n) & 0x3fn) + 1;
  const sllps = (cap >> 34n) & 0xfn;
  let pageSizes = 0x1000n;
  // iommu_superpage_capability(): fls(SLLPS) levels for a second-stage domain; 1 = 2 MiB, 2 or more = 2 MiB | 1 GiB.
  if (sllps >= 1n) pageSizes |= 0x20_0000n;
  if (sllps >= 2n) pageSizes |= 0x4000_0000n;
  return { addressWidth, pageSizes, snoopControl: ecap === null ? null : ((ecap >> 7n) & 1n) === 1n };
}

function hexValue(text: string | null): bigint | null {
  if (text === null) return null;
  const t = text.startsWith('0x') ? text.slice(2) : text;
  return /^[0-9a-fA-F]+$/.test(t) ? BigInt(`0x${t}`) : null;
}

/** /sys/class/iommu: each unit and its driver (the attribute group each driver adds names it). */
export function iommuUnits(root = '/'): IommuUnit[] {
  const base = join(root, 'sys/class/iommu');
  let names: string[];
  try {
    names = readdirSync(base).sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const dir = join(base, name);
    if (existsSync(join(dir, 'intel-iommu')) || (!existsSync(join(dir, 'amd-iommu')) && /^dmar\d+$/.test(name))) {
      const cap = hexValue(readTrimmed(join(dir, 'intel-iommu/cap')));
      const ecap = hexValue(readTrimmed(join(dir, 'intel-iommu/ecap')));
      return { name, driver: 'intel-iommu', predicted: cap === null ? null : vtdGeometry(cap, ecap) };
    }
    if (existsSync(join(dir, 'amd-iommu')) || /^ivhd\d+$/.test(name)) return { name, driver: 'amd-iommu', predicted: null };
    return { name, driver: name, predicted: null };
  });
}

/** /sys/kernel/iommu_groups/N/reserved_regions: "0x00000000fee00000 0x00000000feefffff msi" per line. */
export function reservedRegions(group: number, root = '/'): ReservedRegion[] {
  const text = readTrimmed(join(root, 'sys/kernel/iommu_groups', String(group), 'reserved_regions'));
  if (!text) return [];
  return text.split('\n').flatMap((line) => {
    const [a, b, type] = line.trim().split(/\s+/);
    const start = hexValue(a ?? null);
    const last = hexValue(b ?? null);
    return start !== null && last !== null ? [{ start, last, type: type ?? 'reserved' }] : [];
  });
}

/** The IOMMU behind a real host's groups, from sysfs. */
export function sysfsIommu(root = '/', group?: number): HostIommu {
  const units = iommuUnits(root);
  const drivers = [...new Set(units.map((u) => u.driver))];
  let groupFacts: HostIommu['group'];
  let driver = drivers.length === 1 ? drivers[0]! : null;
  if (group !== undefined) {
    const gdir = join(root, 'sys/kernel/iommu_groups', String(group));
    // The device's iommu link names its unit (…/devices/BDF/iommu -> …/iommu/dmar0).
    let unit: string | null = null;
    for (const bdf of iommuGroup(group, root)?.devices.map((d) => d.address) ?? []) {
      try {
        unit = basename(readlinkSync(join(root, 'sys/bus/pci/devices', bdf, 'iommu')));
        break;
      } catch {
        // no iommu link: an older kernel, or the device has no unit
      }
    }
    groupFacts = { id: group, unit, type: readTrimmed(join(gdir, 'type')), reserved: reservedRegions(group, root) };
    const own = units.find((u) => u.name === unit);
    if (own) driver = own.driver;
  }
  const name = driver ?? (units.length ? drivers.join('+') : 'none');
  const words = driver ? DRIVER_WORDS[driver] ?? driver : null;
  const description = units.length === 0 ? 'no IOMMU unit in /sys/class/iommu'
    : `${words ?? 'several IOMMU drivers'} (${units.map((u) => `${u.driver}: ${u.name}`).join(', ')})`;
  return { name, description, driver, units, simProfile: null, ...(groupFacts ? { group: groupFacts } : {}) };
}

/**
 * What `vfio probe` reports of the machine beyond the HostView's questions:
 * VFIO's presence, every group with its node's access, the limits and the
 * page pools. Read from sysfs and procfs; no backend needed (a laptop whose
 * addon does not load still gets its answer).
 */
export interface MachineFacts {
  vfio: VfioPresence;
  groups: Array<IommuGroupInfo & { node: VfioNodeAccess }>;
  /** RLIMIT_MEMLOCK of this process; null when /proc does not say. */
  memlock: MemlockLimit | null;
  /** vfio_iommu_type1's dma_entry_limit; null when the module is not loaded. */
  dmaEntryLimit: number | null;
  hugepages: HugepagePool[];
  thp: ThpMode | null;
}

/** The HostView of the machine itself, with the facts only a real host has. */
export interface MachineHostView extends HostView {
  facts(): MachineFacts;
}

export function sysfsHostView(root = '/'): MachineHostView {
  return {
    facts: () => ({
      vfio: vfioPresence(root),
      groups: listIommuGroups(root).map((g) => ({ ...g, node: vfioNodeAccess(g.id, root) })),
      memlock: memlockLimit(root),
      dmaEntryLimit: dmaEntryLimit(root),
      hugepages: hugepagePools(root),
      thp: thpMode(root),
    }),
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
    iommu: (group) => sysfsIommu(root, group),
  };
}
