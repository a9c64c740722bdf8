// A simulated vfio device cdev (drivers/vfio/device_cdev.c, Linux 6.12) bound
// to a SimIommufd: an edu-like SimDevice whose DMA goes through the IOAS it is
// attached to (blocked while detached).
import type { IrqKind, IrqOptions, IrqSet } from '../irq.js';
import {
  type CdevDevice, type DeviceInfo, type Ioas, type IovaRange, type IrqInfo, type RegionInfo,
} from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { U64_MAX } from '../seam/args.js';
import { closedError } from './args.js';
import { SimDevice } from './device.js';
import type { DmaPort } from './edu.js';
import { simHwptById, type SimHwpt } from './hwpt-dirty.js';
import { SimIoas } from './ioas.js';
import { IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from './iommufd-iopt.js';
import type { SimIommufd } from './iommufd.js';

/** The reserved regions a simulated device brings: everything outside the host's usable IOVA ranges. */
function deviceReserved(ranges: readonly IovaRange[]): IovaRange[] {
  const out: IovaRange[] = [];
  let cur = 0n;
  for (const r of [...ranges].sort((a, b) => (a.start < b.start ? -1 : 1))) {
    if (r.start > cur) out.push({ start: cur, last: r.start - 1n });
    cur = r.last + 1n;
  }
  if (cur <= U64_MAX) out.push({ start: cur, last: U64_MAX });
  return out;
}

/** A cdev bound to a SimIommufd: an edu-like SimDevice whose DMA goes through the attached IOAS. */
export class SimCdevDevice implements CdevDevice {
  readonly devId: number;
  readonly #ctx: SimIommufd;
  readonly #dev: SimDevice;
  #ioas: SimIoas | null = null;
  /** The HWPT attached by id (IOMMU_HWPT_ALLOC, hwpt-dirty.ts); null when attached to the IOAS's automatic one. */
  #hwpt: SimHwpt | null = null;
  /** What owns the device's reserved regions in that HWPT's IOAS (one per attachment, so a replace keeps the new ones). */
  #resv: object | null = null;

  /** @internal SimIommufd.bindDevice() constructs these. */
  constructor(ctx: SimIommufd, path: string, _pciName: string) {
    this.#ctx = ctx;
    this.#dev = new SimDevice(path, {
      dmaPort: this.#dmaPort(),
      resetSupported: ctx.host.options.resetSupported,
      onClose: () => this.#unbind(),
    });
    this.devId = ctx.allocId(this);
  }

  get name(): string {
    return this.#dev.name;
  }

  get closed(): boolean {
    return this.#dev.closed;
  }

  /** @internal */
  get attachedIoas(): SimIoas | null {
    return this.#ioas;
  }

  /** DMA transfers that faulted in the IOMMU (sim-only diagnostics). */
  get dmaFaults(): number {
    return this.#dev.dmaFaults;
  }

  /** vfio_iommufd_physical_attach_ioas(): a second attach replaces the first (6.12). */
  attach(pt: Ioas | number): number {
    const op = 'VFIO_DEVICE_ATTACH_IOMMUFD_PT';
    if (this.closed) throw closedError(op);
    let ioas: SimIoas;
    const hwpt = typeof pt === 'number' ? simHwptById(this.#ctx, pt) : undefined;
    if (hwpt) return this.#attachHwpt(hwpt, op);
    if (typeof pt === 'number') {
      ioas = this.#ctx.ioas(pt, op);
    } else if (pt instanceof SimIoas) {
      ioas = pt;
    } else {
      throw new TypeError('attach: an Ioas of the simulated backend or a pt id is required');
    }
    if (ioas.closed) throw new VfioError(Errno.ENOENT, op, { ptId: ioas.id }, 'the IOAS was destroyed');
    if (this.#ioas === ioas && !this.#hwpt) return ioas.hwpt!.id;
    const host = this.#ctx.host;
    // A replace onto an IOAS with no domain yet fills the new one before the device's regions are checked.
    const replace = this.#ioas !== null && ioas.hwpt === null;
    ioas.iopt.addDomain(this, deviceReserved(host.options.iovaRanges), host.options.pageSizes & -host.options.pageSizes,
      op, { device: this.name, ptId: ioas.id }, replace);
    if (this.#ioas) this.detach();
    ioas.hwpt ??= { id: this.#ctx.allocId('hwpt'), users: 0 };
    ioas.hwpt.users++;
    this.#ioas = ioas;
    return ioas.hwpt.id;
  }

  detach(): void {
    if (this.closed) throw closedError('VFIO_DEVICE_DETACH_IOMMUFD_PT');
    this.#detachNow();
  }

  info(): DeviceInfo {
    return this.#dev.info();
  }

  regionInfo(index: number): RegionInfo {
    return this.#dev.regionInfo(index);
  }

  read(region: number, offset: bigint, length: number): Uint8Array {
    return this.#dev.read(region, offset, length);
  }

  write(region: number, offset: bigint, data: Uint8Array): void {
    this.#dev.write(region, offset, data);
  }

  mmap(region: number): ArrayBuffer {
    return this.#dev.mmap(region);
  }

  irqInfo(index: number): IrqInfo {
    return this.#dev.irqInfo(index);
  }

  irqs(kind: IrqKind, opts?: IrqOptions): IrqSet {
    return this.#dev.irqs(kind, opts);
  }

  reset(): void {
    this.#dev.reset();
  }

  release(reason: string): void {
    this.#dev.release(reason);
  }

  close(): void {
    this.#dev.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * iommufd_device_attach() / _replace() to a paging HWPT: its domain joined the IOAS when it was allocated; the
   * device's reserved regions go into the IOAS now (iopt_table_enforce_dev_resv_regions). A mock domain belongs to
   * another driver (EINVAL).
   */
  #attachHwpt(hwpt: SimHwpt, op: string): number {
    if (this.#hwpt === hwpt) return hwpt.id;
    if (hwpt.mock) throw new VfioError(Errno.EINVAL, op, { device: this.name, ptId: hwpt.id }, 'the HWPT is an IOMMUFD_TEST mock domain');
    const host = this.#ctx.host;
    const resv = {};
    hwpt.ioas.iopt.addDomain(resv, deviceReserved(host.options.iovaRanges), host.options.pageSizes & -host.options.pageSizes,
      op, { device: this.name, ptId: hwpt.id });
    if (this.#ioas) this.#detachNow();
    hwpt.users++;
    this.#hwpt = hwpt;
    this.#resv = resv;
    this.#ioas = hwpt.ioas;
    return hwpt.id;
  }

  #detachNow(): void {
    const ioas = this.#ioas;
    if (!ioas) return; // the kernel returns 0 when nothing is attached
    if (this.#hwpt) {
      ioas.iopt.removeDomain(this.#resv);
      this.#hwpt.users--;
      this.#hwpt = null;
      this.#resv = null;
      this.#ioas = null;
      return;
    }
    ioas.iopt.removeDomain(this);
    if (ioas.hwpt && --ioas.hwpt.users === 0) {
      this.#ctx.freeId(ioas.hwpt.id);
      ioas.hwpt = null;
    }
    this.#ioas = null;
  }

  /** Closing the cdev: detach, unbind (the device id goes). */
  #unbind(): void {
    this.#detachNow();
    this.#ctx.freeId(this.devId);
  }

  #dmaPort(): DmaPort {
    return this.#ctx.host.buffers.dmaPort((iova, length, write) => {
      // Detached: the blocked domain, nothing is reachable.
      const area = this.#ioas?.iopt.lookup(iova, length);
      const allowed = write ? IOMMU_IOAS_MAP_WRITEABLE : IOMMU_IOAS_MAP_READABLE;
      if (!area || (area.prot & allowed) === 0) return null;
      // A write through a tracking domain sets its PTEs' dirty bits.
      if (write) this.#hwpt?.deviceWrote(iova, length);
      return area.vaddr + (iova - area.iova);
    });
  }
}
