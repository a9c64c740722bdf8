// What a simulated host looks like, and its defaults: an Intel VT-d machine
// (profile 'vtd' in profiles.ts: 4 KiB | 2 MiB | 1 GiB IOMMU pages, 48-bit
// IOVA space minus the interrupt window the IOMMU reserves for MSIs; `iommu`
// names another profile), vfio_iommu_type1's default
// dma_entry_limit, and one viable group holding an edu-like PCI device plus
// one group that is not viable (a device still bound to a host driver).
import { SZ_4K, type IovaRange } from '../backend.js';
import { defaultCostModel, type BackingCost, type CostModel } from './cost-model.js';
import { DEFAULT_SIM_IOMMU, simIommuProfile, type IommuDriver, type SimIommuName } from './profiles.js';

export interface SimGroupSpec {
  /** The IOMMU group number (/dev/vfio/<id>). */
  id: number;
  /** False when some device of the group is bound to a host driver. Default true. */
  viable?: boolean;
  /** PCI addresses of the group's devices, each an edu-like device. */
  devices?: string[];
}

export interface SimMemlockOptions {
  /** RLIMIT_MEMLOCK in bytes, null for unlimited. Default 8 MiB. */
  limit?: bigint | null;
  /** Bytes already locked by the "process" (mlock, other pins). Default 0. */
  locked?: bigint;
  /** Holds CAP_IPC_LOCK: the limit is not enforced (pages are still counted). Default true, like root. */
  exempt?: boolean;
}

export interface SimOptions {
  /**
   * The IOMMU to imitate (lib/sim/profiles.ts): 'vtd' (default), 'vtd-qemu', 'amd-vi', 'amd-vi-qemu'. It gives
   * pageSizes, iovaRanges and cacheCoherent; any of those (or addressWidth / reserved) given here wins over it.
   */
  iommu?: SimIommuName;
  /** IOMMU page-size bitmap (bit n = 2^n bytes). Default the profile's (vtd: 4 KiB | 2 MiB | 1 GiB). */
  pageSizes?: bigint;
  /** Usable IOVA ranges, inclusive. Default the profile's, or [0, 2^addressWidth) minus `reserved` when either is given. */
  iovaRanges?: IovaRange[];
  /** IOMMU address width in bits when iovaRanges is not given. Default 48. */
  addressWidth?: number;
  /** Reserved IOVA regions when iovaRanges is not given. Default the MSI window 0xfee00000-0xfeefffff. */
  reserved?: IovaRange[];
  /** vfio_iommu_type1 dma_entry_limit: mappings per container. Default 65535. */
  dmaEntryLimit?: number;
  memlock?: SimMemlockOptions;
  /** IOMMU groups present. Default: group 7 (viable, 0000:00:03.0) and group 8 (not viable, 0000:00:04.0). */
  groups?: SimGroupSpec[];
  /** VFIO_DMA_CC_IOMMU once an IOMMU is set (IOMMU enforces cache coherency). Default the profile's (vtd: true). */
  cacheCoherent?: boolean;
  /**
   * The IOMMU can track dirty pages (IOMMU_CAP_DIRTY_TRACKING: VT-d with SSADS, AMD-Vi with HDSup): iommufd then
   * gives a cdev a dirty-tracking HWPT (lib/sim/hwpt-dirty.ts). Default the profile's: false for all of them, as the
   * kernel answers under QEMU's VT-d (EOPNOTSUPP). The IOMMUFD_TEST mock domain tracks either way.
   */
  dirtyTracking?: boolean;
  /** The simulated devices support VFIO_DEVICE_RESET. Default false, like QEMU's edu (no FLR, no PM reset). */
  resetSupported?: boolean;
  /**
   * Accept any vaddr as 4 KiB pages of process memory. Default false: like the
   * kernel, MAP_DMA of memory the process does not have (here: outside live
   * allocBuffer buffers) fails with EFAULT. True lets plans be costed without
   * allocating their memory.
   */
  anyVaddr?: boolean;
  /** Cost model overrides; per-backing figures are merged field by field. */
  costModel?: { batched?: boolean; costs?: Partial<Record<keyof CostModel['costs'], Partial<BackingCost>>>; source?: string };
}

export const SIM_DEFAULT_GROUP = 7;
export const SIM_DEFAULT_DEVICE = '0000:00:03.0';
export const SIM_NONVIABLE_GROUP = 8;
export const SIM_NONVIABLE_DEVICE = '0000:00:04.0';
export const MSI_WINDOW: IovaRange = { start: 0xfee0_0000n, last: 0xfeef_ffffn };
export const DEFAULT_DMA_ENTRY_LIMIT = 65535;

/** Which IOMMU the simulated host imitates. */
export interface SimIommuIdentity {
  profile: SimIommuName;
  driver: IommuDriver;
  /** True when options changed the profile's geometry or DMA_CC: the host is then that profile's driver, not the profile. */
  custom: boolean;
}

export interface ResolvedSimOptions {
  iommu: SimIommuIdentity;
  pageSizes: bigint;
  iovaRanges: IovaRange[];
  dmaEntryLimit: number;
  memlock: { limit: bigint | null; locked: bigint; exempt: boolean };
  groups: Required<SimGroupSpec>[];
  cacheCoherent: boolean;
  dirtyTracking: boolean;
  resetSupported: boolean;
  anyVaddr: boolean;
  costModel: CostModel;
}

/** [0, 2^width) minus the reserved regions, sorted, inclusive ends. */
export function apertureRanges(width: number, reserved: readonly IovaRange[]): IovaRange[] {
  let ranges: IovaRange[] = [{ start: 0n, last: (1n << BigInt(width)) - 1n }];
  for (const r of [...reserved].sort((a, b) => (a.start < b.start ? -1 : 1))) {
    const next: IovaRange[] = [];
    for (const n of ranges) {
      if (r.start > n.last || r.last < n.start) {
        next.push(n);
        continue;
      }
      if (r.start > n.start) next.push({ start: n.start, last: r.start - 1n });
      if (r.last < n.last) next.push({ start: r.last + 1n, last: n.last });
    }
    ranges = next;
  }
  return ranges;
}

export function resolveSimOptions(o: SimOptions = {}): ResolvedSimOptions {
  const profile = simIommuProfile(o.iommu ?? DEFAULT_SIM_IOMMU);
  const pageSizes = o.pageSizes ?? profile.pageSizes;
  if (typeof pageSizes !== 'bigint' || pageSizes <= 0n) throw new RangeError('sim: pageSizes must be a non-zero bigint bitmap');
  if ((pageSizes & (SZ_4K - 1n)) !== 0n) throw new RangeError('sim: pageSizes below 4 KiB are hidden by vfio_iommu_type1');
  const width = o.addressWidth ?? 48;
  if (!Number.isInteger(width) || width < 32 || width > 64) throw new RangeError('sim: addressWidth must be 32..64');
  const ownAperture = o.addressWidth !== undefined || o.reserved !== undefined;
  const iovaRanges = (o.iovaRanges ?? (ownAperture ? apertureRanges(width, o.reserved ?? [MSI_WINDOW]) : profile.iovaRanges))
    .map((r) => ({ start: r.start, last: r.last }))
    .sort((a, b) => (a.start < b.start ? -1 : 1));
  for (const r of iovaRanges) {
    if (typeof r.start !== 'bigint' || typeof r.last !== 'bigint' || r.last < r.start) {
      throw new RangeError('sim: iovaRanges need bigint start <= last');
    }
  }
  const dmaEntryLimit = o.dmaEntryLimit ?? DEFAULT_DMA_ENTRY_LIMIT;
  if (!Number.isInteger(dmaEntryLimit) || dmaEntryLimit < 0 || dmaEntryLimit > 0xffff_ffff) {
    throw new RangeError('sim: dmaEntryLimit must be a u32');
  }
  const groups = (o.groups ?? [
    { id: SIM_DEFAULT_GROUP, viable: true, devices: [SIM_DEFAULT_DEVICE] },
    { id: SIM_NONVIABLE_GROUP, viable: false, devices: [SIM_NONVIABLE_DEVICE] },
  ]).map((g) => ({ id: g.id, viable: g.viable ?? true, devices: [...(g.devices ?? [])] }));
  const base = defaultCostModel();
  const cm = o.costModel ?? {};
  const costModel: CostModel = {
    batched: cm.batched ?? base.batched,
    source: cm.source ?? (cm.costs ? `${base.source}; overridden by options` : base.source),
    costs: {
      '4k': { ...base.costs['4k'], ...cm.costs?.['4k'] },
      thp: { ...base.costs.thp, ...cm.costs?.thp },
      hugetlb: { ...base.costs.hugetlb, ...cm.costs?.hugetlb },
    },
  };
  const cacheCoherent = o.cacheCoherent ?? profile.cacheCoherent;
  const custom = pageSizes !== profile.pageSizes || cacheCoherent !== profile.cacheCoherent
    || iovaRanges.length !== profile.iovaRanges.length
    || iovaRanges.some((r, k) => r.start !== profile.iovaRanges[k]!.start || r.last !== profile.iovaRanges[k]!.last);
  return {
    iommu: { profile: profile.name, driver: profile.driver, custom },
    pageSizes,
    iovaRanges,
    dmaEntryLimit,
    memlock: {
      limit: o.memlock?.limit === undefined ? 8n << 20n : o.memlock.limit,
      locked: o.memlock?.locked ?? 0n,
      exempt: o.memlock?.exempt ?? true,
    },
    groups,
    cacheCoherent,
    dirtyTracking: o.dirtyTracking ?? profile.dirtyTracking,
    resetSupported: o.resetSupported ?? false,
    anyVaddr: o.anyVaddr ?? false,
    costModel,
  };
}
