// Named IOMMUs the sim imitates: what VFIO_IOMMU_GET_INFO reports through
// each kernel driver (page-size bitmap, usable IOVA ranges) and whether
// VFIO_DMA_CC_IOMMU holds. Each figure says where it comes from: the driver's
// source (Linux 6.12 unless said) or what the HIL lane's kernel answered.
// MODEL.md ("IOMMU profiles") has the same table in prose.
//
// A profile is only a set of SimOptions: pageSizes, iovaRanges,
// addressWidth, reserved and cacheCoherent given alongside it win over it
// (the sim then says the geometry is custom).
import { SZ_1G, SZ_2M, SZ_4K, type IovaRange } from '../backend.js';

/** The kernel driver a profile imitates, as /sys/class/iommu names it (intel-iommu/ or amd-iommu/ under each unit). */
export type IommuDriver = 'intel-iommu' | 'amd-iommu';

export interface SimIommuProfile {
  name: SimIommuName;
  driver: IommuDriver;
  /** In words, for reports: "Intel VT-d as QEMU 7.2 emulates it". */
  description: string;
  pageSizes: bigint;
  iovaRanges: readonly IovaRange[];
  /** VFIO_DMA_CC_IOMMU once an IOMMU type is set. */
  cacheCoherent: boolean;
  /** IOMMU_CAP_DIRTY_TRACKING: iommufd can allocate a dirty-tracking HWPT for its devices (lib/sim/hwpt-dirty.ts). */
  dirtyTracking: boolean;
  /** Where each figure comes from. */
  sources: { pageSizes: string; iovaRanges: string; cacheCoherent: string; dirtyTracking: string };
}

const U64_MAX = (1n << 64n) - 1n;
/** The interrupt window both drivers reserve (intel: IOAPIC_RANGE_START..END; amd: MSI_RANGE_START..END). */
const MSI: IovaRange = { start: 0xfee0_0000n, last: 0xfeef_ffffn };
/** AMD's HyperTransport window (amd/iommu.c HT_RANGE_START..HT_RANGE_END), reserved unless the IOMMU says to ignore it. */
const HT: IovaRange = { start: 0xfd_0000_0000n, last: 0xff_ffff_ffffn };

/** [0, 2^width) without the MSI window. */
function aperture(width: number): IovaRange[] {
  return [{ start: 0n, last: MSI.start - 1n }, { start: MSI.last + 1n, last: (1n << BigInt(width)) - 1n }];
}

/** AMD_IOMMU_PGSIZES: GENMASK_ULL(51, 12) ^ SZ_512G, every power of two from 4 KiB to 2^51 but 512 GiB (a hardware bug). */
export const AMD_IOMMU_PGSIZES = ((1n << 52n) - 1n) & ~((1n << 12n) - 1n) & ~(1n << 39n);

/** [0, 2^64) without the MSI and HyperTransport windows: what the v1 page table's aperture (~0ULL) leaves. */
const AMD_V1_RANGES: IovaRange[] = [
  { start: 0n, last: MSI.start - 1n },
  { start: MSI.last + 1n, last: HT.start - 1n },
  { start: HT.last + 1n, last: U64_MAX },
];

const VTD_PGSIZES_SRC = 'intel/iommu.c: pgsize_bitmap = SZ_4K | domain_super_pgsize_bitmap() (2 MiB and 1 GiB when the capability '
  + 'register\'s SLLPS has both superpage levels)';
const AMD_PGSIZES_SRC = 'amd/amd_iommu_types.h AMD_IOMMU_PGSIZES (the v1 page table, the default: amd_iommu=pgtbl_v2 gives '
  + 'AMD_IOMMU_PGSIZES_V2, 4 KiB | 2 MiB | 1 GiB, not modelled)';
const AMD_RANGES_SRC = 'amd/iommu.c: aperture_end = dma_max_address() = ~0ULL for the v1 table; amd_iommu_get_resv_regions() '
  + 'reserves MSI_RANGE 0xfee00000-0xfeefffff and HT_RANGE 0xfd00000000-0xffffffffff (newer kernels skip the HT range when the '
  + 'IOMMU reports FEATURE_HT_RANGE_IGNORE: give iovaRanges for such a host)';
const AMD_CC_SRC = 'amd/iommu.c amd_iommu_enforce_cache_coherency(): "IOMMU_PTE_FC is always set", returns true';
const VTD_DIRTY_SRC = 'intel/iommu.c intel_iommu_capable(IOMMU_CAP_DIRTY_TRACKING) = ssads_supported(): second-stage '
  + 'access/dirty bits (ecap SSADS, scalable mode)';
const AMD_DIRTY_SRC = 'amd/iommu.c amd_iommu_capable(IOMMU_CAP_DIRTY_TRACKING) = amd_iommu_hd_support(): the EFR\'s HDSup';

export const SIM_IOMMU_PROFILES = {
  vtd: {
    name: 'vtd',
    driver: 'intel-iommu',
    description: 'Intel VT-d host (48-bit, 4 KiB/2 MiB/1 GiB, snoop control)',
    pageSizes: SZ_4K | SZ_2M | SZ_1G,
    iovaRanges: aperture(48),
    cacheCoherent: true,
    dirtyTracking: false,
    sources: {
      pageSizes: VTD_PGSIZES_SRC,
      iovaRanges: 'intel/iommu.c: aperture_end = __DOMAIN_MAX_ADDR(gaw), gaw = min(AGAW width, cap_mgaw()): 48 bits on hardware '
        + 'with 4-level tables (57 with 5-level; a first-stage domain drops one bit); intel_iommu_get_resv_regions() reserves '
        + 'IOAPIC_RANGE 0xfee00000-0xfeefffff (RMRRs of a real host are not modelled)',
      cacheCoherent: 'intel/iommu.c: enforce_cache_coherency needs ecap_sc_support() (snoop control), which server VT-d has',
      dirtyTracking: `${VTD_DIRTY_SRC}: off here, as on VT-d before Sapphire Rapids (give dirtyTracking: true for a host with SSADS)`,
    },
  },
  'vtd-qemu': {
    name: 'vtd-qemu',
    driver: 'intel-iommu',
    description: 'Intel VT-d as QEMU 7.2 emulates it (39-bit, 4 KiB/2 MiB/1 GiB, no snoop control)',
    pageSizes: SZ_4K | SZ_2M | SZ_1G,
    iovaRanges: aperture(39),
    cacheCoherent: false,
    dirtyTracking: false,
    sources: {
      pageSizes: `${VTD_PGSIZES_SRC}; GET_INFO on the HIL kernel (6.12.107, QEMU 7.2 intel-iommu): 0x40201000`,
      iovaRanges: 'QEMU intel-iommu aw-bits defaults to 39 (MGAW 39); the HIL kernel reported [0, 2^39) without 0xfee00000-0xfeefffff',
      cacheCoherent: 'QEMU\'s intel-iommu has no snoop control (ecap SC clear): DMA_CC is false on the HIL kernel',
      dirtyTracking: `${VTD_DIRTY_SRC}; QEMU 7.2's intel-iommu has no SSADS: the lane's built 6.12.117 kernel reports no `
        + 'IOMMU_HW_CAP_DIRTY_TRACKING and refuses a dirty-tracking HWPT with EOPNOTSUPP',
    },
  },
  'amd-vi': {
    name: 'amd-vi',
    driver: 'amd-iommu',
    description: 'AMD-Vi host (v1 page table: every page size from 4 KiB but 512 GiB, 64-bit aperture less the MSI and HT holes)',
    pageSizes: AMD_IOMMU_PGSIZES,
    iovaRanges: AMD_V1_RANGES,
    cacheCoherent: true,
    dirtyTracking: false,
    sources: {
      pageSizes: `${AMD_PGSIZES_SRC}; a constant of the driver, so hardware and QEMU report the same`,
      iovaRanges: AMD_RANGES_SRC,
      cacheCoherent: AMD_CC_SRC,
      dirtyTracking: `${AMD_DIRTY_SRC}: off here (give dirtyTracking: true for a host whose IOMMU has HDSup)`,
    },
  },
  'amd-vi-qemu': {
    name: 'amd-vi-qemu',
    driver: 'amd-iommu',
    description: 'AMD-Vi as QEMU 7.2 emulates it (-device amd-iommu; the same geometry as the driver gives a host)',
    pageSizes: AMD_IOMMU_PGSIZES,
    iovaRanges: AMD_V1_RANGES,
    cacheCoherent: true,
    dirtyTracking: false,
    sources: {
      pageSizes: `${AMD_PGSIZES_SRC}; GET_INFO on the lane's Debian 6.12.107 under QEMU 7.2 -device amd-iommu: 0xfff7ffffff000 (issue 17)`,
      iovaRanges: `${AMD_RANGES_SRC}; the same kernel reported 0x0-0xfedfffff, 0xfef00000-0xfcffffffff, 0x10000000000-0xffffffffffffffff (issue 17)`,
      cacheCoherent: AMD_CC_SRC,
      dirtyTracking: `${AMD_DIRTY_SRC}; QEMU 7.2's amd-iommu does not set HDSup: the lane's built 6.12.117 kernel on it `
        + '(--kernel built --iommu amd) reports no IOMMU_HW_CAP_DIRTY_TRACKING and refuses a dirty-tracking HWPT with EOPNOTSUPP',
    },
  },
} as const satisfies Record<string, Omit<SimIommuProfile, 'name'> & { name: string }>;

export type SimIommuName = keyof typeof SIM_IOMMU_PROFILES;
/** In the order help and listings show them. */
export const SIM_IOMMU_NAMES = Object.keys(SIM_IOMMU_PROFILES) as SimIommuName[];
/** What the sim imitates when no profile is named (its defaults before profiles existed). */
export const DEFAULT_SIM_IOMMU: SimIommuName = 'vtd';

export function isSimIommuName(name: unknown): name is SimIommuName {
  return typeof name === 'string' && Object.hasOwn(SIM_IOMMU_PROFILES, name);
}

/** The profile of that name; a RangeError naming the known ones otherwise. */
export function simIommuProfile(name: string): SimIommuProfile {
  if (!isSimIommuName(name)) {
    throw new RangeError(`sim: unknown IOMMU profile ${JSON.stringify(name)}; choose from ${SIM_IOMMU_NAMES.join(', ')}`);
  }
  const p = SIM_IOMMU_PROFILES[name];
  return { ...p, iovaRanges: p.iovaRanges.map((r) => ({ ...r })) };
}

/** Profiles whose GET_INFO geometry is exactly this (and whose DMA_CC agrees, when it is known). */
export function profilesMatching(pageSizes: bigint, ranges: readonly IovaRange[], cacheCoherent?: boolean | null): SimIommuName[] {
  return SIM_IOMMU_NAMES.filter((n) => {
    const p = SIM_IOMMU_PROFILES[n];
    if (p.pageSizes !== pageSizes || p.iovaRanges.length !== ranges.length) return false;
    if (cacheCoherent !== undefined && cacheCoherent !== null && p.cacheCoherent !== cacheCoherent) return false;
    return p.iovaRanges.every((r, k) => r.start === ranges[k]!.start && r.last === ranges[k]!.last);
  });
}
