// The shape of build/Release/vfio.node (native/addon.cc), as the rest of
// lib/native sees it. Native objects check their own arguments; these types
// only keep the TypeScript side honest. The device object's typing lives
// beside its wrapper (NativeDevice, NativeCdevDevice: ./device.ts).
import type { OverheadFloor } from '../backend.js';
import type { NativeCdevDevice, NativeDevice } from './device.js';

export type { NativeCdevDevice, NativeDevice };

export interface NativeContainer {
  readonly closed: boolean;
  /** Mappings the addon is tracking (each pins the DmaBuffers it covers). */
  readonly trackedMappings: number;
  /** Groups attached through setContainer. */
  readonly groups: number;
  apiVersion(): number;
  /** Raw VFIO_CHECK_EXTENSION result (> 0 supported). */
  checkExtension(ext: number): number;
  setIommu(type: number): void;
  /** Raw VFIO_IOMMU_GET_INFO reply, capability chain included. */
  iommuInfo(): ArrayBuffer;
  spaceCalls: NativeSpaceHandle['spaceCalls'];
  /** The hint for a failed map or unmap's errno when the container has lost its IOMMU (its last group detached), else null. */
  lostIommuHint(errno: number): string | null;
  unmapAll(): bigint;
  unmapWithDirty(iova: bigint, size: bigint, pageSize: bigint): { unmapped: bigint; bitmap: BigUint64Array };
  dirtyStart(): void;
  dirtyStop(): void;
  dirtyGet(iova: bigint, size: bigint, pageSize: bigint): BigUint64Array;
  /**
   * reps times: map every entry of the map plan, then unmap every one, with no JS in between
   * (native/plan.h). mapNs[r] / unmapNs[r]: rep r's ioctl times summed. Stops at the first
   * failure without unwinding, as runPlan does; the arrays hold the completed reps only.
   * bare: the C reference's loop instead of the executor's pass, which unmaps what it mapped.
   */
  runPlanCycles(plan: BigUint64Array, reps: number, bare?: boolean): {
    mapNs: Float64Array;
    unmapNs: Float64Array;
    completed: number;
    failedOp: 'map' | 'unmap' | null;
    failedIndex: number;
    errno: number;
  };
  close(): void;
}

/**
 * native/overhead_space.h: a stand-in DMA space whose per-entry "ioctl" is
 * ioctl(eventfd, FIONBIO, &0); map/unmap/runPlan take a container's arguments
 * and keep a container's books.
 */
export interface NativeOverheadSpace extends NativeSpaceHandle {
  readonly trackedMappings: number;
}

/**
 * native/space_calls.h: the hot calls of one DMA space, bound to it. Each
 * returns 0, the errno of the entry that failed, or SPACE_CLOSED. `block`
 * holds 90 words: entry (vaddr, iova, size, prot) in, unmapped out (u64), one
 * reserved, status (completed, failedIndex, errno, attempted) as f64, then a
 * small plan (BLOCK_PLAN_ENTRIES entries, u64) and its times (f64).
 */
export interface NativeSpaceCalls {
  block: ArrayBuffer;
  /** The block's entry; untimed. */
  map(): number;
  /** The block's iova and size; the bytes gone in `unmapped`. */
  unmap(): number;
  /** The first `count` entries; entry i's ioctl time in ns[i]; status in the block. */
  runPlan(isMap: boolean, plan: BigUint64Array, count: number, ns: Float64Array): number;
  /** runPlan of the block's own plan (at most BLOCK_PLAN_ENTRIES), its times into the block. */
  runSmallPlan(isMap: boolean, count: number): number;
  /**
   * The same on libuv's thread pool (native/plan_job.h): 0 when started, EBUSY when a plan is in
   * flight, SPACE_CLOSED. done(errno) runs on this thread once the status and ns are written. The
   * plan is copied at once.
   */
  runPlanAsync(isMap: boolean, plan: BigUint64Array, count: number, ns: Float64Array, done: (errno: number) => void): number;
  /** Stops the plan in flight before its next entry. */
  abortPlan(): void;
}

/** Entries of the plan the block itself holds (native/space_calls.h kBlockPlanEntries). */
export const BLOCK_PLAN_ENTRIES = 16;

/** What a space's calls answer, instead of an errno, once it is closed. */
export const SPACE_CLOSED = -1;

/** What the addon's container, IOAS and overhead stand-in share: the part lib/native/space.ts drives. */
export interface NativeSpaceHandle {
  readonly closed: boolean;
  /** Once per space: a second call throws. */
  spaceCalls(): NativeSpaceCalls;
  unmapAll(): bigint;
  runPlanCycles: NativeContainer['runPlanCycles'];
  close(): void;
}

export interface NativeGroup {
  readonly id: number;
  readonly closed: boolean;
  readonly attached: boolean;
  /** VFIO_GROUP_GET_STATUS flags. */
  status(): number;
  setContainer(container: NativeContainer): void;
  unsetContainer(): void;
  openDevice(name: string): NativeDevice;
  close(): void;
}

export interface NativeIoas {
  readonly id: number;
  readonly closed: boolean;
  readonly trackedMappings: number;
  /** ranges: [start, last, start, last, ...]. */
  iovaRanges(): { alignment: bigint; ranges: BigUint64Array };
  allowIovas(pairs: BigUint64Array): void;
  /** The kernel chooses the IOVA; returns it. */
  mapAuto(vaddr: bigint, size: bigint, prot: number): bigint;
  spaceCalls: NativeSpaceHandle['spaceCalls'];
  unmapAll(): bigint;
  copyFrom(src: NativeIoas, srcIova: bigint, size: bigint, dstIova: bigint | null, prot: number): bigint;
  runPlanCycles: NativeContainer['runPlanCycles'];
  close(): void;
}

export interface NativeIommufd {
  readonly closed: boolean;
  allocIoas(): NativeIoas;
  /** IOMMU_OPTION; op 0 = SET, 1 = GET. Returns val64 after the call. */
  option(optionId: number, op: number, objectId: number, value: bigint): bigint;
  destroy(id: number): void;
  hwptAlloc(devId: number, ptId: number, flags: number): number;
  hwptSetDirty(hwptId: number, enable: boolean): void;
  hwptGetDirty(hwptId: number, iova: bigint, length: bigint, pageSize: bigint, flags: number): BigUint64Array;
  hwInfo(devId: number): { type: number; capabilities: bigint };
  /** IOMMUFD_TEST (ENOTTY without CONFIG_IOMMUFD_TEST): a mock device attached to the IOAS through its own HWPT. */
  mockDomain(ioasId: number, devFlags: number): { stdevId: number; hwptId: number; idevId: number };
  mockDomainReplace(stdevId: number, ptId: number): number;
  /** Marks the mock's pages in `bits` (one per pageSize from iova) dirty, as DMA would; returns how many were mapped. */
  mockDirty(hwptId: number, iova: bigint, length: bigint, pageSize: bigint, bits: BigUint64Array): number;
  close(): void;
}

export interface NativeDmaBuffer {
  readonly size: bigint;
  readonly vaddr: bigint;
  readonly pageSize: bigint;
  readonly backing: string;
  readonly closed: boolean;
  /** Container mappings currently covering (and pinning) this buffer. */
  readonly mappings: number;
  bytes(): ArrayBuffer;
  close(): void;
}

export type ErrorFactory = (errno: number, op: string, args: Record<string, unknown>, hint?: string) => Error;

export interface NativeAddon {
  setErrorFactory(factory: ErrorFactory): void;
  /** path: tests only (default /dev/vfio/vfio). */
  openContainer(path?: string): NativeContainer;
  /** path: tests only (default /dev/vfio/<id>). */
  openGroup(id: number, path?: string): NativeGroup;
  /** path: tests only (default /dev/iommu). */
  openIommufd(path?: string): NativeIommufd;
  /** An unbound cdev (/dev/vfio/devices/vfioN). */
  openDeviceCdev(path: string): NativeCdevDevice;
  allocBuffer(size: bigint, backing: string, hugePageSize: bigint, prefault: boolean): NativeDmaBuffer;
  /** RLIMIT_MEMLOCK soft limit in bytes, null when unlimited. */
  memlockLimit(): bigint | null;
  /** A stand-in DMA space over its own eventfd (needs no VFIO). */
  openOverheadSpace(): NativeOverheadSpace;
  /** The stand-in system call `calls` times in a C loop: ns per call (bare, and timed per call as the executor does). */
  overheadFloor(calls: number): OverheadFloor;
  readonly PLAN_STRIDE: number;
  /** Kernel version of the linux/vfio.h the addon was built against. */
  readonly uapiVersion: string;
}
