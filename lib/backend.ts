// The one seam. `native` (real ioctls) and `sim` (a model of vfio_iommu_type1,
// vfio-pci and iommufd) implement these interfaces; the planner, allocator,
// benchmarks and CLI only ever see them (and get a backend from lib/open.ts).
// Arguments are checked once for every backend (lib/seam/args.ts); optional
// capabilities are asked for through lib/seam/capabilities.ts. Nothing here
// imports anything above it.
import type { DeviceCalls } from './device-calls.js';
import type { IrqInfo, IrqKind, IrqOptions, IrqSet } from './irq.js';
// IrqInfo lives beside the vectors it describes (lib/irq.ts), so that file needs nothing from this one.
export type { IrqInfo } from './irq.js';
export type * from './device-calls.js';
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
  /**
   * Where the kernel holds this space's pins against the limit, when that is not `locked` (an IOAS; see
   * MemlockAccount). Absent: `locked` is the figure (a type1 container: VmLck, plus VmPin to stay safe).
   */
  account?: MemlockAccount;
}

/**
 * iommufd's IOMMU_OPTION_RLIMIT_MODE as the kernel applies it to an IOAS's pins (pages.c do_update_pinned):
 * 'mm' charges this process's mm->locked_vm (VmLck, as type1 does; exact), 'user' the user's
 * user->locked_vm, shared by every process of that user and shown nowhere in /proc: `charged` is then only
 * this process's own share (its VmPin), and other processes of the same user may have charged more.
 * 'none' with CAP_IPC_LOCK (nothing is charged or refused).
 */
export interface MemlockAccount {
  counter: 'mm' | 'user' | 'none';
  /** Bytes of that counter this process can see: VmLck ('mm'), this process's VmPin ('user'), 0 ('none'). */
  charged: bigint;
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

/**
 * Repetitions of (map the plan, unmap it) in one call, each repetition's
 * ioctl times summed: the kernel's cost with nothing between repetitions, as
 * a C loop measures it. Stops at the first failure without unwinding, like
 * runPlan; the arrays hold the completed repetitions only.
 */
export interface PlanCycles {
  mapNs: Float64Array;
  unmapNs: Float64Array;
  completed: number;
  failedOp: PlanOp | null;
  failedIndex: number;
  errno: number;
}

export interface DirtyBitmap {
  pageSize: bigint;
  /** Bit i (LSB first, u64 words) = page at iova + i * pageSize was dirtied. */
  bits: BigUint64Array;
}

/** Dirty-page tracking of a whole DmaSpace (type1: VFIO_IOMMU_DIRTY_PAGES START / STOP / GET_BITMAP). */
export interface DirtyTracking {
  start(): void;
  stop(): void;
  get(iova: bigint, size: bigint, pageSize: bigint): DirtyBitmap;
}

/**
 * What the planner needs of the kernel: map, unmap, limits and page sizes.
 * A type1 container is one; an iommufd IOAS is another.
 *
 * Optional capabilities are methods a space may lack: ask with
 * lib/seam/capabilities.ts (dirtyTrackingOf), which says "unsupported" for
 * a space that does not have it.
 */
export interface DmaSpace {
  readonly simulated: boolean;
  info(): IommuInfo;
  memlock(): MemlockStatus;
  /** memlock() without blocking the event loop on its /proc read (lib/seam/capabilities.ts memlockAsyncOf). */
  memlockAsync?(): Promise<MemlockStatus>;
  map(m: DmaMapping): void;
  /** Returns the bytes actually unmapped (0 where nothing was mapped). */
  unmap(iova: bigint, size: bigint): bigint;
  runPlan(op: PlanOp, plan: BigUint64Array): PlanResult;
  /** Dirty tracking of the whole space. An IOAS has none: iommufd tracks through a HWPT (Iommufd.hwptDirty). */
  dirtyTracking?(): DirtyTracking;
  /** reps x (map plan, unmap plan) inside one native call (lib/seam/capabilities.ts planCyclesOf). */
  runPlanCycles?(plan: BigUint64Array, reps: number): PlanCycles;
  /**
   * The C reference's loop (scripts/ref/ref.c) in this process, for the benchmark: reps x (map every entry, then
   * unmap every entry mapped), each ioctl timed and nothing else run (no books, no buffer lookups): the floor
   * runPlanCycles is held to. Leaves nothing mapped; same result shape as runPlanCycles.
   */
  runBareCycles?(plan: BigUint64Array, reps: number): PlanCycles;
  /**
   * runPlan off the event loop (the native backend: libuv's thread pool; lib/seam/capabilities.ts
   * planAsyncOf). Same result as runPlan; an abort stops it between entries, reported as ECANCELED
   * at the first entry not run. While it runs, every other call on the space gets EBUSY.
   */
  runPlanAsync?(op: PlanOp, plan: BigUint64Array, opts?: PlanAsyncOptions): Promise<PlanResult>;
}

export interface PlanAsyncOptions {
  /** Stops the plan before its next entry; what it mapped stays mapped (mapBatchAsync unwinds it). */
  signal?: AbortSignal;
}

export interface Container extends DmaSpace, Disposable {
  dirtyTracking(): DirtyTracking;
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

/** PCI region indexes (VFIO_PCI_*_REGION_INDEX). */
export const PciRegion = { BAR0: 0, BAR1: 1, BAR2: 2, BAR3: 3, BAR4: 4, BAR5: 5, ROM: 6, CONFIG: 7, VGA: 8 } as const;

/**
 * A device. Its optional calls (lib/device-calls.ts: device ioctls not every backend issues) are asked for through
 * deviceCallOf(device, name) (lib/seam/capabilities.ts), which answers EOPNOTSUPP where the backend lacks one.
 */
export interface Device extends Disposable, Partial<DeviceCalls> {
  readonly name: string;
  readonly closed: boolean;
  info(): DeviceInfo;
  regionInfo(index: number): RegionInfo;
  read(region: number, offset: bigint, length: number): Uint8Array;
  write(region: number, offset: bigint, data: Uint8Array): void;
  /** mmap of a whole region; detached when the device closes. */
  mmap(region: number): ArrayBuffer;
  /**
   * false when mmap() gives memory the device never sees (the simulator's is
   * plain memory: only read()/write() reach its registers); absent or true when
   * loads and stores through the mapping are device accesses. lib/regs.ts
   * chooses between the two by it.
   */
  readonly mmapLive?: boolean;
  irqInfo(index: number): IrqInfo;
  /**
   * VFIO_DEVICE_SET_IRQS: enables `count` vectors of one index, each with its
   * own eventfd delivered on the event loop (lib/irq.ts). INTx, MSI and MSI-X
   * exclude each other; closing the device disables them (waiters: EBADF).
   */
  irqs(kind: IrqKind, opts?: IrqOptions): IrqSet;
  reset(): void;
  close(): void;
  /**
   * close(), for a reason the user did not choose (lib/device-request.ts: the
   * kernel asked for the device back): every later call then throws a
   * VfioError ENODEV naming `reason`, instead of the EBADF of a closed device.
   * Harmless on a closed device (the reason is kept only if it was open).
   */
  release(reason: string): void;
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

/**
 * iommufd's dirty tracking: a HWPT allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING
 * over an IOAS, for a device whose IOMMU can do it (IOMMU_GET_HW_INFO).
 */
export interface HwptDirty {
  /** IOMMU_GET_HW_INFO: the device's IOMMU reports IOMMU_HW_CAP_DIRTY_TRACKING (any iommufd device id: a cdev, an IOMMUFD_TEST mock). */
  supported(dev: Pick<CdevDevice, 'devId'>): boolean;
  /** IOMMU_HWPT_ALLOC with DIRTY_TRACKING over `ioas` for `dev`; returns the HWPT id (attach it to use it). */
  alloc(dev: Pick<CdevDevice, 'devId'>, ioas: Ioas): number;
  /** IOMMU_HWPT_SET_DIRTY_TRACKING. */
  setTracking(hwptId: number, enabled: boolean): void;
  /** IOMMU_HWPT_GET_DIRTY_BITMAP; clears what it reports unless `noClear`. */
  get(hwptId: number, iova: bigint, size: bigint, pageSize: bigint, opts?: { noClear?: boolean }): DirtyBitmap;
  /** IOMMU_DESTROY of the HWPT. */
  destroy(hwptId: number): void;
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
  /** HWPT dirty tracking; absent where the backend has none (lib/seam/capabilities.ts: hwptDirtyOf). */
  hwptDirty?(): HwptDirty;
  /** Closes bound devices, then IOASes, then /dev/iommu. Harmless twice. */
  close(): void;
}

/** One reserved IOVA region of an IOMMU group (/sys/kernel/iommu_groups/N/reserved_regions). */
export interface ReservedRegion {
  start: bigint;
  last: bigint;
  /** direct, direct-relaxable, reserved, msi, sw-msi. */
  type: string;
}

/** One IOMMU unit (/sys/class/iommu/<name>). */
export interface IommuUnit {
  name: string;
  /** 'intel-iommu', 'amd-iommu', or the unit's own name when its driver is not recognised. */
  driver: string;
  /**
   * What the unit's registers say about the geometry, where its driver exposes them
   * (intel-iommu/cap: MGAW and the superpage levels); null otherwise.
   */
  predicted: { addressWidth: number; pageSizes: bigint; snoopControl: boolean | null } | null;
}

/**
 * The IOMMU a host's DMA goes through: the kernel driver of a real host, or
 * the profile a simulated host imitates (lib/sim/profiles.ts).
 */
export interface HostIommu {
  /** Short, for table titles: 'intel-iommu', 'amd-iommu', 'sim amd-vi-qemu'; 'none' when no IOMMU unit was found. */
  name: string;
  /** In words: "Intel VT-d (intel-iommu: dmar0)", "simulated: AMD-Vi as QEMU 7.2 emulates it". */
  description: string;
  /** The kernel driver ('intel-iommu', 'amd-iommu', ...), the one a sim profile imitates; null when none was found. */
  driver: string | null;
  units: IommuUnit[];
  /** The sim profile (sim only); null on a real host. */
  simProfile: string | null;
  /** The group asked about: its unit (the device's iommu link), default-domain type and reserved regions. */
  group?: { id: number; unit: string | null; type: string | null; reserved: ReservedRegion[] };
}

/**
 * What the host a backend drives has, as far as the CLI and the benchmark
 * need to know: read from sysfs for the native backend, from its options for
 * the sim. Callers ask it instead of branching on which backend they hold.
 */
export interface HostView {
  /** IOMMU group numbers, sorted. */
  groups(): number[];
  /** PCI addresses of the devices in a group, sorted; [] for an unknown group. */
  deviceNames(group: number): string[];
  /** A PCI device's IOMMU group: undefined when there is no such device, null when it has no group (IOMMU off). */
  groupOfDevice(name: string): number | null | undefined;
  /** The group to use when none is named: a viable one whose devices are vfio's; null when there is none. */
  defaultGroup(): number | null;
  /** The /dev/vfio/devices node name (vfioN) of a device in the group; null when none has one. */
  cdevOfGroup(group: number): string | null;
  /** Free bytes in the hugetlb pool of that page size; null when not counted (a model that keeps its own pools). */
  hugetlbFree(pageSize: bigint): bigint | null;
  /** Why a program of our own cannot issue these ioctls on this host (the C reference), or null when it can. */
  foreignIoctls(): string | null;
  /** The IOMMU behind the host's groups; with a group, that group's unit, domain type and reserved regions too. */
  iommu(group?: number): HostIommu;
}

/**
 * The kernel's own pinning path (iommufd_access_pin_pages through an
 * IOMMUFD_TEST access), timed in the kernel's terms: what the benchmark's
 * kernel-pin table needs. Only a backend that reaches a real kernel has it.
 */
export interface KernelPinner {
  availability(): { available: boolean; reason: string | null };
  run(buffer: DmaBuffer, pages: number, perPage: boolean, reps: number, warmup: number): {
    pinNs: Float64Array;
    unpinNs: Float64Array;
    calls: number;
  };
}

/**
 * What the addon itself costs, with no VFIO: a DmaSpace that goes through the
 * same addon path as a container (argument conversion, the plan executor, the
 * books, the result objects) but whose per-entry "ioctl" is a real, cheap
 * system call, and a C loop making that same call (the floor).
 */
export interface OverheadProbe {
  /** Which system call stands in for MAP_DMA / UNMAP_DMA, in words. */
  readonly syscall: string;
  /** A stand-in space over its own descriptor; close() releases it and the buffers its books pin. */
  openSpace(): DmaSpace & { close(): void };
  /** The C loop, `calls` times: ns per call, bare and with the clock read around each as the executor does. */
  floor(calls: number): OverheadFloor;
}

/** The C loop's figures, ns per call. */
export interface OverheadFloor {
  /** The bare system call. */
  bareNs: number;
  /** With CLOCK_MONOTONIC read around each call: the timed windows (what the executor reports per entry). */
  timedNs: number;
  /** That timed loop's wall time: the system call and the two clock reads the executor makes per entry. */
  timedWallNs: number;
}

export interface Backend {
  readonly name: BackendName;
  readonly simulated: boolean;
  /** The host behind this backend; `sysfsRoot` is where sysfs lives (tests point it at a fake tree). */
  host(sysfsRoot?: string): HostView;
  openContainer(): Container;
  openGroup(id: number): Group;
  allocBuffer(opts: DmaBufferOptions): DmaBuffer;
  /** /dev/iommu; absent on backends without iommufd support. Throws ENOENT where the kernel has none. */
  openIommufd?(): Iommufd;
  /** The kernel's pin path; absent on backends that do not reach a kernel (the sim). */
  kernelPinner?(): KernelPinner;
  /** The addon's own cost against a stand-in system call; absent on backends without the addon (the sim). */
  overheadProbe?(): OverheadProbe;
}
