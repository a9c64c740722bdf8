// A simulated /dev/vfio/<group> fd (drivers/vfio/group.c, container.c,
// Linux 6.12): opens once at a time (EBUSY), joins one container
// (EINVAL when it already has one, EPERM when not viable because a device is
// bound to a host driver), hands out device fds only once the container has
// an IOMMU type, and cannot leave the container while devices are open.
import type { Container, Device, Group, GroupStatus } from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { closedError } from './args.js';
import { containerInternals, type ContainerInternals } from './container.js';
import { SimDevice } from './device.js';
import type { DmaPort } from './edu.js';
import type { SimHost } from './host.js';
import type { SimGroupSpec } from './options.js';

export class SimGroup implements Group {
  readonly id: number;
  #closed = false;
  readonly #host: SimHost;
  readonly #spec: Required<SimGroupSpec>;
  #container: ContainerInternals | null = null;
  readonly #devices = new Set<SimDevice>();

  /** @internal SimBackend.openGroup() constructs these. */
  constructor(host: SimHost, spec: Required<SimGroupSpec>) {
    this.#host = host;
    this.#spec = spec;
    this.id = spec.id;
  }

  get closed(): boolean {
    return this.#closed;
  }

  status(): GroupStatus {
    this.#live('VFIO_GROUP_GET_STATUS');
    // vfio_group_ioctl_get_status(): a group in a container is viable by definition.
    const containerSet = this.#container !== null;
    return { viable: containerSet || this.#spec.viable, containerSet };
  }

  setContainer(container: Container): void {
    const op = 'VFIO_GROUP_SET_CONTAINER';
    this.#live(op);
    const c = containerInternals(container);
    if (!c || c.host !== this.#host) throw new TypeError('setContainer: not a container of this simulated backend');
    if (container.closed) throw new VfioError(Errno.EBADF, op, { group: this.id }, 'the container has been closed');
    if (this.#container) {
      throw new VfioError(Errno.EINVAL, op, { group: this.id }, 'the group is already in a container');
    }
    if (!this.#spec.viable) {
      // iommu_group_claim_dma_owner(): a device bound to a host driver holds the group.
      throw new VfioError(Errno.EPERM, op, { group: this.id },
        'group not viable: a device of the group is bound to a host driver; bind every device to vfio-pci (or unbind it)');
    }
    c.groups.set(this.id, () => {
      for (const d of [...this.#devices]) d.close();
      this.#detach();
    });
    this.#container = c;
  }

  unsetContainer(): void {
    const op = 'VFIO_GROUP_UNSET_CONTAINER';
    this.#live(op);
    if (!this.#container) throw new VfioError(Errno.EINVAL, op, { group: this.id }, 'the group is not in a container');
    if (this.#devices.size > 0) {
      throw new VfioError(Errno.EBUSY, op, { group: this.id }, 'close the group\'s devices first');
    }
    this.#detach();
  }

  openDevice(name: string): Device {
    const op = 'VFIO_GROUP_GET_DEVICE_FD';
    this.#live(op);
    if (typeof name !== 'string') throw new TypeError('openDevice: name must be a string');
    const match = this.#spec.devices.find((d) => name === d || name.startsWith(`${d} `));
    if (!match) throw new VfioError(Errno.ENODEV, op, { name }, `no device ${name} in group ${this.id}`);
    if (name !== match) {
      // vfio_pci_core_match(): only a vf_token may follow the name, and this
      // device is neither an SR-IOV PF nor a VF.
      throw new VfioError(Errno.EINVAL, op, { name }, 'options after the device name are not accepted here');
    }
    // vfio_group_use_container(): needs a container with an IOMMU type set.
    if (!this.#container || !this.#container.iommu()) {
      throw new VfioError(Errno.EINVAL, op, { name }, 'set the group\'s container and its IOMMU type before opening devices');
    }
    const device = new SimDevice(name, {
      dmaPort: this.#dmaPort(),
      resetSupported: this.#host.options.resetSupported,
      onClose: (d) => this.#devices.delete(d),
    });
    this.#devices.add(device);
    return device;
  }

  close(): void {
    if (this.#closed) return;
    for (const d of [...this.#devices]) d.close();
    if (this.#container) this.#detach();
    this.#closed = true;
    this.#host.openGroups.delete(this.id);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(op: string): void {
    if (this.#closed) throw closedError(op);
  }

  /** vfio_group_detach_container(): the last group out takes the IOMMU (and every mapping) with it. */
  #detach(): void {
    const c = this.#container!;
    c.groups.delete(this.id);
    if (c.groups.size === 0) c.dropIommu();
    this.#container = null;
  }

  /** The device's view of memory: IOVA -> mapping -> sim buffer. */
  #dmaPort(): DmaPort {
    return this.#host.buffers.dmaPort((iova, length, write) => {
      const dma = this.#container?.iommu()?.lookup(iova, length);
      return dma && (dma.prot & (write ? 2 : 1)) !== 0 ? dma.vaddr + (iova - dma.iova) : null;
    });
  }
}
