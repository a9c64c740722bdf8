// The native backend: real ioctls through the addon. Constructing it throws
// (with the reason) where the addon cannot load; nativeAvailability() asks
// without throwing.
import type { Backend, Container, DmaBuffer, DmaBufferOptions, Group, HostView, Iommufd, KernelPinner, OverheadProbe } from '../backend.js';
import { checkGroupId } from '../seam/args.js';
import { sysfsHostView } from '../sysfs-host.js';
import type { NativeAddon } from './addon.js';
import { NativeBackendContainer } from './container.js';
import { allocNativeBuffer } from './dma-buffer.js';
import { NativeBackendGroup } from './group.js';
import { NativeBackendIommufd } from './iommufd.js';
import { nativeKernelPinner } from './kernel-pin.js';
import { nativeAvailability, requireAddon } from './load.js';
import { nativeOverheadProbe } from './overhead.js';

export { nativeAvailability, type NativeAvailability } from './load.js';
export { parseIommuInfo } from './iommu-info.js';
export { parseProcStatus } from './memlock.js';
export { nativeIommufdOf, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HW_CAP_DIRTY_TRACKING } from './iommufd.js';
export { nativeIoasOf } from './ioas.js';

export class NativeBackend implements Backend {
  readonly name = 'native' as const;
  readonly simulated = false;
  readonly #addon: NativeAddon;

  constructor() {
    this.#addon = requireAddon();
  }

  host(sysfsRoot = '/'): HostView {
    return sysfsHostView(sysfsRoot);
  }

  openContainer(): Container {
    return new NativeBackendContainer(this.#addon, this.#addon.openContainer());
  }

  openGroup(id: number): Group {
    checkGroupId(id);
    return new NativeBackendGroup(this.#addon.openGroup(id));
  }

  allocBuffer(opts: DmaBufferOptions): DmaBuffer {
    return allocNativeBuffer(this.#addon, opts);
  }

  openIommufd(): Iommufd {
    return new NativeBackendIommufd(this.#addon, this.#addon.openIommufd());
  }

  kernelPinner(): KernelPinner {
    return nativeKernelPinner;
  }

  overheadProbe(): OverheadProbe {
    return nativeOverheadProbe(this.#addon);
  }
}

/** Which uapi header the addon was built against, for probes and reports; null if unavailable. */
export function nativeUapiVersion(): string | null {
  return nativeAvailability().available ? requireAddon().uapiVersion : null;
}
