// What a type1 container and an iommufd IOAS do alike on the native backend:
// both are a DmaSpace over an addon object that maps, unmaps and runs plans
// the same way, and both read the locked-memory budget from /proc. Each
// subclass adds what its interface has of its own (GET_INFO and dirty pages;
// IOVA_RANGES, kernel-chosen IOVAs, copies).
import type { DmaMapping, DmaSpace, IommuInfo, MemlockStatus, PlanCycles, PlanOp, PlanResult } from '../backend.js';
import { checkMapping, checkPlan, checkRange } from '../seam/args.js';
import type { NativeAddon, NativeSpaceHandle } from './addon.js';
import { readMemlock } from './memlock.js';

export abstract class NativeSpace<N extends NativeSpaceHandle> implements DmaSpace, Disposable {
  readonly simulated = false;
  protected readonly n: N;
  protected readonly addon: NativeAddon;
  // runPlanInto's outputs, kept between calls: the addon reaching a fresh
  // small typed array's data moves it off the V8 heap (a malloc, then a sweep).
  // status: completed, failedIndex, errno, attempted.
  readonly #status = new Float64Array(4);
  #scratch = new Float64Array(16);

  constructor(addon: NativeAddon, n: N) {
    this.addon = addon;
    this.n = n;
  }

  abstract info(): IommuInfo;

  get closed(): boolean {
    return this.n.closed;
  }

  /** RLIMIT_MEMLOCK and VmLck + VmPin (in iommufd's 'user' rlimit mode it charges user->locked_vm, which /proc does not show). */
  memlock(): MemlockStatus {
    return readMemlock(() => this.addon.memlockLimit());
  }

  map(m: DmaMapping): void {
    const prot = checkMapping(m);
    this.n.map(m.vaddr, m.iova, m.size, prot);
  }

  unmap(iova: bigint, size: bigint): bigint {
    checkRange(iova, size);
    return this.n.unmap(iova, size);
  }

  unmapAll(): bigint {
    return this.n.unmapAll();
  }

  /**
   * The result object is made here, not in the addon: there its five
   * properties cost several times the ioctl of a one-entry plan, here a
   * literal is nearly free (bench --suite overhead measures both).
   */
  runPlan(op: PlanOp, plan: BigUint64Array): PlanResult {
    const entries = checkPlan(op, plan);
    if (this.#scratch.length < entries) this.#scratch = new Float64Array(Math.max(entries, this.#scratch.length * 2));
    const st = this.#status;
    const unmapped = this.n.runPlanInto(op, plan, this.#scratch, st);
    return {
      ns: this.#scratch.slice(0, st[3]!),
      completed: st[0]!, failedIndex: st[1]!, errno: st[2]!, unmapped, simulated: false,
    };
  }

  runPlanCycles(plan: BigUint64Array, reps: number): PlanCycles {
    checkPlan('map', plan);
    return this.n.runPlanCycles(plan, reps);
  }

  close(): void {
    this.n.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The addon objects behind the wrappers this backend made, for the calls only the native backend has. */
export class Handles<N extends object> {
  readonly #map = new WeakMap<object, N>();

  set(wrapper: object, n: N): void {
    this.#map.set(wrapper, n);
  }

  of(wrapper: unknown): N | undefined {
    return typeof wrapper === 'object' && wrapper !== null ? this.#map.get(wrapper) : undefined;
  }
}
