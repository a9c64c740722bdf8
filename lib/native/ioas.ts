// Backend Ioas over the addon's IOAS. info() is built from IOMMU_IOAS_IOVA_RANGES
// (iommufd reports no page-size bitmap; see IoasRanges in backend.ts).
import {
  type DmaMapping, type Ioas, type IoasRanges, type IommuInfo, type IovaRange, type MemlockStatus, type PlanOp,
  type PlanResult,
} from '../backend.js';
import type { NativeAddon, NativeIoas } from './addon.js';
import { readMemlock } from './memlock.js';
import { checkProt } from './prot.js';

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
    if (m === null || typeof m !== 'object') throw new TypeError('map: mapping object required');
    this.#n.map(m.vaddr, m.iova, m.size, checkProt(m.prot, 'map'));
  }

  mapAuto(vaddr: bigint, size: bigint, prot?: number): bigint {
    return this.#n.map(vaddr, null, size, checkProt(prot, 'mapAuto'));
  }

  unmap(iova: bigint, size: bigint): bigint {
    return this.#n.unmap(iova, size);
  }

  unmapAll(): bigint {
    return this.#n.unmapAll();
  }

  copy(src: Ioas, srcIova: bigint, size: bigint, dstIova: bigint | null, prot?: number): bigint {
    const s = nativeIoasOf(src);
    if (!s) throw new TypeError('copy: src must be an Ioas of the native backend');
    return this.#n.copyFrom(s, srcIova, size, dstIova, checkProt(prot, 'copy'));
  }

  allowIovas(ranges: IovaRange[]): void {
    if (!Array.isArray(ranges)) throw new TypeError('allowIovas: ranges must be an array');
    const pairs = new BigUint64Array(ranges.length * 2);
    ranges.forEach((r, i) => {
      if (typeof r?.start !== 'bigint' || typeof r?.last !== 'bigint') throw new TypeError('allowIovas: start and last must be bigints');
      pairs[2 * i] = r.start;
      pairs[2 * i + 1] = r.last;
      if (pairs[2 * i] !== r.start || pairs[2 * i + 1] !== r.last) throw new RangeError('allowIovas: start and last must fit in a u64');
    });
    this.#n.allowIovas(pairs);
  }

  runPlan(op: PlanOp, plan: BigUint64Array): PlanResult {
    if (op !== 'map' && op !== 'unmap') throw new TypeError(`runPlan: op must be 'map' or 'unmap'`);
    return { ...this.#n.runPlan(op, plan), simulated: false };
  }

  close(): void {
    this.#n.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
