// The one seam. `native` (real ioctls) and `sim` (a model of vfio_iommu_type1)
// implement these interfaces; the planner, allocator, benchmarks and CLI only
// ever see them. Nothing here imports anything above it.
import type { IrqKind, IrqOptions, IrqSet } from './irq.js';
//
// Addresses and sizes are bigint; bulk plans are BigUint64Array. Every method
// that the kernel could refuse throws a VfioError carrying the errno the kernel
// returns (the sim returns the same errno for the same cause).

export type Backing = '4k' | 'thp' | 'hugetlb';
export type BackendName = 'native' | 'sim';

/** VFIO_DMA_MAP_FLAG_READ / _WRITE: device may read / write the memory. */
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_RW = PROT_READ | PROT_WRITE;

export const SZ_4K = 0x1000n;
export const SZ_2M = 0x20_0000n;
export const SZ_1G = 0x4000_0000n;

/** Extensions that VFIO_CHECK_EXTENSION knows, by their uapi names. */
export const Extension = {
  TYPE1: 1,
  SPAPR_TCE: 2,
  TYPE1v2: 3,
  DMA_CC: 4,
  EEH: 5,
  TYPE1_NESTING: 6,
  SPAPR_TCE_v2: 7,
  NOIOMMU: 8,
  UNMAP_ALL: 9,
  UPDATE_VADDR: 10,
} as const;
export type ExtensionName = keyof typeof Extension;
export type IommuType = 'type1' | 'type1v2';

/** One usable IOVA range, inclusive at both ends (the kernel's {start, end}). */
export interface IovaRange {
  start: bigint;
  last: bigint;
}

/** VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION. */
export interface MigrationCap {
  flags: number;
  /** Page sizes the dirty bitmap can be reported in. */
  pageSizes: bigint;
  /** Largest bitmap (in bytes) one GET_BITMAP / unmap-with-bitmap may ask for. */
  maxDirtyBitmapSize: bigint;
}

/** VFIO_IOMMU_GET_INFO, capability chain parsed. */
export interface IommuInfo {
  /** Bitmap of IOMMU page sizes (bit n set = 2^n bytes). */
  pageSizes: bigint;
  /** Usable IOVA ranges, sorted; the whole 64-bit space if the kernel gave none. */
  ranges: IovaRange[];
  /** DMA mappings still available (CAP_DMA_AVAIL), null if not reported. */
  dmaAvail: number | null;
  migration: MigrationCap | null;
}

/** The process's locked-memory budget, as the type1 driver sees it. */
export interface MemlockStatus {
  /** RLIMIT_MEMLOCK soft limit in bytes, null when unlimited. */
  limit: bigint | null;
  /** Bytes already charged (VmLck + VmPin). */
  locked: bigint;
  /** CAP_IPC_LOCK held: the limit is not enforced. */
  exempt: boolean;
}

export interface DmaMapping {
  vaddr: bigint;
  iova: bigint;
  size: bigint;
  /** PROT_READ | PROT_WRITE; default both. */
  prot?: number;
}

/** A plan: PLAN_STRIDE u64 words per entry. Unmap plans ignore vaddr and flags. */
export const PLAN_STRIDE = 4;
export const PLAN_VADDR = 0;
export const PLAN_IOVA = 1;
export const PLAN_SIZE = 2;
export const PLAN_FLAGS = 3;
export type PlanOp = 'map' | 'unmap';

export interface PlanResult {
  /** Nanoseconds each executed entry took (CLOCK_MONOTONIC around the ioctl). */
  ns: Float64Array;
  /** Entries that succeeded, from the start of the plan. */
  completed: number;
  /** Index of the entry that failed, -1 if none did. Execution stops there. */
  failedIndex: number;
  /** errno of that failure, 0 if none. */
  errno: number;
  /** For unmap plans: total bytes the kernel reported unmapped. */
  unmapped: bigint;
  /** True when the timings come from a cost model, not a clock. */
  simulated: boolean;
}

export interface DirtyBitmap {
  pageSize: bigint;
  /** Bit i (LSB first, u64 words) = page at iova + i * pageSize was dirtied. */
  bits: BigUint64Array;
}

/**
 * What the planner needs of the kernel: map, unmap, limits and page sizes.
 * A type1 container is one; an iommufd IOAS can be another.
 */
export interface DmaSpace {
  readonly simulated: boolean;
  info(): IommuInfo;
  memlock(): MemlockStatus;
  map(m: DmaMapping): void;
  /** Returns the bytes actually unmapped (0 where nothing was mapped). */
  unmap(iova: bigint, size: bigint): bigint;
  runPlan(op: PlanOp, plan: BigUint64Array): PlanResult;
}

export interface Container extends DmaSpace, Disposable {
  readonly closed: boolean;
  apiVersion(): number;
  checkExtension(ext: ExtensionName): boolean;
  /** VFIO_SET_IOMMU; needs at least one group attached. */
  setIommu(type: IommuType): void;
  /** VFIO_DMA_UNMAP_FLAG_ALL. */
  unmapAll(): bigint;
  /** Unmap with VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (tracking must be on). */
  unmapWithDirty(iova: bigint, size: bigint, pageSize: bigint): { unmapped: bigint; dirty: DirtyBitmap };
  dirtyStart(): void;
  dirtyStop(): void;
  dirtyGet(iova: bigint, size: bigint, pageSize: bigint): DirtyBitmap;
  /** Unmaps everything and releases the container. Harmless twice. */
  close(): void;
}

export interface GroupStatus {
  viable: boolean;
  containerSet: boolean;
}

export interface Group extends Disposable {
  readonly id: number;
  readonly closed: boolean;
  status(): GroupStatus;
  setContainer(container: Container): void;
  unsetContainer(): void;
  /** VFIO_GROUP_GET_DEVICE_FD by name (a PCI address such as 0000:00:03.0). */
  openDevice(name: string): Device;
  close(): void;
}

export interface DeviceInfo {
  flags: number;
  numRegions: number;
  numIrqs: number;
  isPci: boolean;
  resetSupported: boolean;
}

export interface RegionInfo {
  index: number;
  flags: number;
  size: bigint;
  offset: bigint;
  readable: boolean;
  writable: boolean;
  mmappable: boolean;
}

export interface IrqInfo {
  index: number;
  flags: number;
  count: number;
}

/** PCI region indexes (VFIO_PCI_*_REGION_INDEX). */
export const PciRegion = { BAR0: 0, BAR1: 1, BAR2: 2, BAR3: 3, BAR4: 4, BAR5: 5, ROM: 6, CONFIG: 7, VGA: 8 } as const;

export interface Device extends Disposable {
  readonly name: string;
  readonly closed: boolean;
  info(): DeviceInfo;
  regionInfo(index: number): RegionInfo;
  read(region: number, offset: bigint, length: number): Uint8Array;
  write(region: number, offset: bigint, data: Uint8Array): void;
  /** mmap of a whole region; detached when the device closes. */
  mmap(region: number): ArrayBuffer;
  irqInfo(index: number): IrqInfo;
  /**
   * VFIO_DEVICE_SET_IRQS: enables `count` vectors of one index, each with its
   * own eventfd delivered on the event loop (lib/irq.ts). INTx, MSI and MSI-X
   * exclude each other; closing the device disables them (waiters: EBADF).
   */
  irqs(kind: IrqKind, opts?: IrqOptions): IrqSet;
  reset(): void;
  close(): void;
}

export interface DmaBufferOptions {
  size: bigint | number;
  backing: Backing;
  /** hugetlb page size; 2 MiB unless given. */
  hugePageSize?: bigint;
  /** Touch every page now, so mapping times exclude first-fault costs. */
  prefault?: boolean;
}

export interface DmaBuffer extends Disposable {
  readonly size: bigint;
  readonly backing: Backing;
  /** The size of the pages backing it (4 KiB, or 2 MiB / 1 GiB). */
  readonly pageSize: bigint;
  /** Virtual address, as given to MAP_DMA. */
  readonly vaddr: bigint;
  /** The memory; detached (byteLength 0) after close(). */
  readonly bytes: Uint8Array;
  readonly closed: boolean;
  close(): void;
}

// ---- iommufd (/dev/iommu): the second kernel interface behind the same DmaSpace ----

/** Which kernel interface a DmaSpace goes through. */
export type DmaInterface = 'type1' | 'iommufd';

/** IOMMU_IOAS_IOVA_RANGES: the holes between reserved regions, and the alignment every IOVA must keep. */
export interface IoasRanges {
  /** out_iova_alignment: 1 on an IOAS with no domain, the domain's smallest page once a device attaches. */
  alignment: bigint;
  ranges: IovaRange[];
}

/**
 * An iommufd I/O address space. As a DmaSpace: info().pageSizes is the one
 * bit max(out_iova_alignment, 4 KiB) (iommufd reports no page-size bitmap;
 * it picks IOMMU page sizes itself), ranges come from IOVA_RANGES, dmaAvail
 * and migration are null. map() maps at a fixed IOVA; unmap() never splits a
 * mapping (ENOENT when the range cuts one) and fails with ENOENT when nothing
 * is mapped there.
 */
export interface Ioas extends DmaSpace, Disposable {
  readonly id: number;
  readonly closed: boolean;
  iovaRanges(): IoasRanges;
  /** IOMMU_IOAS_MAP without FIXED_IOVA: returns the IOVA the kernel chose. */
  mapAuto(vaddr: bigint, size: bigint, prot?: number): bigint;
  /** IOMMU_IOAS_COPY from `src` into this IOAS; dstIova null = the kernel chooses. Returns the IOVA used. */
  copy(src: Ioas, srcIova: bigint, size: bigint, dstIova: bigint | null, prot?: number): bigint;
  /** IOMMU_IOAS_ALLOW_IOVAS: where kernel-chosen IOVAs may go ([] lifts the restriction). */
  allowIovas(ranges: IovaRange[]): void;
  /** IOMMU_IOAS_UNMAP with iova 0, length U64_MAX. */
  unmapAll(): bigint;
  /** Detaches devices attached to it, unmaps all, IOMMU_DESTROY. Harmless twice. */
  close(): void;
}

/** A vfio device cdev (/dev/vfio/devices/vfioN) bound to an iommufd. */
export interface CdevDevice extends Device {
  /** The iommufd device id from VFIO_DEVICE_BIND_IOMMUFD. */
  readonly devId: number;
  /** VFIO_DEVICE_ATTACH_IOMMUFD_PT to an IOAS (or a HWPT id); returns the pt id. */
  attach(pt: Ioas | number): number;
  /** VFIO_DEVICE_DETACH_IOMMUFD_PT: the device's DMA is blocked again. */
  detach(): void;
}

/** IOMMU_OPTION_RLIMIT_MODE: 'user' charges user->locked_vm (default), 'mm' charges mm->locked_vm as type1 does. */
export type RlimitMode = 'user' | 'mm';

export interface Iommufd extends Disposable {
  readonly closed: boolean;
  allocIoas(): Ioas;
  /** Opens /dev/vfio/devices/<name> (a path, or a name such as vfio0) and binds it. */
  bindDevice(pathOrName: string): CdevDevice;
  rlimitMode(): RlimitMode;
  /** Needs CAP_SYS_RESOURCE and no objects yet (EPERM / EBUSY otherwise). */
  setRlimitMode(mode: RlimitMode): void;
  /** Closes bound devices, then IOASes, then /dev/iommu. Harmless twice. */
  close(): void;
}

export interface Backend {
  readonly name: BackendName;
  readonly simulated: boolean;
  openContainer(): Container;
  openGroup(id: number): Group;
  allocBuffer(opts: DmaBufferOptions): DmaBuffer;
  /** /dev/iommu; absent on backends without iommufd support. Throws ENOENT where the kernel has none. */
  openIommufd?(): Iommufd;
}
