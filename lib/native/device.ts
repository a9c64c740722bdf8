// Backend Device over the addon's device: region and device flags decoded.
// The addon's device object is typed here too, beside its wrapper (addon.ts
// imports it from here): a device ioctl is its kernel call
// (native/kernel/device.h), its N-API method (native/device.cc), its typing
// and wrapper here, and its declaration as an optional call of the seam
// (lib/device-calls.ts); see lib/native/README.md.
import type { Device, DeviceInfo, IrqInfo, RegionInfo } from '../backend.js';
import { DEVICE_CALLS, type HotResetDevice } from '../device-calls.js';
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
  /** VFIO_DEVICE_GET_PCI_HOT_RESET_INFO's reply as the kernel wrote it: decodeHotResetInfo() reads it. */
  hotResetInfo(): ArrayBuffer;
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
const HOT_RESET_FLAG_DEV_ID = 1 << 0;
/** struct vfio_pci_hot_reset_info (argsz, flags, count), then struct vfio_pci_dependent_device entries. */
const HOT_RESET_HEADER = 12;
const HOT_RESET_ENTRY = 8;

/**
 * The devices in a VFIO_DEVICE_GET_PCI_HOT_RESET_INFO reply (uapi/linux/vfio.h): each entry is a u32 (group_id,
 * or devid when the header's flags have VFIO_PCI_HOT_RESET_FLAG_DEV_ID: a cdev asked), u16 segment, u8 bus, u8
 * devfn, in the host's byte order. devid's VFIO_PCI_DEVID_NOT_OWNED (u32 -1) is -1 here.
 */
export function decodeHotResetInfo(reply: ArrayBuffer): HotResetDevice[] {
  if (reply.byteLength < HOT_RESET_HEADER) throw new RangeError(`hot reset info: ${reply.byteLength} bytes, shorter than its header`);
  const words = new Uint32Array(reply, 0, 3);
  const flags = words[1]!;
  const count = words[2]!;
  if (reply.byteLength < HOT_RESET_HEADER + count * HOT_RESET_ENTRY) {
    throw new RangeError(`hot reset info: ${count} devices do not fit in ${reply.byteLength} bytes`);
  }
  const byDevId = (flags & HOT_RESET_FLAG_DEV_ID) !== 0;
  const out: HotResetDevice[] = [];
  for (let i = 0; i < count; i++) {
    const at = HOT_RESET_HEADER + i * HOT_RESET_ENTRY;
    const id = new Uint32Array(reply, at, 1)[0]!;
    const segment = new Uint16Array(reply, at + 4, 1)[0]!;
    const [bus, devfn] = new Uint8Array(reply, at + 6, 2) as unknown as [number, number];
    const slot = devfn >> 3;
    const fn = devfn & 7;
    out.push({
      segment, bus, slot, function: fn,
      address: `${hex(segment, 4)}:${hex(bus, 2)}:${hex(slot, 2)}.${fn}`,
      groupId: byDevId ? null : id,
      devId: byDevId ? id | 0 : null,
    });
  }
  return out;
}

function hex(v: number, width: number): string {
  return v.toString(16).padStart(width, '0');
}

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

  hotResetInfo(): HotResetDevice[] {
    this.#live(DEVICE_CALLS.hotResetInfo.op);
    return decodeHotResetInfo(this.#n.hotResetInfo());
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
