// Backend Iommufd over the addon's /dev/iommu context: IOASes, cdev devices
// bound to it, and the accounting-mode option.
import type { CdevDevice, HwptDirty, Ioas, Iommufd, RlimitMode } from '../backend.js';
import { cdevPath, checkRlimitMode } from '../seam/args.js';
import type { NativeAddon, NativeCdevDevice, NativeIommufd } from './addon.js';
import { NativeBackendDevice } from './device.js';
import { nativeHwptDirty } from './hwpt-dirty.js';
import { NativeBackendIoas, nativeIoasOf } from './ioas.js';

// uapi/linux/iommufd.h
const IOMMU_OPTION_RLIMIT_MODE = 0;
const IOMMU_OPTION_OP_SET = 0;
const IOMMU_OPTION_OP_GET = 1;
export { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HW_CAP_DIRTY_TRACKING } from './hwpt-dirty.js';

const handles = new WeakMap<object, NativeIommufd>();

/** The addon object behind an Iommufd this backend made (for the IOMMUFD_TEST mock calls; dirty tracking is hwptDirty()), or undefined. */
export function nativeIommufdOf(i: unknown): NativeIommufd | undefined {
  return typeof i === 'object' && i !== null ? handles.get(i) : undefined;
}

export class NativeCdevBackendDevice extends NativeBackendDevice implements CdevDevice {
  readonly #c: NativeCdevDevice;

  constructor(c: NativeCdevDevice) {
    super(c);
    this.#c = c;
  }

  get devId(): number {
    return this.#c.devId ?? -1;
  }

  attach(pt: Ioas | number): number {
    if (typeof pt === 'number') return this.#c.attachPt(pt);
    const n = nativeIoasOf(pt);
    if (!n) throw new TypeError('attach: an Ioas of the native backend or a pt id is required');
    return this.#c.attachPt(n.id);
  }

  detach(): void {
    this.#c.detachPt();
  }
}

export class NativeBackendIommufd implements Iommufd {
  readonly #n: NativeIommufd;
  readonly #addon: NativeAddon;

  constructor(addon: NativeAddon, n: NativeIommufd) {
    this.#addon = addon;
    this.#n = n;
    handles.set(this, n);
  }

  get closed(): boolean {
    return this.#n.closed;
  }

  allocIoas(): Ioas {
    const n = this.#n.allocIoas();
    // Read after the IOAS exists: from then on the mode cannot change (iommufd_option_rlimit_mode: EBUSY).
    return new NativeBackendIoas(this.#addon, n, this.rlimitMode());
  }

  bindDevice(pathOrName: string): CdevDevice {
    const c = this.#addon.openDeviceCdev(cdevPath(pathOrName));
    try {
      c.bindIommufd(this.#n);
    } catch (err) {
      c.close();
      throw err;
    }
    return new NativeCdevBackendDevice(c);
  }

  rlimitMode(): RlimitMode {
    return this.#n.option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_GET, 0, 0n) === 1n ? 'mm' : 'user';
  }

  setRlimitMode(mode: RlimitMode): void {
    checkRlimitMode(mode);
    this.#n.option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 0, mode === 'mm' ? 1n : 0n);
  }

  hwptDirty(): HwptDirty {
    return nativeHwptDirty(this.#n);
  }

  close(): void {
    this.#n.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
