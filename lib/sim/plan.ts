// The sim's one plan executor, for a type1 container and an iommufd IOAS
// alike: entry by entry (PLAN_STRIDE u64 words each) with the same semantics
// as map()/unmap() on that target, stopping at the first failure like the
// native executor. Times come from the cost model, priced on the segments
// each entry touched, and the result says so (simulated: true).
import {
  PLAN_FLAGS, PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, PLAN_VADDR,
  type PlanOp, type PlanResult,
} from '../backend.js';
import { VfioError } from '../errors.js';
import { mapCostNs, refusedCostNs, unmapCostNs, type CostModel, type CostSegment } from './cost-model.js';

/** What the executor needs of a model: one entry mapped or unmapped, or a VfioError with the kernel's errno. */
export interface PlanTarget {
  /** Maps one entry; returns the segments the cost model prices. */
  mapEntry(vaddr: bigint, iova: bigint, size: bigint, prot: number): readonly CostSegment[];
  unmapEntry(iova: bigint, size: bigint): { unmapped: bigint; segments: readonly CostSegment[] };
}

/** Runs a plan whose shape and flags the seam has checked (lib/seam/args.ts checkPlan). */
export function runSimPlan(target: PlanTarget, model: CostModel, op: PlanOp, plan: BigUint64Array): PlanResult {
  const entries = plan.length / PLAN_STRIDE;
  // One time per executed entry, the failed one included: written in place,
  // cut short only when an entry fails (an array and a copy per call showed
  // up as the planner's cost on the single-page path).
  const ns = new Float64Array(entries);
  let executed = 0;
  let completed = 0;
  let failedIndex = -1;
  let errno = 0;
  let unmapped = 0n;
  for (let i = 0; i < entries; i++) {
    const base = i * PLAN_STRIDE;
    const iova = plan[base + PLAN_IOVA]!;
    const size = plan[base + PLAN_SIZE]!;
    try {
      if (op === 'map') {
        // Into a local first: `ns[executed++] = f()` counts the entry before f() runs, and f() may throw.
        const segments = target.mapEntry(plan[base + PLAN_VADDR]!, iova, size, Number(plan[base + PLAN_FLAGS]!));
        // A map that pinned nothing (an IOAS with no domain) costs one call, as a refusal does.
        ns[executed++] = mapCostNs(model, segments);
      } else {
        const r = target.unmapEntry(iova, size);
        unmapped += r.unmapped;
        ns[executed++] = unmapCostNs(model, r.segments);
      }
      completed++;
    } catch (err) {
      if (!(err instanceof VfioError)) throw err;
      ns[executed++] = refusedCostNs(model);
      failedIndex = i;
      errno = err.errno;
      break;
    }
  }
  return { ns: executed === entries ? ns : ns.slice(0, executed), completed, failedIndex, errno, unmapped, simulated: true };
}
