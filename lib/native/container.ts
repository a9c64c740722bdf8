// Backend Container over the addon's container: names to numbers on the way
// in, the raw GET_INFO bytes parsed on the way out. Everything the kernel
// refuses arrives as a VfioError built by the addon.
import type { Container, DirtyBitmap, DirtyTracking, ExtensionName, IommuInfo, IommuType } from '../backend.js';
import { Op } from '../error-hints.js';
import { checkIommuType, checkPageSize, checkRange, extensionValue } from '../seam/args.js';
import { containerDirtyTracking } from '../seam/capabilities.js';
import type { NativeAddon, NativeContainer } from './addon.js';
import { parseIommuInfo } from './iommu-info.js';
import { Handles, NativeSpace, type SpaceNames } from './space.js';

const VFIO_TYPE1_IOMMU = 1;
const VFIO_TYPE1v2_IOMMU = 3;

const handles = new Handles<NativeContainer>();

const containerNames = (n: NativeContainer): SpaceNames => ({
  map: Op.MAP_DMA,
  unmap: Op.UNMAP_DMA,
  mapArgs: (m, prot) => ({ vaddr: m.vaddr, iova: m.iova, size: m.size, flags: prot }),
  what: 'the container',
  explain: (err) => n.lostIommuHint(err),
});

/** The addon object behind a Container this backend made, or undefined. */
export function nativeContainerOf(c: unknown): NativeContainer | undefined {
  return handles.of(c);
}

export class NativeBackendContainer extends NativeSpace<NativeContainer> implements Container {
  constructor(addon: NativeAddon, n: NativeContainer) {
    super(addon, n, containerNames(n));
    handles.set(this, n);
  }

  apiVersion(): number {
    return this.n.apiVersion();
  }

  checkExtension(ext: ExtensionName): boolean {
    return this.n.checkExtension(extensionValue(ext)) > 0;
  }

  setIommu(type: IommuType): void {
    this.n.setIommu(checkIommuType(type) === 'type1' ? VFIO_TYPE1_IOMMU : VFIO_TYPE1v2_IOMMU);
  }

  info(): IommuInfo {
    return parseIommuInfo(this.n.iommuInfo());
  }

  unmapWithDirty(iova: bigint, size: bigint, pageSize: bigint): { unmapped: bigint; dirty: DirtyBitmap } {
    checkRange(iova, size);
    checkPageSize(pageSize);
    const r = this.n.unmapWithDirty(iova, size, pageSize);
    return { unmapped: r.unmapped, dirty: { pageSize, bits: r.bitmap } };
  }

  dirtyTracking(): DirtyTracking {
    return containerDirtyTracking(this);
  }

  dirtyStart(): void {
    this.n.dirtyStart();
  }

  dirtyStop(): void {
    this.n.dirtyStop();
  }

  dirtyGet(iova: bigint, size: bigint, pageSize: bigint): DirtyBitmap {
    checkRange(iova, size);
    checkPageSize(pageSize);
    return { pageSize, bits: this.n.dirtyGet(iova, size, pageSize) };
  }
}
