// Backend Device over the addon's device: region and device flags decoded.
// The addon's device object is typed here too, beside its wrapper (addon.ts
// imports it from here): a device ioctl is its kernel call
// (native/kernel/device.h), its N-API method (native/device.cc), its typing
// and wrapper here, and an optional method on the seam (lib/backend.ts); see
// lib/native/README.md.
import type { Device, DeviceInfo, IrqInfo, RegionInfo } from '../backend.js';
import { releasedError } from '../device-request.js';
import { Op } from '../errors.js';
import type { IrqKind, IrqOptions, IrqSet } from '../irq.js';
import { nativeIrqs, type NativeIrqMethods } from './irq.js';

/** The addon's device object (native/device.cc, its irq* methods native/irq.cc). */
export interface NativeDevice extends NativeIrqMethods {
  readonly name: string;
  readonly closed: boolean;
  info(): { flags: number; numRegions: number; numIrqs: number };
  regionInfo(index: number): { index: number; flags: number; size: bigint; offset: bigint };
  read(region: number, offset: bigint, length: number): Uint8Array;
  write(region: number, offset: bigint, data: Uint8Array): void;
  mmap(region: number): ArrayBuffer;
  irqInfo(index: number): { index: number; flags: number; count: number };
  reset(): void;
  close(): void;
}

/** A cdev device: NativeDevice plus the iommufd binding (native/device_cdev.cc). */
export interface NativeCdevDevice extends NativeDevice {
  /** null until bound. */
  readonly devId: number | null;
  /** iommufd: the addon's NativeIommufd (addon.ts; named loosely here so that addon.ts alone imports this file). */
  bindIommufd(iommufd: object): number;
  attachPt(ptId: number): number;
  detachPt(): void;
}

const DEVICE_FLAGS_RESET = 1 << 0;
const DEVICE_FLAGS_PCI = 1 << 1;
const REGION_INFO_FLAG_READ = 1 << 0;
const REGION_INFO_FLAG_WRITE = 1 << 1;
const REGION_INFO_FLAG_MMAP = 1 << 2;

export class NativeBackendDevice implements Device {
  readonly #n: NativeDevice;
  /** Why release() closed the device; null while open or after a plain close(). */
  #released: string | null = null;

  constructor(n: NativeDevice) {
    this.#n = n;
  }

  get name(): string {
    return this.#n.name;
  }

  get closed(): boolean {
    return this.#n.closed;
  }

  info(): DeviceInfo {
    this.#live(Op.DEVICE_GET_INFO);
    const d = this.#n.info();
    return {
      flags: d.flags,
      numRegions: d.numRegions,
      numIrqs: d.numIrqs,
      isPci: (d.flags & DEVICE_FLAGS_PCI) !== 0,
      resetSupported: (d.flags & DEVICE_FLAGS_RESET) !== 0,
    };
  }

  regionInfo(index: number): RegionInfo {
    this.#live(Op.DEVICE_GET_REGION_INFO);
    const r = this.#n.regionInfo(index);
    return {
      index: r.index,
      flags: r.flags,
      size: r.size,
      offset: r.offset,
      readable: (r.flags & REGION_INFO_FLAG_READ) !== 0,
      writable: (r.flags & REGION_INFO_FLAG_WRITE) !== 0,
      mmappable: (r.flags & REGION_INFO_FLAG_MMAP) !== 0,
    };
  }

  read(region: number, offset: bigint, length: number): Uint8Array {
    this.#live(Op.READ);
    return this.#n.read(region, offset, length);
  }

  write(region: number, offset: bigint, data: Uint8Array): void {
    this.#live(Op.WRITE);
    this.#n.write(region, offset, data);
  }

  mmap(region: number): ArrayBuffer {
    this.#live(Op.MMAP);
    return this.#n.mmap(region);
  }

  irqInfo(index: number): IrqInfo {
    this.#live(Op.DEVICE_GET_IRQ_INFO);
    return this.#n.irqInfo(index);
  }

  irqs(kind: IrqKind, opts?: IrqOptions): IrqSet {
    this.#live(Op.DEVICE_SET_IRQS);
    return nativeIrqs(this.#n, kind, opts);
  }

  reset(): void {
    this.#live(Op.DEVICE_RESET);
    this.#n.reset();
  }

  close(): void {
    this.#n.close();
  }

  release(reason: string): void {
    if (typeof reason !== 'string') throw new TypeError('reason must be a string');
    if (this.#n.closed) return;
    this.#released = reason;
    this.#n.close();
  }

  /** A released device says why; a closed one is left to the addon (EBADF). */
  #live(op: string): void {
    if (this.#released !== null) throw releasedError(op, this.#n.name, this.#released);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
