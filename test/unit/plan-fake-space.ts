// A minimal DmaSpace with the type1v2 rules the planner relies on (alignment,
// IOVA ranges, EEXIST on overlap, unmap never bisecting a mapping, memlock and
// DMA-entry accounting), for unit tests that run without lib/sim or a kernel.
// It keeps every mapping so tests can compare state before and after.
import {
  PLAN_FLAGS, PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, PLAN_VADDR, PROT_RW, SZ_1G, SZ_2M, SZ_4K,
  type DmaMapping, type DmaSpace, type IommuInfo, type MemlockStatus, type PlanOp, type PlanResult,
} from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';

export const TEST_INFO: IommuInfo = {
  pageSizes: SZ_4K | SZ_2M | SZ_1G,
  // A hole below 4 GiB like the x86 MSI window, and two touching ranges above.
  ranges: [
    { start: 0n, last: 0xfedf_ffffn },
    { start: 0xfef0_0000n, last: 0xf_ffff_ffffn },
    { start: 0x10_0000_0000n, last: (1n << 48n) - 1n },
  ],
  dmaAvail: null,
  migration: null,
};

export interface FakeOptions {
  info?: IommuInfo;
  memlock?: { limit: bigint | null; locked?: bigint; exempt?: boolean };
  dmaEntryLimit?: number | null;
}

export interface FakeMapping {
  iova: bigint;
  size: bigint;
  vaddr: bigint;
  prot: number;
}

export class FakeDmaSpace implements DmaSpace {
  readonly simulated = true;
  readonly mappings: FakeMapping[] = [];
  mapCalls = 0;
  unmapCalls = 0;
  /** Absent, as on the sim; a test sets it to stand for the native space's off-loop read. */
  memlockAsync?: () => Promise<MemlockStatus>;
  private readonly baseInfo: IommuInfo;
  private readonly limits: { limit: bigint | null; locked: bigint; exempt: boolean };
  private readonly entryLimit: number | null;

  constructor(opts: FakeOptions = {}) {
    this.baseInfo = opts.info ?? TEST_INFO;
    this.limits = { limit: opts.memlock?.limit ?? null, locked: opts.memlock?.locked ?? 0n, exempt: opts.memlock?.exempt ?? false };
    this.entryLimit = opts.dmaEntryLimit === undefined ? null : opts.dmaEntryLimit;
  }

  info(): IommuInfo {
    return { ...this.baseInfo, dmaAvail: this.entryLimit === null ? null : this.entryLimit - this.mappings.length };
  }

  memlock(): MemlockStatus {
    return this.accounting();
  }

  // The kernel's own accounting, apart from memlock() so that tests can count the planner's reads.
  private accounting(): MemlockStatus {
    return { limit: this.limits.limit, locked: this.limits.locked + this.mappedBytes(), exempt: this.limits.exempt };
  }

  mappedBytes(): bigint {
    return this.mappings.reduce((s, m) => s + m.size, 0n);
  }

  map(m: DmaMapping): void {
    this.mapCalls++;
    const prot = m.prot ?? PROT_RW;
    const page = this.baseInfo.pageSizes & -this.baseInfo.pageSizes;
    const last = m.iova + m.size - 1n;
    if (m.size === 0n || ((m.vaddr | m.iova | m.size) & (page - 1n)) !== 0n || prot === 0) {
      throw new VfioError(Errno.EINVAL, 'MAP_DMA', { iova: m.iova, size: m.size });
    }
    if (!this.baseInfo.ranges.some((r) => r.start <= m.iova && last <= r.last)) {
      throw new VfioError(Errno.EINVAL, 'MAP_DMA', { iova: m.iova, size: m.size });
    }
    if (this.mappings.some((x) => x.iova <= last && m.iova < x.iova + x.size)) {
      throw new VfioError(Errno.EEXIST, 'MAP_DMA', { iova: m.iova, size: m.size });
    }
    if (this.entryLimit !== null && this.mappings.length >= this.entryLimit) {
      throw new VfioError(Errno.ENOSPC, 'MAP_DMA', { iova: m.iova, size: m.size });
    }
    const ml = this.accounting();
    if (!ml.exempt && ml.limit !== null && ml.locked + m.size > ml.limit) {
      throw new VfioError(Errno.ENOMEM, 'MAP_DMA', { iova: m.iova, size: m.size });
    }
    this.mappings.push({ iova: m.iova, size: m.size, vaddr: m.vaddr, prot });
    this.mappings.sort((a, b) => (a.iova < b.iova ? -1 : 1));
  }

  unmap(iova: bigint, size: bigint): bigint {
    this.unmapCalls++;
    const end = iova + size;
    // TYPE1v2: an unmap may not cut a mapping in two.
    if (this.mappings.some((x) => (x.iova < iova && iova < x.iova + x.size) || (x.iova < end && end < x.iova + x.size))) {
      throw new VfioError(Errno.EINVAL, 'UNMAP_DMA', { iova, size });
    }
    let unmapped = 0n;
    for (let k = this.mappings.length - 1; k >= 0; k--) {
      const x = this.mappings[k] as FakeMapping;
      if (x.iova >= iova && x.iova + x.size <= end) {
        unmapped += x.size;
        this.mappings.splice(k, 1);
      }
    }
    return unmapped;
  }

  runPlan(op: PlanOp, plan: BigUint64Array): PlanResult {
    return runPlanVia(this, op, plan);
  }

  /** Every mapping as text, for before/after comparisons. */
  snapshot(): string {
    return this.mappings.map((m) => `${m.iova.toString(16)}+${m.size.toString(16)}@${m.vaddr.toString(16)}/${m.prot}`).join(' ');
  }

  /** IOVA page -> vaddr page for every mapped 4 KiB page. */
  pages(): Map<bigint, bigint> {
    const out = new Map<bigint, bigint>();
    for (const m of this.mappings) {
      for (let off = 0n; off < m.size; off += SZ_4K) out.set(m.iova + off, m.vaddr + off);
    }
    return out;
  }
}

/** runPlan done the obvious way, one map()/unmap() per entry, stopping at the first failure. */
export function runPlanVia(space: DmaSpace, op: PlanOp, plan: BigUint64Array): PlanResult {
  const count = plan.length / PLAN_STRIDE;
  const ns = new Float64Array(count);
  let unmapped = 0n;
  for (let k = 0; k < count; k++) {
    const o = k * PLAN_STRIDE;
    const t0 = process.hrtime.bigint();
    try {
      if (op === 'map') {
        space.map({ vaddr: plan[o + PLAN_VADDR] as bigint, iova: plan[o + PLAN_IOVA] as bigint, size: plan[o + PLAN_SIZE] as bigint, prot: Number(plan[o + PLAN_FLAGS]) });
      } else {
        unmapped += space.unmap(plan[o + PLAN_IOVA] as bigint, plan[o + PLAN_SIZE] as bigint);
      }
    } catch (e) {
      if (!(e instanceof VfioError)) throw e;
      return { ns: ns.subarray(0, k + 1), completed: k, failedIndex: k, errno: e.errno, unmapped, simulated: space.simulated };
    }
    ns[k] = Number(process.hrtime.bigint() - t0);
  }
  return { ns, completed: count, failedIndex: -1, errno: 0, unmapped, simulated: space.simulated };
}
