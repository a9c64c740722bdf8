// Backend Ioas over the addon's IOAS. info() is built from IOMMU_IOAS_IOVA_RANGES
// (iommufd reports no page-size bitmap; see IoasRanges in backend.ts).
import {
  type DmaMapping, type Ioas, type IoasRanges, type IommuInfo, type IovaRange, type MemlockStatus, type PlanOp,
  type PlanResult,
} from '../backend.js';
import type { NativeAddon, NativeIoas } from './addon.js';
import { readMemlock } from './memlock.js';
import { checkIovaRanges, checkMapping, checkPlan, checkProt, checkRange, toU64 } from '../seam/args.js';

const handles = new WeakMap<object, NativeIoas>();

/** The addon object behind an Ioas this backend made, or undefined. */
export function nativeIoasOf(i: unknown): NativeIoas | undefined {
  return typeof i === 'object' && i !== null ? handles.get(i) : undefined;
}

/** The DmaSpace view of IOVA_RANGES: one page size, max(alignment, 4 KiB). */
export function ioasInfo(r: IoasRanges): IommuInfo {
  const page = r.alignment > 0x1000n ? r.alignment : 0x1000n;
  return { pageSizes: page, ranges: r.ranges, dmaAvail: null, migration: null };
}

export class NativeBackendIoas implements Ioas {
  readonly simulated = false;
  readonly #n: NativeIoas;
  readonly #addon: NativeAddon;

  constructor(addon: NativeAddon, n: NativeIoas) {
    this.#addon = addon;
    this.#n = n;
    handles.set(this, n);
  }

  get id(): number {
    return this.#n.id;
  }

  get closed(): boolean {
    return this.#n.closed;
  }

  iovaRanges(): IoasRanges {
    const r = this.#n.iovaRanges();
    const ranges: IovaRange[] = [];
    for (let i = 0; i < r.ranges.length; i += 2) ranges.push({ start: r.ranges[i]!, last: r.ranges[i + 1]! });
    return { alignment: r.alignment, ranges };
  }

  info(): IommuInfo {
    return ioasInfo(this.iovaRanges());
  }

  /** RLIMIT_MEMLOCK and VmLck + VmPin: in 'user' rlimit mode iommufd charges user->locked_vm, which /proc does not show. */
  memlock(): MemlockStatus {
    return readMemlock(() => this.#addon.memlockLimit());
  }

  map(m: DmaMapping): void {
    const prot = checkMapping(m);
    this.#n.map(m.vaddr, m.iova, m.size, prot);
  }

  mapAuto(vaddr: bigint, size: bigint, prot?: number): bigint {
    toU64(vaddr, 'mapAuto: vaddr');
    toU64(size, 'mapAuto: size');
    return this.#n.map(vaddr, null, size, checkProt(prot, 'mapAuto'));
  }

  unmap(iova: bigint, size: bigint): bigint {
    checkRange(iova, size);
    return this.#n.unmap(iova, size);
  }

  unmapAll(): bigint {
    return this.#n.unmapAll();
  }

  copy(src: Ioas, srcIova: bigint, size: bigint, dstIova: bigint | null, prot?: number): bigint {
    const s = nativeIoasOf(src);
    if (!s) throw new TypeError('copy: src must be an Ioas of the native backend');
    toU64(srcIova, 'srcIova');
    toU64(size, 'size');
    if (dstIova !== null) toU64(dstIova, 'dstIova');
    return this.#n.copyFrom(s, srcIova, size, dstIova, checkProt(prot, 'copy'));
  }

  allowIovas(ranges: IovaRange[]): void {
    checkIovaRanges(ranges);
    const pairs = new BigUint64Array(ranges.length * 2);
    ranges.forEach((r, i) => {
      pairs[2 * i] = r.start;
      pairs[2 * i + 1] = r.last;
    });
    this.#n.allowIovas(pairs);
  }

  runPlan(op: PlanOp, plan: BigUint64Array): PlanResult {
    checkPlan(op, plan);
    return { ...this.#n.runPlan(op, plan), simulated: false };
  }

  close(): void {
    this.#n.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
