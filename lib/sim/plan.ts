// Executes a plan (PLAN_STRIDE u64 words per entry) against the type1 model,
// entry by entry with the same semantics as map()/unmap(), stopping at the
// first failure like the native executor. Times come from the cost model and
// the result says so (simulated: true).
import {
  PLAN_FLAGS, PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, PLAN_VADDR,
  type PlanOp, type PlanResult,
} from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { mapCostNs, refusedCostNs, unmapCostNs, type CostModel } from './cost-model.js';
import type { Type1 } from './type1.js';

export function runSimPlan(iommu: Type1 | null, model: CostModel, op: PlanOp, plan: BigUint64Array): PlanResult {
  // The caller checked the plan's shape and flags (lib/seam/args.ts checkPlan).
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
      if (!iommu) throw new VfioError(Errno.EINVAL, 'plan', {}, 'no IOMMU type set on this container');
      if (op === 'map') {
        const dma = iommu.map(plan[base + PLAN_VADDR]!, iova, size, Number(plan[base + PLAN_FLAGS]!));
        ns[executed++] = mapCostNs(model, iommu.segmentsOf(dma));
      } else {
        const r = iommu.unmap(iova, size);
        unmapped += r.unmapped;
        ns[executed++] = unmapCostNs(model, r.removed.flatMap((d) => iommu.segmentsOf(d)));
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
