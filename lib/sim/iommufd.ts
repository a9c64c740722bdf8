// A simulated /dev/iommu (drivers/iommu/iommufd/main.c, ioas.c;
// drivers/vfio/device_cdev.c; Linux 6.12): IOASes over the io_pagetable model
// (iommufd-iopt.ts), cdev devices bound to the context and attached to an
// IOAS, and IOMMU_OPTION_RLIMIT_MODE. Object ids come from one allocator per
// context, lowest free first from 1 (xa_alloc with XA_FLAGS_ALLOC1).
import type { IrqKind, IrqOptions, IrqSet } from '../irq.js';
import {
  PROT_READ, PROT_RW, PROT_WRITE,
  type CdevDevice, type DeviceInfo, type DmaMapping, type Ioas, type IoasRanges, type IommuInfo, type Iommufd,
  type IovaRange, type IrqInfo, type MemlockStatus, type PlanOp, type PlanResult, type RegionInfo, type RlimitMode,
} from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { closedError, toU64, U64_MAX } from './args.js';
import { mapCostNs, refusedCostNs, unmapCostNs } from './cost-model.js';
import { SimDevice } from './device.js';
import type { DmaPort } from './edu.js';
import type { SimHost } from './host.js';
import {
  IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, IoPageTable, PAGE_SIZE,
  type AccountMode, type PinAccounts, type SimArea,
} from './iommufd-iopt.js';

/**
 * Per simulated host (one user, one mm): user->locked_vm, and mm->pinned_vm,
 * which do_update_pinned() raises for every pinned page whatever the
 * accounting mode ('none' included) and /proc shows as VmPin.
 */
const userLocked = new WeakMap<SimHost, { pages: bigint; pinned: bigint }>();

function hostCounters(host: SimHost): { pages: bigint; pinned: bigint } {
  let user = userLocked.get(host);
  if (!user) userLocked.set(host, (user = { pages: 0n, pinned: 0n }));
  return user;
}

function hostAccounts(host: SimHost): PinAccounts {
  const u = hostCounters(host);
  const charged = (refusal: string | null, pages: bigint): string | null => {
    if (refusal === null) u.pinned += pages;
    return refusal;
  };
  return {
    charge(mode: AccountMode, pages: bigint): string | null {
      if (mode === 'none') return charged(null, pages);
      if (mode === 'mm') return charged(host.memlock.charge(pages), pages);
      // incr_user_locked_vm(): new total against RLIMIT_MEMLOCK, no CAP_IPC_LOCK exemption here (that is mode 'none').
      const limit = host.memlock.limit;
      if (limit !== null && u.pages + pages > limit >> 12n) {
        return `RLIMIT_MEMLOCK (${limit} bytes) exceeded in user->locked_vm (iommufd 'user' accounting): `
          + `${u.pages << 12n} bytes already charged to this user, ${pages << 12n} more requested`;
      }
      u.pages += pages;
      return charged(null, pages);
    },
    uncharge(mode: AccountMode, pages: bigint): void {
      if (mode === 'mm') host.memlock.uncharge(pages);
      if (mode === 'user') u.pages = u.pages > pages ? u.pages - pages : 0n;
      u.pinned = u.pinned > pages ? u.pinned - pages : 0n;
    },
  };
}

/** Bytes the simulated user has charged in iommufd's 'user' accounting mode (not visible in memlock().locked). */
export function simUserLockedBytes(host: SimHost): bigint {
  return hostCounters(host).pages << 12n;
}

/** mm->pinned_vm (VmPin) in bytes: what iommufd has pinned for this simulated process. */
export function simPinnedBytes(host: SimHost): bigint {
  return hostCounters(host).pinned << 12n;
}

function protFlags(prot: unknown, op: string): number {
  const p = prot ?? PROT_RW;
  if (typeof p !== 'number' || !Number.isInteger(p)) throw new TypeError(`${op}: prot must be an integer`);
  if (p < 0 || (p & ~PROT_RW) !== 0) throw new RangeError(`${op}: prot may only hold PROT_READ | PROT_WRITE`);
  return ((p & PROT_READ) ? IOMMU_IOAS_MAP_READABLE : 0) | ((p & PROT_WRITE) ? IOMMU_IOAS_MAP_WRITEABLE : 0);
}

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

export class SimIommufd implements Iommufd {
  readonly #host: SimHost;
  #closed = false;
  #mode: RlimitMode = 'user';
  readonly #objects = new Map<number, SimIoas | SimCdevDevice | 'hwpt'>();
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
  allocId(obj: SimIoas | SimCdevDevice | 'hwpt'): number {
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

  /** @internal */
  devices(): SimCdevDevice[] {
    return [...this.#objects.values()].filter((o): o is SimCdevDevice => o instanceof SimCdevDevice);
  }

  allocIoas(): Ioas {
    this.#live('IOMMU_IOAS_ALLOC');
    return new SimIoas(this);
  }

  bindDevice(pathOrName: string): CdevDevice {
    if (typeof pathOrName !== 'string' || pathOrName === '') throw new TypeError('bindDevice: a path or cdev name is required');
    const m = /^(?:\/dev\/vfio\/devices\/)?vfio(\d+)$/.exec(pathOrName);
    if (!m) {
      if (pathOrName.startsWith('/')) {
        throw new VfioError(Errno.ENOENT, `open ${pathOrName}`, { path: pathOrName }, 'the simulated host has cdevs /dev/vfio/devices/vfioN only');
      }
      throw new RangeError(`bindDevice: ${pathOrName} is neither a path nor a cdev name like vfio0`);
    }
    const path = `/dev/vfio/devices/vfio${m[1]}`;
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
    if (mode !== 'user' && mode !== 'mm') throw new TypeError(`setRlimitMode: mode must be 'user' or 'mm'`);
    const op = 'IOMMU_OPTION';
    this.#live(op);
    // iommufd_option_rlimit_mode(). The simulated process is root with CAP_SYS_RESOURCE (even when a test
    // drops CAP_IPC_LOCK through memlock.exempt), so the kernel's EPERM for others is not modelled.
    if (this.#objects.size > 0) {
      throw new VfioError(Errno.EBUSY, op, { option: 'RLIMIT_MODE' }, 'the mode can only change before any object (IOAS, device) exists');
    }
    this.#mode = mode;
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

export class SimIoas implements Ioas {
  readonly simulated = true;
  readonly id: number;
  readonly #ctx: SimIommufd;
  readonly iopt: IoPageTable;
  #closed = false;
  /** The automatic HWPT devices attached to this IOAS share (id), with how many are attached. */
  hwpt: { id: number; users: number } | null = null;

  /** @internal SimIommufd.allocIoas() constructs these. */
  constructor(ctx: SimIommufd) {
    this.#ctx = ctx;
    this.iopt = new IoPageTable(ctx.host, ctx.accounts);
    this.id = ctx.allocId(this);
  }

  get closed(): boolean {
    return this.#closed;
  }

  iovaRanges(): IoasRanges {
    this.#live('IOMMU_IOAS_IOVA_RANGES');
    return { alignment: this.iopt.alignment, ranges: this.iopt.iovaRanges() };
  }

  info(): IommuInfo {
    const r = this.iovaRanges();
    return { pageSizes: r.alignment > PAGE_SIZE ? r.alignment : PAGE_SIZE, ranges: r.ranges, dmaAvail: null, migration: null };
  }

  /** As the native backend reads it: VmLck (mm->locked_vm) + VmPin (mm->pinned_vm). */
  memlock(): MemlockStatus {
    const s = this.#ctx.host.memlock.status();
    return { ...s, locked: s.locked + simPinnedBytes(this.#ctx.host) };
  }

  map(m: DmaMapping): void {
    if (m === null || typeof m !== 'object') throw new TypeError('map: mapping object required');
    this.#map(m.vaddr, m.iova, m.size, m.prot, 'map');
  }

  mapAuto(vaddr: bigint, size: bigint, prot?: number): bigint {
    return this.#map(vaddr, null, size, prot, 'mapAuto').iova;
  }

  unmap(iova: bigint, size: bigint): bigint {
    toU64(iova, 'iova');
    toU64(size, 'size');
    const op = 'IOMMU_IOAS_UNMAP';
    this.#live(op);
    return this.#unmap(iova, size, op).unmapped;
  }

  unmapAll(): bigint {
    const op = 'IOMMU_IOAS_UNMAP';
    this.#live(op);
    return this.#unmap(0n, U64_MAX, op).unmapped;
  }

  copy(src: Ioas, srcIova: bigint, size: bigint, dstIova: bigint | null, prot?: number): bigint {
    if (!(src instanceof SimIoas)) throw new TypeError('copy: src must be an Ioas of the simulated backend');
    toU64(srcIova, 'srcIova');
    toU64(size, 'size');
    if (dstIova !== null) toU64(dstIova, 'dstIova');
    const flags = protFlags(prot, 'copy');
    const op = 'IOMMU_IOAS_COPY';
    this.#live(op);
    if (src.closed) throw closedError(op);
    const args = { srcIoas: src.id, srcIova, size, dstIova };
    // iommufd_ioas_copy()
    if (size >= U64_MAX || srcIova >= U64_MAX || (dstIova ?? 0n) >= U64_MAX) {
      throw new VfioError(Errno.EOVERFLOW, op, args, 'an address or the length is U64_MAX');
    }
    if (flags === 0) throw new VfioError(Errno.EINVAL, op, args, 'a mapping needs READ and/or WRITE permission');
    const pieces = src.iopt.getPages(srcIova, size, op, args);
    const areas = this.iopt.mapPieces(pieces, size, dstIova, flags, op, args);
    return areas[0]!.iova;
  }

  allowIovas(ranges: IovaRange[]): void {
    if (!Array.isArray(ranges)) throw new TypeError('allowIovas: ranges must be an array');
    for (const r of ranges) {
      toU64(r?.start, 'allowIovas: start');
      toU64(r?.last, 'allowIovas: last');
    }
    this.#live('IOMMU_IOAS_ALLOW_IOVAS');
    this.iopt.allowIovas(ranges);
  }

  runPlan(op: PlanOp, plan: BigUint64Array): PlanResult {
    if (op !== 'map' && op !== 'unmap') throw new TypeError(`runPlan: op must be 'map' or 'unmap'`);
    if (!(plan instanceof BigUint64Array)) throw new TypeError('runPlan: plan must be a BigUint64Array');
    if (plan.length % 4 !== 0) throw new RangeError('runPlan: plan length must be a multiple of 4 (vaddr, iova, size, flags)');
    const entries = plan.length / 4;
    if (op === 'map') {
      for (let i = 0; i < entries; i++) {
        if ((plan[i * 4 + 3]! & ~BigInt(PROT_RW)) !== 0n) {
          throw new RangeError(`runPlan: plan entry ${i}: flags may only hold PROT_READ | PROT_WRITE`);
        }
      }
    }
    this.#live('plan');
    const model = this.#ctx.host.options.costModel;
    const ns: number[] = [];
    let completed = 0;
    let failedIndex = -1;
    let errno = 0;
    let unmapped = 0n;
    for (let i = 0; i < entries; i++) {
      const [vaddr, iova, size, flags] = [plan[i * 4]!, plan[i * 4 + 1]!, plan[i * 4 + 2]!, plan[i * 4 + 3]!];
      try {
        if (op === 'map') {
          const a = this.#map(vaddr, iova, size, Number(flags), 'plan');
          const seg = this.iopt.segmentsOf(a);
          ns.push(seg.length ? mapCostNs(model, seg) : refusedCostNs(model));
        } else {
          const r = this.#unmap(iova, size, 'IOMMU_IOAS_UNMAP');
          unmapped += r.unmapped;
          ns.push(unmapCostNs(model, r.removed.flatMap((a) => this.iopt.segmentsOf(a))));
        }
        completed++;
      } catch (err) {
        if (!(err instanceof VfioError)) throw err;
        ns.push(refusedCostNs(model));
        failedIndex = i;
        errno = err.errno;
        break;
      }
    }
    return { ns: Float64Array.from(ns), completed, failedIndex, errno, unmapped, simulated: true };
  }

  close(): void {
    if (this.#closed) return;
    for (const d of this.#ctx.devices()) if (d.attachedIoas === this) d.detach();
    this.#unmap(0n, U64_MAX, 'IOMMU_IOAS_UNMAP');
    this.#ctx.freeId(this.id);
    this.#closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** iommufd_ioas_map() */
  #map(vaddr: bigint, iova: bigint | null, size: bigint, prot: number | undefined, what: string): SimArea {
    toU64(vaddr, `${what}: vaddr`);
    if (iova !== null) toU64(iova, `${what}: iova`);
    toU64(size, `${what}: size`);
    const flags = protFlags(prot, what);
    const op = 'IOMMU_IOAS_MAP';
    this.#live(op);
    const args = { vaddr, iova, size, prot: prot ?? PROT_RW };
    if ((iova ?? 0n) >= U64_MAX || size >= U64_MAX) throw new VfioError(Errno.EOVERFLOW, op, args, 'iova or length is U64_MAX');
    if (flags === 0) throw new VfioError(Errno.EINVAL, op, args, 'a mapping needs READ and/or WRITE permission');
    return this.iopt.mapUser(vaddr, iova, size, flags, this.#ctx.pagesAccount, op, args);
  }

  /** iommufd_ioas_unmap(); `removed` are the areas gone (for the cost model). */
  #unmap(iova: bigint, size: bigint, op: string): { unmapped: bigint; removed: SimArea[] } {
    const args = { iova, size };
    if (iova === 0n && size === U64_MAX) return this.iopt.unmapRange(0n, U64_MAX, op, args);
    if (iova >= U64_MAX || size >= U64_MAX) throw new VfioError(Errno.EOVERFLOW, op, args, 'iova or length is U64_MAX');
    // iopt_unmap_iova()
    if (size === 0n) throw new VfioError(Errno.EINVAL, op, args, 'length must be non-zero');
    if (iova + size - 1n > U64_MAX) throw new VfioError(Errno.EOVERFLOW, op, args, 'the range wraps around 2^64');
    const r = this.iopt.unmapRange(iova, iova + size - 1n, op, args);
    if (r.unmapped === 0n) throw new VfioError(Errno.ENOENT, op, args, 'nothing is mapped in that range');
    return r;
  }

  #live(op: string): void {
    if (this.#closed || this.#ctx.closed) throw closedError(op);
  }
}

/** A cdev bound to a SimIommufd: an edu-like SimDevice whose DMA goes through the attached IOAS. */
export class SimCdevDevice implements CdevDevice {
  readonly devId: number;
  readonly #ctx: SimIommufd;
  readonly #dev: SimDevice;
  #ioas: SimIoas | null = null;

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
    if (typeof pt === 'number') {
      ioas = this.#ctx.ioas(pt, op);
    } else if (pt instanceof SimIoas) {
      ioas = pt;
    } else {
      throw new TypeError('attach: an Ioas of the simulated backend or a pt id is required');
    }
    if (ioas.closed) throw new VfioError(Errno.ENOENT, op, { ptId: ioas.id }, 'the IOAS was destroyed');
    if (this.#ioas === ioas) return ioas.hwpt!.id;
    const host = this.#ctx.host;
    ioas.iopt.addDomain(this, deviceReserved(host.options.iovaRanges), host.options.pageSizes & -host.options.pageSizes,
      op, { device: this.name, ptId: ioas.id });
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

  close(): void {
    this.#dev.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #detachNow(): void {
    const ioas = this.#ioas;
    if (!ioas) return; // the kernel returns 0 when nothing is attached
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
      return area && (area.prot & allowed) !== 0 ? area.vaddr + (iova - area.iova) : null;
    });
  }
}
