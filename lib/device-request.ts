// The kernel asking for a device back. When a vfio-pci device is removed
// (hot-unplug) or unbound while user space holds it open, the kernel's
// vfio_unregister_group_dev() (drivers/vfio/vfio_main.c) calls
// vfio_pci_core_request() (drivers/vfio/pci/vfio_pci_core.c), which signals
// the eventfd user space gave VFIO_PCI_REQ_IRQ_INDEX, then waits for the
// device fd to close; it signals again every 10 s for as long as the device
// stays open (the removal blocks meanwhile, in the kernel thread doing it).
//
// This is that request as an event on the device, for every backend: it is
// the 'req' index of Device.irqs(), so nothing here is backend-specific but
// Device.release(), which closes the device and makes later calls say why.
import type { Device } from './backend.js';
import { Errno, VfioError } from './errors.js';
import { IRQ_INFO_EVENTFD, IrqIndex, type IrqEvent, type IrqSet, type IrqVector, type IrqWaitOptions } from './irq.js';

/** Why Device.release() closed a device, as later calls report it. */
export const REQUEST_RELEASE_REASON = 'the kernel asked for it back (request interrupt, VFIO_PCI_REQ_IRQ_INDEX: '
  + 'the device is being removed or unbound)';

/**
 * What every call on a released device throws: ENODEV (the device is gone,
 * or going), naming why it was released, instead of the EBADF of a plain close().
 */
export function releasedError(op: string, device: string, reason: string): VfioError {
  return new VfioError(Errno.ENODEV, op, { device },
    `the device was released because ${reason}; open it again (Group.openDevice) once it is back`);
}

/**
 * One request from the kernel. Cancelable: a listener that calls
 * preventDefault() keeps the device open even with `release: true` (the
 * kernel then asks again 10 s later).
 */
export class DeviceRequestEvent extends Event {
  constructor(
    /** Requests this delivery coalesced (usually 1). */
    readonly count: bigint,
    /** Requests seen since watchRequests(). */
    readonly total: bigint,
  ) {
    super('request', { cancelable: true });
  }
}

export interface DeviceRequestOptions {
  /**
   * Release the device on the first request no listener prevented: close its
   * interrupts, BAR views and fd (Device.release()), so the kernel's removal
   * completes. DMA mappings belong to the container and stay while it has
   * another group; when the removed device was the last of the container's
   * last group, the kernel itself detaches the group and releases the
   * container's IOMMU with every mapping (vfio_device_remove_group() ->
   * vfio_group_detach_container()). Default false.
   */
  release?: boolean;
}

/** Whether the device has a request interrupt (vfio-pci always does; other vfio drivers may not). */
export function requestSupported(device: Device): boolean {
  try {
    const info = device.irqInfo(IrqIndex.req);
    return info.count >= 1 && (info.flags & IRQ_INFO_EVENTFD) !== 0;
  } catch (err) {
    if (err instanceof VfioError && err.errno === Errno.EINVAL) return false;
    throw err;
  }
}

/**
 * Listens for the kernel's requests to release a device ('request' events,
 * DeviceRequestEvent). Arm it right after opening the device: a request the
 * kernel makes before has nowhere to go (it logs "No device request channel
 * registered"), and the removal then waits for the device to close on its own.
 */
export class DeviceRequestWatch extends EventTarget implements Disposable {
  readonly device: Device;
  readonly release: boolean;
  /** The request interrupt's one vector (its trigger() is the kernel's loopback: a request without a removal). */
  readonly vector: IrqVector;
  readonly #set: IrqSet;
  #total = 0n;
  #released = false;

  /** @internal watchRequests() creates these. */
  constructor(device: Device, opts: DeviceRequestOptions) {
    super();
    this.device = device;
    this.release = opts.release ?? false;
    this.#set = device.irqs('req', { count: 1 });
    this.vector = this.#set.vectors[0]!;
    this.vector.addEventListener('interrupt', (e) => this.#onRequest((e as IrqEvent).count));
  }

  /** Requests seen so far (each of the kernel's signals counts once). */
  get total(): bigint {
    return this.#total;
  }

  /** The device was released through this watch (on a request, or by releaseDevice()). */
  get released(): boolean {
    return this.#released;
  }

  /** The watch no longer listens: stopped, or the device closed. */
  get stopped(): boolean {
    return this.#set.disabled;
  }

  /**
   * Resolves with the requests since the last next() (at once if some are
   * pending); keeps the event loop alive while it waits. Rejects with a
   * TimeoutError DOMException after opts.timeoutMs, and with a VfioError
   * (EBADF) once the watch stops or the device closes.
   */
  next(opts?: IrqWaitOptions): Promise<bigint> {
    return this.vector.wait(opts);
  }

  /** Closes the device now, as a request would with `release: true`. Harmless twice. */
  releaseDevice(): void {
    if (this.device.closed) return;
    this.#released = true;
    this.device.release(REQUEST_RELEASE_REASON);
  }

  /** Stops listening (disables the request index); the device stays open. Harmless twice. */
  stop(): void {
    this.#set.disable();
  }

  [Symbol.dispose](): void {
    this.stop();
  }

  #onRequest(count: bigint): void {
    this.#total += count;
    const event = new DeviceRequestEvent(count, this.#total);
    this.dispatchEvent(event);
    if (this.release && !event.defaultPrevented) this.releaseDevice();
  }
}

/**
 * Arms the device's request interrupt (Device.irqs('req')) and returns the
 * watch. Throws what irqs() throws: a VfioError (EINVAL) on a device without
 * a request interrupt (requestSupported() says so first), EBUSY when the index
 * is already enabled.
 */
export function watchRequests(device: Device, opts: DeviceRequestOptions = {}): DeviceRequestWatch {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('options must be an object');
  if (opts.release !== undefined && typeof opts.release !== 'boolean') throw new TypeError('release must be a boolean');
  return new DeviceRequestWatch(device, opts);
}
