// A simulated iommufd IOAS (drivers/iommu/iommufd/ioas.c, Linux 6.12): an
// io_pagetable (iommufd-iopt.ts) mapped, unmapped, copied and restricted
// through the IOMMU_IOAS_* ioctls, with plans run by the sim's one executor.
import {
  PROT_READ, PROT_WRITE,
  type DmaMapping, type Ioas, type IoasRanges, type IommuInfo, type IovaRange, type MemlockStatus, type PlanOp,
  type PlanResult,
} from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { checkIovaRanges, checkMapping, checkPlan, checkProt, checkRange, toU64, U64_MAX } from '../seam/args.js';
import { closedError } from './args.js';
import type { CostSegment } from './cost-model.js';
import { simPinnedBytes } from './iommufd-accounts.js';
import { IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, IoPageTable, PAGE_SIZE, type SimArea } from './iommufd-iopt.js';
import type { SimIommufd } from './iommufd.js';
import { runSimPlan } from './plan.js';

/** PROT_READ / PROT_WRITE (checked at the seam) as IOMMU_IOAS_MAP_* flags. */
function ioasFlags(p: number): number {
  return ((p & PROT_READ) ? IOMMU_IOAS_MAP_READABLE : 0) | ((p & PROT_WRITE) ? IOMMU_IOAS_MAP_WRITEABLE : 0);
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

  /**
   * As the native backend reads it: VmLck (mm->locked_vm) + VmPin (mm->pinned_vm), and the counter the
   * context's accounting mode holds the pins against (pages.c do_update_pinned): 'mm' VmLck, 'user' the
   * user's locked_vm, of which a process sees only its own VmPin (the sim has one process per user).
   */
  memlock(): MemlockStatus {
    const s = this.#ctx.host.memlock.status();
    const pinned = simPinnedBytes(this.#ctx.host);
    const mode = this.#ctx.pagesAccount;
    const charged = mode === 'mm' ? s.locked : mode === 'user' ? pinned : 0n;
    return { ...s, locked: s.locked + pinned, account: { counter: mode, charged } };
  }

  map(m: DmaMapping): void {
    this.#map(m.vaddr, m.iova, m.size, checkMapping(m));
  }

  mapAuto(vaddr: bigint, size: bigint, prot?: number): bigint {
    toU64(vaddr, 'mapAuto: vaddr');
    toU64(size, 'mapAuto: size');
    return this.#map(vaddr, null, size, checkProt(prot, 'mapAuto')).iova;
  }

  unmap(iova: bigint, size: bigint): bigint {
    checkRange(iova, size);
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
    const flags = ioasFlags(checkProt(prot, 'copy'));
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
    checkIovaRanges(ranges);
    this.#live('IOMMU_IOAS_ALLOW_IOVAS');
    this.iopt.allowIovas(ranges);
  }

  runPlan(op: PlanOp, plan: BigUint64Array): PlanResult {
    checkPlan(op, plan);
    this.#live('plan');
    return runSimPlan(this, this.#ctx.host.options.costModel, op, plan);
  }

  /** @internal The plan executor's map of one entry (lib/sim/plan.ts PlanTarget). */
  mapEntry(vaddr: bigint, iova: bigint, size: bigint, prot: number): CostSegment[] {
    return this.iopt.segmentsOf(this.#map(vaddr, iova, size, prot));
  }

  /** @internal The plan executor's unmap of one entry. */
  unmapEntry(iova: bigint, size: bigint): { unmapped: bigint; segments: CostSegment[] } {
    const r = this.#unmap(iova, size, 'IOMMU_IOAS_UNMAP');
    return { unmapped: r.unmapped, segments: r.removed.flatMap((a) => this.iopt.segmentsOf(a)) };
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
  #map(vaddr: bigint, iova: bigint | null, size: bigint, prot: number): SimArea {
    const flags = ioasFlags(prot);
    const op = 'IOMMU_IOAS_MAP';
    this.#live(op);
    const args = { vaddr, iova, size, prot };
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
