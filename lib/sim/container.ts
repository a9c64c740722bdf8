// A simulated /dev/vfio/vfio container (drivers/vfio/container.c, Linux
// 6.12): groups attach to it, VFIO_SET_IOMMU needs at least one group and
// picks the type1 driver, and every IOMMU ioctl before that fails with EINVAL
// because there is no driver to pass it to.
import {
  type Container, type DirtyBitmap, type DirtyTracking, type DmaMapping, type ExtensionName, type IommuInfo,
  type IommuType, type MemlockStatus, type PlanOp, type PlanResult,
} from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { checkIommuType, checkMapping, checkPageSize, checkPlan, checkRange, extensionValue } from '../seam/args.js';
import { containerDirtyTracking } from '../seam/capabilities.js';
import { closedError } from './args.js';
import type { SimHost } from './host.js';
import { simPinnedBytes } from './iommufd-accounts.js';
import { runSimPlan, type PlanTarget } from './plan.js';
import { DIRTY_BITMAP_SIZE_MAX, Type1 } from './type1.js';

// A plan on a container with no IOMMU type: every entry fails as container.c answers.
const noIommu = (): never => {
  throw new VfioError(Errno.EINVAL, 'plan', {}, 'no IOMMU type set on this container');
};
const NO_IOMMU: PlanTarget = { mapEntry: noIommu, unmapEntry: noIommu };

/** VFIO_API_VERSION. */
const VFIO_API_VERSION = 0;

// Containers' internals that groups need; not part of the public surface.
const internals = new WeakMap<SimContainer, ContainerInternals>();

export interface ContainerInternals {
  host: SimHost;
  /** Attached groups by id, each with how to make it leave (devices closed first). */
  groups: Map<number, () => void>;
  iommu(): Type1 | null;
  /** The last group left: the type1 instance is released (container.c). */
  dropIommu(): void;
}

export function containerInternals(c: unknown): ContainerInternals | undefined {
  return internals.get(c as SimContainer);
}

export class SimContainer implements Container {
  readonly simulated = true;
  #host: SimHost;
  #closed = false;
  #groups = new Map<number, () => void>();
  #iommu: Type1 | null = null;

  /** @internal SimBackend.openContainer() constructs these. */
  constructor(host: SimHost) {
    this.#host = host;
    internals.set(this, {
      host,
      groups: this.#groups,
      iommu: () => this.#iommu,
      dropIommu: () => {
        this.#iommu?.release();
        this.#iommu = null;
      },
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  apiVersion(): number {
    this.#live('VFIO_GET_API_VERSION');
    return VFIO_API_VERSION;
  }

  checkExtension(ext: ExtensionName): boolean {
    this.#live('VFIO_CHECK_EXTENSION');
    extensionValue(ext);
    // vfio_iommu_type1_check_extension(). Before SET_IOMMU container.c polls
    // every registered driver with iommu == NULL; no other driver (noiommu,
    // spapr) answers yes on an x86 host without enable_unsafe_noiommu_mode.
    const iommu = this.#iommu;
    switch (ext) {
      case 'TYPE1':
      case 'TYPE1v2':
      case 'TYPE1_NESTING':
      case 'UNMAP_ALL':
        return true;
      case 'UPDATE_VADDR':
        // "return iommu && !vfio_iommu_has_emulated(iommu)": no mdevs here.
        return iommu !== null;
      case 'DMA_CC':
        return iommu !== null && this.#host.options.cacheCoherent;
      default:
        return false;
    }
  }

  setIommu(type: IommuType): void {
    const op = 'VFIO_SET_IOMMU';
    this.#live(op);
    checkIommuType(type);
    // vfio_ioctl_set_iommu(): only a container holding a group may pick a
    // driver, and only once.
    if (this.#groups.size === 0) {
      throw new VfioError(Errno.EINVAL, op, { type }, 'attach a group to the container before choosing the IOMMU type');
    }
    if (this.#iommu) {
      throw new VfioError(Errno.EINVAL, op, { type }, 'the container already has an IOMMU type set');
    }
    this.#iommu = new Type1(this.#host, type === 'type1v2');
  }

  info(): IommuInfo {
    const iommu = this.#driver('VFIO_IOMMU_GET_INFO');
    return {
      pageSizes: iommu.pgsizeBitmap,
      ranges: iommu.ranges.map((r) => ({ ...r })),
      dmaAvail: iommu.dmaAvail,
      // vfio_iommu_migration_build_caps(): the smallest page size only.
      migration: { flags: 0, pageSizes: iommu.pgsize, maxDirtyBitmapSize: DIRTY_BITMAP_SIZE_MAX },
    };
  }

  // VmLck + VmPin, like the native backend's /proc read: a type1 pin raises
  // mm->locked_vm, an iommufd one mm->pinned_vm, and both are the process's.
  memlock(): MemlockStatus {
    const s = this.#host.memlock.status();
    return { ...s, locked: s.locked + simPinnedBytes(this.#host) };
  }

  map(m: DmaMapping): void {
    const prot = checkMapping(m);
    this.#driver('VFIO_IOMMU_MAP_DMA').map(m.vaddr, m.iova, m.size, prot);
  }

  unmap(iova: bigint, size: bigint): bigint {
    checkRange(iova, size);
    return this.#driver('VFIO_IOMMU_UNMAP_DMA').unmap(iova, size).unmapped;
  }

  unmapAll(): bigint {
    return this.#driver('VFIO_IOMMU_UNMAP_DMA').unmap(0n, 0n, { all: true }).unmapped;
  }

  unmapWithDirty(iova: bigint, size: bigint, pageSize: bigint): { unmapped: bigint; dirty: DirtyBitmap } {
    checkRange(iova, size);
    checkPageSize(pageSize);
    const r = this.#driver('VFIO_IOMMU_UNMAP_DMA').unmap(iova, size, { bitmapPgsize: pageSize });
    return { unmapped: r.unmapped, dirty: r.dirty! };
  }

  dirtyTracking(): DirtyTracking {
    return containerDirtyTracking(this);
  }

  dirtyStart(): void {
    this.#dirtyDriver('START').dirtyStart();
  }

  dirtyStop(): void {
    this.#dirtyDriver('STOP').dirtyStop();
  }

  dirtyGet(iova: bigint, size: bigint, pageSize: bigint): DirtyBitmap {
    checkRange(iova, size);
    checkPageSize(pageSize);
    return this.#dirtyDriver('GET_BITMAP').dirtyGet(iova, size, pageSize);
  }

  runPlan(op: PlanOp, plan: BigUint64Array): PlanResult {
    checkPlan(op, plan);
    this.#live(op === 'map' ? 'VFIO_IOMMU_MAP_DMA' : 'VFIO_IOMMU_UNMAP_DMA');
    return runSimPlan(this.#iommu ?? NO_IOMMU, this.#host.options.costModel, op, plan);
  }

  close(): void {
    if (this.#closed) return;
    // As the native backend does: unmap everything, then each attached group
    // closes its devices and leaves (the last one out releases the IOMMU).
    this.#iommu?.unmap(0n, 0n, { all: true });
    for (const leave of [...this.#groups.values()]) leave();
    this.#closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(op: string): void {
    if (this.#closed) throw closedError(op);
  }

  /** The type1 instance, or EINVAL as container.c answers an ioctl with no driver set. */
  #driver(op: string): Type1 {
    this.#live(op);
    if (!this.#iommu) {
      throw new VfioError(Errno.EINVAL, op, {}, 'no IOMMU type set on this container (setIommu after attaching a group)');
    }
    return this.#iommu;
  }

  /** VFIO_IOMMU_DIRTY_PAGES is TYPE1v2 only: EACCES on a v1 container. */
  #dirtyDriver(flag: string): Type1 {
    const op = 'VFIO_IOMMU_DIRTY_PAGES';
    const iommu = this.#driver(op);
    if (!iommu.v2) {
      throw new VfioError(Errno.EACCES, op, { flags: flag }, 'dirty page tracking needs a TYPE1v2 container');
    }
    return iommu;
  }
}
