// A simulated /dev/iommu (drivers/iommu/iommufd/main.c; Linux 6.12): the
// context that IOASes (ioas.ts) and bound cdevs (cdev.ts) live in, and
// IOMMU_OPTION_RLIMIT_MODE. Object ids come from one allocator per context,
// lowest free first from 1 (xa_alloc with XA_FLAGS_ALLOC1).
import type { CdevDevice, HwptDirty, Ioas, Iommufd, RlimitMode } from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { cdevPath, checkRlimitMode } from '../seam/args.js';
import { closedError } from './args.js';
import { SimCdevDevice } from './cdev.js';
import type { SimHost } from './host.js';
import { simHwptDirty, type SimHwpt, type SimMockDevice } from './hwpt-dirty.js';
import { SimIoas } from './ioas.js';
import { hostAccounts } from './iommufd-accounts.js';
import type { AccountMode, PinAccounts } from './iommufd-iopt.js';

export { SimIoas } from './ioas.js';
export { SimCdevDevice } from './cdev.js';

/** What an object id names: an IOAS, a bound cdev, a cdev's automatic HWPT, a HWPT or a mock device (hwpt-dirty.ts). */
type SimObject = SimIoas | SimCdevDevice | 'hwpt' | SimHwpt | SimMockDevice;

export class SimIommufd implements Iommufd {
  readonly #host: SimHost;
  #closed = false;
  #mode: RlimitMode = 'user';
  readonly #objects = new Map<number, SimObject>();
  readonly accounts: PinAccounts;

  /** @internal SimBackend.openIommufd() constructs these. */
  constructor(host: SimHost) {
    this.#host = host;
    this.accounts = hostAccounts(host);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** @internal */
  get host(): SimHost {
    return this.#host;
  }

  /** @internal The iopt_pages accounting a new MAP gets (iopt_alloc_pages + the context's mode). */
  get pagesAccount(): AccountMode {
    return this.#host.memlock.exempt ? 'none' : this.#mode;
  }

  /** @internal */
  allocId(obj: SimObject): number {
    let id = 1;
    while (this.#objects.has(id)) id++;
    this.#objects.set(id, obj);
    return id;
  }

  /** @internal */
  freeId(id: number): void {
    this.#objects.delete(id);
  }

  /** @internal iommufd_get_ioas(): ENOENT for a missing id or another kind of object. */
  ioas(id: number, op: string): SimIoas {
    const o = this.#objects.get(id);
    if (!(o instanceof SimIoas)) throw new VfioError(Errno.ENOENT, op, { id }, `no IOAS with id ${id}`);
    return o;
  }

  /** @internal The object an id names (iommufd_get_object with IOMMUFD_OBJ_ANY), or undefined. */
  object(id: number): SimObject | undefined {
    return this.#objects.get(id);
  }

  /** @internal Every live object. */
  objects(): SimObject[] {
    return [...this.#objects.values()];
  }

  /** @internal */
  devices(): SimCdevDevice[] {
    return [...this.#objects.values()].filter((o): o is SimCdevDevice => o instanceof SimCdevDevice);
  }

  allocIoas(): Ioas {
    this.#live('IOMMU_IOAS_ALLOC');
    return new SimIoas(this);
  }

  bindDevice(pathOrName: string): CdevDevice {
    const path = cdevPath(pathOrName);
    const m = /^\/dev\/vfio\/devices\/vfio(\d+)$/.exec(path);
    if (!m) {
      throw new VfioError(Errno.ENOENT, `open ${path}`, { path }, 'the simulated host has cdevs /dev/vfio/devices/vfioN only');
    }
    this.#live('VFIO_DEVICE_BIND_IOMMUFD');
    // One cdev per device, numbered in group order.
    const all = this.#host.options.groups.flatMap((g) => g.devices.map((name) => ({ g, name })));
    const found = all[Number(m[1])];
    if (!found) throw new VfioError(Errno.ENOENT, `open ${path}`, { path }, `no such cdev: the simulated host has ${all.length}`);
    const op = 'VFIO_DEVICE_BIND_IOMMUFD';
    // vfio_device_block_group(): the group is in use through /dev/vfio/<group>.
    if (this.#host.openGroups.has(found.g.id)) {
      throw new VfioError(Errno.EBUSY, op, { device: path }, `group ${found.g.id} is open through /dev/vfio/${found.g.id}`);
    }
    // iommufd_device_bind -> iommu_device_claim_dma_owner(): a host driver holds the group.
    if (!found.g.viable) {
      throw new VfioError(Errno.EBUSY, op, { device: path }, `group ${found.g.id} is not viable: a device in it is bound to a host driver`);
    }
    return new SimCdevDevice(this, path, found.name);
  }

  rlimitMode(): RlimitMode {
    this.#live('IOMMU_OPTION');
    return this.#mode;
  }

  setRlimitMode(mode: RlimitMode): void {
    checkRlimitMode(mode);
    const op = 'IOMMU_OPTION';
    this.#live(op);
    // iommufd_option_rlimit_mode(). The simulated process is root with CAP_SYS_RESOURCE (even when a test
    // drops CAP_IPC_LOCK through memlock.exempt), so the kernel's EPERM for others is not modelled.
    if (this.#objects.size > 0) {
      throw new VfioError(Errno.EBUSY, op, { option: 'RLIMIT_MODE' }, 'the mode can only change before any object (IOAS, device) exists');
    }
    this.#mode = mode;
  }

  /** HWPT dirty tracking (lib/sim/hwpt-dirty.ts): where the IOMMU can (SimOptions.dirtyTracking), or on a mock domain. */
  hwptDirty(): HwptDirty {
    return simHwptDirty(this);
  }

  close(): void {
    if (this.#closed) return;
    for (const d of this.devices()) d.close();
    for (const o of [...this.#objects.values()]) if (o instanceof SimIoas) o.close();
    this.#objects.clear();
    this.#closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(op: string): void {
    if (this.#closed) throw closedError(op);
  }
}
