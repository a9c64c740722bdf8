// The lane itself: what every other HIL test takes for granted. If this file
// fails, the VM (or the --host setup) is wrong, not the library.
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inLaneVm, isEdu, laneIommu, onVfioHost, SKIP_REASON, testDevice } from './lane.js';

describe.skipIf(!onVfioHost)(`HIL lane smoke (${SKIP_REASON})`, () => {
  const dev = onVfioHost ? testDevice() : null!;

  it('has the VFIO container node and the group node', () => {
    expect(statSync('/dev/vfio/vfio').isCharacterDevice()).toBe(true);
    expect(statSync(`/dev/vfio/${dev.group}`).isCharacterDevice()).toBe(true);
  });

  it('has the test device bound to vfio-pci, in the group it was given', () => {
    expect(dev.driver).toBe('vfio-pci');
    const group = basename(readlinkSync(`/sys/bus/pci/devices/${dev.address}/iommu_group`));
    expect(Number(group)).toBe(dev.group);
    const members = readdirSync(`/sys/kernel/iommu_groups/${dev.group}/devices`);
    expect(members).toContain(dev.address);
  });

  it('runs behind an active IOMMU', () => {
    const iommus = readdirSync('/sys/class/iommu');
    expect(iommus.length).toBeGreaterThan(0);
    // The lane boots q35 with an emulated VT-d (dmarN), or AMD-Vi with --iommu amd (ivhdN); a --host machine may be either.
    if (inLaneVm && laneIommu !== 'none') expect(iommus.some((name) => name.startsWith(laneIommu === 'amd' ? 'ivhd' : 'dmar'))).toBe(true);
  });

  it.runIf(inLaneVm)('is the QEMU edu device, with hugetlb pages and THP ready', () => {
    expect(isEdu(dev)).toBe(true);
    const meminfo = readFileSync('/proc/meminfo', 'utf8');
    const free = Number(/HugePages_Free:\s+(\d+)/.exec(meminfo)?.[1]);
    expect(free).toBeGreaterThanOrEqual(4);
    expect(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8')).toContain('[madvise]');
    expect(existsSync('/sys/module/vfio_iommu_type1/parameters/dma_entry_limit')).toBe(true);
  });
});
