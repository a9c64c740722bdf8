// Backend Container over the addon's container: names to numbers on the way
// in, the raw GET_INFO bytes parsed on the way out. Everything the kernel
// refuses arrives as a VfioError built by the addon.
import {
  type Container, type DirtyBitmap, type DirtyTracking, type DmaMapping, type ExtensionName, type IommuInfo, type IommuType,
  type MemlockStatus, type PlanOp, type PlanResult,
} from '../backend.js';
import type { NativeAddon, NativeContainer } from './addon.js';
import { parseIommuInfo } from './iommu-info.js';
import { readMemlock } from './memlock.js';
import {
  checkIommuType, checkMapping, checkPageSize, checkPlan, checkRange, extensionValue,
} from '../seam/args.js';
import { containerDirtyTracking } from '../seam/capabilities.js';

const VFIO_TYPE1_IOMMU = 1;
const VFIO_TYPE1v2_IOMMU = 3;

const handles = new WeakMap<object, NativeContainer>();

/** The addon object behind a Container this backend made, or undefined. */
export function nativeContainerOf(c: unknown): NativeContainer | undefined {
  return typeof c === 'object' && c !== null ? handles.get(c) : undefined;
}

export class NativeBackendContainer implements Container {
  readonly simulated = false;
  readonly #n: NativeContainer;
  readonly #addon: NativeAddon;

  constructor(addon: NativeAddon, n: NativeContainer) {
    this.#addon = addon;
    this.#n = n;
    handles.set(this, n);
  }

  get closed(): boolean {
    return this.#n.closed;
  }

  apiVersion(): number {
    return this.#n.apiVersion();
  }

  checkExtension(ext: ExtensionName): boolean {
    return this.#n.checkExtension(extensionValue(ext)) > 0;
  }

  setIommu(type: IommuType): void {
    this.#n.setIommu(checkIommuType(type) === 'type1' ? VFIO_TYPE1_IOMMU : VFIO_TYPE1v2_IOMMU);
  }

  info(): IommuInfo {
    return parseIommuInfo(this.#n.iommuInfo());
  }

  memlock(): MemlockStatus {
    return readMemlock(() => this.#addon.memlockLimit());
  }

  map(m: DmaMapping): void {
    const prot = checkMapping(m);
    this.#n.map(m.vaddr, m.iova, m.size, prot);
  }

  unmap(iova: bigint, size: bigint): bigint {
    checkRange(iova, size);
    return this.#n.unmap(iova, size);
  }

  unmapAll(): bigint {
    return this.#n.unmapAll();
  }

  unmapWithDirty(iova: bigint, size: bigint, pageSize: bigint): { unmapped: bigint; dirty: DirtyBitmap } {
    checkRange(iova, size);
    checkPageSize(pageSize);
    const r = this.#n.unmapWithDirty(iova, size, pageSize);
    return { unmapped: r.unmapped, dirty: { pageSize, bits: r.bitmap } };
  }

  dirtyTracking(): DirtyTracking {
    return containerDirtyTracking(this);
  }

  dirtyStart(): void {
    this.#n.dirtyStart();
  }

  dirtyStop(): void {
    this.#n.dirtyStop();
  }

  dirtyGet(iova: bigint, size: bigint, pageSize: bigint): DirtyBitmap {
    checkRange(iova, size);
    checkPageSize(pageSize);
    return { pageSize, bits: this.#n.dirtyGet(iova, size, pageSize) };
  }

  runPlan(op: PlanOp, plan: BigUint64Array): PlanResult {
    checkPlan(op, plan);
    return { ...this.#n.runPlan(op, plan), simulated: false };
  }

  close(): void {
    this.#n.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
