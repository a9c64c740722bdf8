// The HostView of a simulated host, from its options: the groups and devices
// it was given, cdevs numbered in group order (as SimIommufd.bindDevice opens
// them), and no hugetlb pools to count (the model keeps its own).
import type { HostIommu, HostView } from '../backend.js';
import type { ResolvedSimOptions } from './options.js';
import { SIM_IOMMU_PROFILES } from './profiles.js';

/** The profile the simulated host imitates; "custom" when its options changed the profile's geometry. */
export function simIommu(options: ResolvedSimOptions, group?: number): HostIommu {
  const { profile, driver, custom } = options.iommu;
  const p = SIM_IOMMU_PROFILES[profile];
  return {
    name: `sim ${profile}${custom ? ' (custom geometry)' : ''}`,
    description: custom ? `simulated ${driver}, geometry set by options (profile ${profile} otherwise)` : `simulated: ${p.description}`,
    driver,
    units: [],
    simProfile: profile,
    ...(group !== undefined && options.groups.some((g) => g.id === group)
      ? { group: { id: group, unit: null, type: 'DMA', reserved: [] } } : {}),
  };
}

export function simHostView(options: ResolvedSimOptions): HostView {
  const groups = options.groups;
  const byId = (id: number) => groups.find((g) => g.id === id);
  return {
    groups: () => groups.map((g) => g.id).sort((a, b) => a - b),
    deviceNames: (group) => [...(byId(group)?.devices ?? [])].sort(),
    groupOfDevice: (name) => groups.find((g) => g.devices.includes(name))?.id,
    defaultGroup: () => groups.find((g) => g.viable && g.devices.length > 0)?.id ?? null,
    cdevOfGroup: (group) => {
      let n = 0;
      for (const g of groups) {
        if (g.id === group) return g.devices.length ? `vfio${n}` : null;
        n += g.devices.length;
      }
      return null;
    },
    hugetlbFree: () => null,
    foreignIoctls: () => 'the C reference times real ioctls on /dev/vfio, and this run is simulated '
      + '(run with --group N or --device BDF on a VFIO host)',
    iommu: (group) => simIommu(options, group),
  };
}
