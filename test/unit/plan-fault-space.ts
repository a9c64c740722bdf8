// Wraps any DmaSpace (the fake, SimBackend's container, the native one) and
// makes chosen calls fail, like iommufd_fail_nth: the Nth map attempt, and
// any unmap attempts a predicate picks. Attempts are counted across map() and
// runPlan() alike. runPlan either hands the plan's prefix to the real runPlan
// and reports the failure itself ('runPlan' mode), or walks the plan through
// this.map()/this.unmap() ('map' mode), so both paths are exercised.
import { PLAN_STRIDE, type DmaMapping, type DmaSpace, type IommuInfo, type MemlockStatus, type PlanOp, type PlanResult } from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { runPlanVia } from './plan-fake-space.js';

export interface Faults {
  /** 0-based index of the map attempt that fails. */
  mapAt?: number;
  /** Which unmap attempts (0-based) fail. */
  unmapFails?: (attempt: number) => boolean;
  /** errno of injected failures (default EFAULT, which nothing else here produces). */
  errno?: number;
  mode?: 'runPlan' | 'map';
}

export class FaultyDmaSpace implements DmaSpace {
  mapAttempts = 0;
  unmapAttempts = 0;
  injected = 0;

  constructor(readonly inner: DmaSpace, public faults: Faults = {}) {}

  get simulated(): boolean {
    return this.inner.simulated;
  }

  info(): IommuInfo {
    return this.inner.info();
  }

  memlock(): MemlockStatus {
    return this.inner.memlock();
  }

  map(m: DmaMapping): void {
    if (this.mapAttempts++ === this.faults.mapAt) this.fail('MAP_DMA');
    this.inner.map(m);
  }

  unmap(iova: bigint, size: bigint): bigint {
    if (this.faults.unmapFails?.(this.unmapAttempts++)) this.fail('UNMAP_DMA');
    return this.inner.unmap(iova, size);
  }

  runPlan(op: PlanOp, plan: BigUint64Array): PlanResult {
    if (this.faults.mode === 'map') return runPlanVia(this, op, plan);
    const count = plan.length / PLAN_STRIDE;
    // The first entry of this plan that is due to fail, if any.
    let bad = -1;
    for (let k = 0; k < count && bad < 0; k++) {
      const attempt = (op === 'map' ? this.mapAttempts : this.unmapAttempts) + k;
      if (op === 'map' ? attempt === this.faults.mapAt : this.faults.unmapFails?.(attempt)) bad = k;
    }
    const r = this.inner.runPlan(op, bad < 0 ? plan : plan.subarray(0, bad * PLAN_STRIDE));
    const attempted = r.failedIndex >= 0 ? r.failedIndex + 1 : r.completed + (bad < 0 ? 0 : 1);
    if (op === 'map') this.mapAttempts += attempted;
    else this.unmapAttempts += attempted;
    if (bad < 0 || r.failedIndex >= 0) return r;
    this.injected++;
    const ns = new Float64Array(bad + 1);
    ns.set(r.ns.subarray(0, bad));
    return { ...r, ns, completed: bad, failedIndex: bad, errno: this.errno() };
  }

  private errno(): number {
    return this.faults.errno ?? Errno.EFAULT;
  }

  private fail(op: string): never {
    this.injected++;
    throw new VfioError(this.errno(), op, { injected: true });
  }
}
