// A simulated vfio-pci device fd over the edu register model. Region and IRQ
// answers follow vfio_pci_core (drivers/vfio/pci/vfio_pci_core.c,
// vfio_pci_rdwr.c, Linux 6.12) for a conventional PCI device with one 1 MiB
// BAR, no ROM, no VGA, MSI with one vector and no MSI-X.
import {
  PciRegion,
  type Device, type DeviceInfo, type IrqInfo, type RegionInfo,
} from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import type { IrqKind, IrqOptions, IrqSet } from '../irq.js';
import { toU32, toU64 } from '../seam/args.js';
import { releasedError } from '../device-request.js';
import { closedError } from './args.js';
import { EDU_BAR0_SIZE, EduRegisters, eduConfigSpace, type DmaPort } from './edu.js';
import { SimIrqController } from './irq.js';

// uapi/linux/vfio.h
const VFIO_DEVICE_FLAGS_RESET = 1 << 0;
const VFIO_DEVICE_FLAGS_PCI = 1 << 1;
const VFIO_PCI_NUM_REGIONS = 9;
const VFIO_PCI_NUM_IRQS = 5;
const REGION_READ = 1;
const REGION_WRITE = 2;
const REGION_MMAP = 4;
const IRQ_EVENTFD = 1;
const IRQ_MASKABLE = 2;
const IRQ_AUTOMASKED = 4;
const IRQ_NORESIZE = 8;
const IRQ_INTX = 0;
const IRQ_MSI = 1;
const IRQ_MSIX = 2;
const IRQ_ERR = 3;
const IRQ_REQ = 4;

/** VFIO_PCI_INDEX_TO_OFFSET(): each region sits at index << 40 in the device fd. */
function regionOffset(index: number): bigint {
  return BigInt(index) << 40n;
}

export interface SimDeviceParent {
  dmaPort: DmaPort;
  resetSupported: boolean;
  onClose(device: SimDevice): void;
}

export class SimDevice implements Device {
  readonly name: string;
  /** mmap() is plain memory here: register side effects happen only through read()/write(). */
  readonly mmapLive = false;
  #closed = false;
  /** Why release() closed it; null while open or after a plain close(). */
  #released: string | null = null;
  readonly #parent: SimDeviceParent;
  readonly #regs = new EduRegisters();
  #config = eduConfigSpace();
  #mmaps: ArrayBuffer[] = [];
  readonly #irqs: SimIrqController;
  // The MSI enable bit the device itself sees. vfio-pci shows user space a
  // virtual config space: the bit read back through region 7 is the one user
  // space wrote, not this one (vfio_pci_config.c virtualizes the MSI capability).
  #msiEnabled = false;
  /** simulateRemoval() in progress: what close() ends. */
  #removal: { timer: ReturnType<typeof setTimeout>; requests: number; done(n: number): void } | null = null;

  /** @internal SimGroup.openDevice() constructs these. */
  constructor(name: string, parent: SimDeviceParent) {
    this.name = name;
    this.#parent = parent;
    this.#irqs = new SimIrqController({
      isClosed: () => this.#closed,
      irqInfo: (i) => this.irqInfo(i),
      setMsiEnable: (on) => { this.#msiEnabled = on; },
    });
    this.#regs.irq = {
      msiEnabled: () => this.#msiEnabled,
      msi: () => this.#irqs.msi(),
      intx: (level) => this.#irqs.intx(level),
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** DMA transfers of the device that faulted in the IOMMU (sim-only diagnostics). */
  get dmaFaults(): number {
    return this.#regs.faults;
  }

  info(): DeviceInfo {
    this.#live('VFIO_DEVICE_GET_INFO');
    const flags = VFIO_DEVICE_FLAGS_PCI | (this.#parent.resetSupported ? VFIO_DEVICE_FLAGS_RESET : 0);
    return {
      flags,
      numRegions: VFIO_PCI_NUM_REGIONS,
      numIrqs: VFIO_PCI_NUM_IRQS,
      isPci: true,
      resetSupported: this.#parent.resetSupported,
    };
  }

  regionInfo(index: number): RegionInfo {
    const op = 'VFIO_DEVICE_GET_REGION_INFO';
    this.#live(op);
    toU32(index, 'region');
    let size = 0n;
    let flags = 0;
    switch (index) {
      case PciRegion.BAR0:
        size = BigInt(EDU_BAR0_SIZE);
        flags = REGION_READ | REGION_WRITE | REGION_MMAP;
        break;
      case PciRegion.CONFIG:
        size = BigInt(this.#config.length);
        flags = REGION_READ | REGION_WRITE;
        break;
      case PciRegion.VGA:
        throw new VfioError(Errno.EINVAL, op, { index }, 'the device has no VGA region');
      default:
        // Unimplemented BARs and the absent ROM report size 0, flags 0.
        if (index >= VFIO_PCI_NUM_REGIONS) {
          throw new VfioError(Errno.EINVAL, op, { index }, `region index out of range (${VFIO_PCI_NUM_REGIONS} regions)`);
        }
    }
    return {
      index, flags, size, offset: regionOffset(index),
      readable: (flags & REGION_READ) !== 0,
      writable: (flags & REGION_WRITE) !== 0,
      mmappable: (flags & REGION_MMAP) !== 0,
    };
  }

  read(region: number, offset: bigint, length: number): Uint8Array {
    const n = this.#access('pread', region, offset, length);
    const out = new Uint8Array(n);
    if (n === 0) return out;
    const off = Number(offset);
    if (region === PciRegion.CONFIG) {
      out.set(this.#config.subarray(off, off + n));
      return out;
    }
    const view = new DataView(out.buffer);
    for (const [pos, size] of ioChunks(off, n)) {
      const v = this.#regs.read(off + pos, size);
      putLE(view, pos, size, v);
    }
    return out;
  }

  write(region: number, offset: bigint, data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new TypeError('write: data must be a Uint8Array');
    const n = this.#access('pwrite', region, offset, data.length);
    const off = Number(offset);
    if (region === PciRegion.CONFIG) {
      // vfio-pci virtualizes config space; the sim keeps the command register
      // and the MSI enable bit and drops the rest, as read-only bits would.
      for (let i = 0; i < n; i++) {
        const at = off + i;
        if (at === 0x04 || at === 0x05 || at === 0x42) this.#config[at] = data[i]!;
      }
      return;
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (const [pos, size] of ioChunks(off, n)) {
      this.#regs.write(off + pos, size, getLE(view, pos, size), this.#parent.dmaPort);
    }
  }

  mmap(region: number): ArrayBuffer {
    const op = 'mmap';
    this.#live(op);
    const info = this.regionInfo(region);
    if (!info.mmappable) throw new VfioError(Errno.EINVAL, op, { region }, 'region is not mmappable');
    // Plain memory: register side effects happen only through read()/write().
    const ab = new ArrayBuffer(Number(info.size));
    this.#mmaps.push(ab);
    return ab;
  }

  irqInfo(index: number): IrqInfo {
    const op = 'VFIO_DEVICE_GET_IRQ_INFO';
    this.#live(op);
    toU32(index, 'irq index');
    switch (index) {
      case IRQ_INTX: return { index, flags: IRQ_EVENTFD | IRQ_MASKABLE | IRQ_AUTOMASKED, count: 1 };
      case IRQ_MSI: return { index, flags: IRQ_EVENTFD | IRQ_NORESIZE, count: 1 };
      case IRQ_MSIX: return { index, flags: IRQ_EVENTFD | IRQ_NORESIZE, count: 0 };
      case IRQ_REQ: return { index, flags: IRQ_EVENTFD | IRQ_NORESIZE, count: 1 };
      case IRQ_ERR:
        throw new VfioError(Errno.EINVAL, op, { index }, 'error IRQ only exists on PCI Express devices');
      default:
        throw new VfioError(Errno.EINVAL, op, { index }, `irq index out of range (${VFIO_PCI_NUM_IRQS})`);
    }
  }

  irqs(kind: IrqKind, opts?: IrqOptions): IrqSet {
    if (this.#released !== null) this.#live('VFIO_DEVICE_SET_IRQS');
    return this.#irqs.open(kind, opts);
  }

  reset(): void {
    const op = 'VFIO_DEVICE_RESET';
    this.#live(op);
    if (!this.#parent.resetSupported) {
      throw new VfioError(Errno.EINVAL, op, { device: this.name }, 'the device has no reset method (no FLR, PM or bus reset)');
    }
    this.#config = eduConfigSpace();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#irqs.deviceClosed();
    for (const ab of this.#mmaps) structuredClone(ab, { transfer: [ab] });
    this.#mmaps = [];
    this.#parent.onClose(this);
    const removal = this.#removal;
    this.#removal = null;
    if (removal) {
      clearTimeout(removal.timer);
      removal.done(removal.requests);
    }
  }

  /**
   * Sim only: the device is being removed (hot-unplug, or unbound from
   * vfio-pci) while open, as vfio_unregister_group_dev() does it: a request
   * now (vfio_pci_core_request(), the 'req' index), then one every
   * `intervalMs` (the kernel: 10 s) until the device closes. Resolves with the
   * number of requests made, once it has closed. The timer does not keep the
   * process alive.
   */
  simulateRemoval(opts: { intervalMs?: number } = {}): Promise<number> {
    const intervalMs = opts.intervalMs ?? 10_000;
    if (typeof intervalMs !== 'number' || !(intervalMs > 0)) throw new RangeError('intervalMs must be a number > 0');
    if (this.#closed) return Promise.resolve(0);
    if (this.#removal) throw new Error(`${this.name} is already being removed`);
    return new Promise<number>((resolve) => {
      const removal = {
        timer: undefined as unknown as ReturnType<typeof setTimeout>,
        requests: 0,
        done: resolve,
      };
      const ask = (): void => {
        this.#irqs.request();
        removal.requests++;
        removal.timer = setTimeout(ask, intervalMs);
        removal.timer.unref?.();
      };
      this.#removal = removal;
      ask();
    });
  }

  release(reason: string): void {
    if (typeof reason !== 'string') throw new TypeError('reason must be a string');
    if (this.#closed) return;
    this.#released = reason;
    this.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(op: string): void {
    if (this.#released !== null) throw releasedError(op, this.name, this.#released);
    if (this.#closed) throw closedError(op);
  }

  /**
   * Bytes to move. Like the native backend: the region must exist
   * (GET_REGION_INFO, else EINVAL) and [offset, offset + length) must lie
   * inside it (else RangeError, no system call made).
   */
  #access(op: string, region: number, offset: bigint, length: number): number {
    this.#live(op);
    toU32(region, 'region');
    toU64(offset, 'offset');
    toU32(length, 'length', MAX_TRANSFER);
    const size = this.regionInfo(region).size;
    if (offset + BigInt(length) > size) {
      throw new RangeError(`offset + length lies outside region ${region} (size ${size})`);
    }
    return length;
  }
}

// The native layer's largest single read or write.
const MAX_TRANSFER = 1 << 30;

/** vfio_pci_core_do_io_rw(): the widest naturally aligned access that fits, 8 bytes at most. */
function* ioChunks(off: number, count: number): Generator<[number, number]> {
  let pos = 0;
  while (pos < count) {
    const at = off + pos;
    const left = count - pos;
    const size = left >= 8 && at % 8 === 0 ? 8 : left >= 4 && at % 4 === 0 ? 4 : left >= 2 && at % 2 === 0 ? 2 : 1;
    yield [pos, size];
    pos += size;
  }
}

function putLE(view: DataView, pos: number, size: number, v: bigint): void {
  if (size === 8) view.setBigUint64(pos, v, true);
  else if (size === 4) view.setUint32(pos, Number(v & 0xffff_ffffn), true);
  else if (size === 2) view.setUint16(pos, Number(v & 0xffffn), true);
  else view.setUint8(pos, Number(v & 0xffn));
}

function getLE(view: DataView, pos: number, size: number): bigint {
  if (size === 8) return view.getBigUint64(pos, true);
  if (size === 4) return BigInt(view.getUint32(pos, true));
  if (size === 2) return BigInt(view.getUint16(pos, true));
  return BigInt(view.getUint8(pos));
}
