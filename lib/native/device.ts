// Backend Device over the addon's device: region and device flags decoded.
import type { Device, DeviceInfo, IrqInfo, RegionInfo } from '../backend.js';
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
    return this.#n.read(region, offset, length);
  }

  write(region: number, offset: bigint, data: Uint8Array): void {
    this.#n.write(region, offset, data);
  }

  mmap(region: number): ArrayBuffer {
    return this.#n.mmap(region);
  }

  irqInfo(index: number): IrqInfo {
    return this.#n.irqInfo(index);
  }

  irqs(kind: IrqKind, opts?: IrqOptions): IrqSet {
    return nativeIrqs(this.#n, kind, opts);
  }

  reset(): void {
    this.#n.reset();
  }

  close(): void {
    this.#n.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
