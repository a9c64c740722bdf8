// Backend Device over the addon's device: region and device flags decoded.
import type { Device, DeviceInfo, IrqInfo, RegionInfo } from '../backend.js';
import { releasedError } from '../device-request.js';
import { Op } from '../errors.js';
import type { IrqKind, IrqOptions, IrqSet } from '../irq.js';
import type { NativeDevice } from './addon.js';
import { nativeIrqs } from './irq.js';

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
