// The simulated backend: a model of vfio_iommu_type1, vfio-pci and iommufd
// (Linux 6.12) that needs no IOMMU, for laptops, CI and planning. Same interface and,
// for the same causes, the same errnos as the native backend; timings come
// from a cost model and are always labelled simulated.
import type { Backend, DmaBuffer, DmaBufferOptions, Group, HostView } from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { checkGroupId } from '../seam/args.js';
import { SimContainer } from './container.js';
import { SimGroup } from './group.js';
import { SimHost } from './host.js';
import { simHostView } from './host-view.js';
import { SimIommufd } from './iommufd.js';
import { resolveSimOptions, type ResolvedSimOptions, type SimOptions } from './options.js';

export class SimBackend implements Backend {
  readonly name = 'sim' as const;
  readonly simulated = true;
  readonly #host: SimHost;

  constructor(options: SimOptions = {}) {
    this.#host = new SimHost(resolveSimOptions(options));
  }

  /** The simulated host, from the options; it has no sysfs, so `sysfsRoot` is not read. */
  host(_sysfsRoot?: string): HostView {
    return simHostView(this.#host.options);
  }

  /** The options in force, defaults filled in. */
  get options(): ResolvedSimOptions {
    return this.#host.options;
  }

  /**
   * /sys/module/vfio_iommu_type1/parameters/dma_entry_limit: like the kernel's
   * module parameter it is read when a container gets its IOMMU type.
   */
  get dmaEntryLimit(): number {
    return this.#host.dmaEntryLimit;
  }

  set dmaEntryLimit(limit: number) {
    if (!Number.isInteger(limit) || limit < 0 || limit > 0xffff_ffff) throw new RangeError('dmaEntryLimit must be a u32');
    this.#host.dmaEntryLimit = limit;
  }

  openContainer(): SimContainer {
    return new SimContainer(this.#host);
  }

  openGroup(id: number): Group {
    checkGroupId(id);
    const op = `open /dev/vfio/${id}`;
    const spec = this.#host.options.groups.find((g) => g.id === id);
    if (!spec) {
      throw new VfioError(Errno.ENOENT, op, { group: id },
        `no /dev/vfio/${id}: the simulated host has groups ${this.#host.options.groups.map((g) => g.id).join(', ')}`);
    }
    // vfio_group_fops_open(): one open file per group at a time.
    if (this.#host.openGroups.has(id)) {
      throw new VfioError(Errno.EBUSY, op, { group: id }, 'the group is already open (in this or another container)');
    }
    this.#host.openGroups.add(id);
    return new SimGroup(this.#host, spec);
  }

  allocBuffer(opts: DmaBufferOptions): DmaBuffer {
    return this.#host.buffers.alloc(opts);
  }

  /** A simulated /dev/iommu (lib/sim/iommufd.ts). */
  openIommufd(): SimIommufd {
    return new SimIommufd(this.#host);
  }
}

export { SimContainer } from './container.js';
export { SimIommufd, SimIoas, SimCdevDevice } from './iommufd.js';
export { SimDevice } from './device.js';
export { SimGroup } from './group.js';
export { SimDmaBuffer } from './buffers.js';
export { defaultCostModel, COST_MODEL_SOURCE, type CostModel, type BackingCost } from './cost-model.js';
export {
  SIM_DEFAULT_DEVICE, SIM_DEFAULT_GROUP, SIM_NONVIABLE_DEVICE, SIM_NONVIABLE_GROUP, MSI_WINDOW,
  DEFAULT_DMA_ENTRY_LIMIT, type SimOptions, type SimGroupSpec, type SimMemlockOptions, type ResolvedSimOptions,
  type SimIommuIdentity,
} from './options.js';
export {
  SIM_IOMMU_PROFILES, SIM_IOMMU_NAMES, DEFAULT_SIM_IOMMU, AMD_IOMMU_PGSIZES, isSimIommuName, simIommuProfile, profilesMatching,
  type SimIommuName, type SimIommuProfile, type IommuDriver,
} from './profiles.js';
