// What a type1 container and an iommufd IOAS do alike on the native backend:
// both are a DmaSpace over an addon object that maps, unmaps and runs plans
// the same way, and both read the locked-memory budget from /proc. Each
// subclass adds what its interface has of its own (GET_INFO and dirty pages;
// IOVA_RANGES, kernel-chosen IOVAs, copies).
import { PLAN_STRIDE, type DmaMapping, type DmaSpace, type IommuInfo, type MemlockStatus, type PlanAsyncOptions, type PlanCycles, type PlanOp, type PlanResult } from '../backend.js';
import { cancelledBefore } from '../seam/capabilities.js';
import { Op } from '../error-hints.js';
import { Errno, VfioError, type VfioErrorArgs } from '../errors.js';
import { checkMapping, checkPlan, checkPlanShape, checkRange } from '../seam/args.js';
import { BLOCK_PLAN_ENTRIES, SPACE_CLOSED, type NativeAddon, type NativeSpaceCalls, type NativeSpaceHandle } from './addon.js';
import { readMemlock, readMemlockAsync } from './memlock.js';

/** What a space's errors name: its map and unmap ops, how map's args read, and what is closed. */
export interface SpaceNames {
  map: string;
  unmap: string;
  /** The args a failed map reports, in the interface's own terms. */
  mapArgs(m: DmaMapping, prot: number): VfioErrorArgs;
  /** "the container", "the IOAS": the closed error's hint. */
  what: string;
  /** A hint for a failed map or unmap that only the space can give (asked on the error path only). */
  explain?(err: number): string | null;
}

const BUSY_HINT = 'a plan is running on this space (runPlanAsync): await it, or abort it';

// Prot as the block's word, without a BigInt() per call.
const PROT_WORD = [0n, 1n, 2n, 3n] as const;

export abstract class NativeSpace<N extends NativeSpaceHandle> implements DmaSpace, Disposable {
  readonly simulated = false;
  protected readonly n: N;
  protected readonly addon: NativeAddon;
  readonly #names: SpaceNames;
  // The hot calls (native/space_calls.h): bound to this space, arguments in
  // the block they share with it, so a map costs no unwrap and no BigInt
  // conversion (bench --suite overhead measures what is left).
  readonly #map: () => number;
  readonly #unmap: () => number;
  readonly #runPlan: (isMap: boolean, plan: BigUint64Array, count: number, ns: Float64Array) => number;
  readonly #calls: NativeSpaceCalls;
  readonly #words: BigUint64Array;
  readonly #status: Float64Array;
  // Small plans travel in the block (its plan and ns areas): V8 keeps a fresh
  // typed array of up to 64 bytes (a plan of one or two entries) on its heap
  // and must move it out the first time the addon asks for its data (a
  // malloc, a registry entry, a sweep), which cost more than mapping the
  // page, and even an array off the heap costs two lookups a call.
  readonly #smallPlan: BigUint64Array;
  readonly #smallNs: Float64Array;
  readonly #runSmallPlan: (isMap: boolean, count: number) => number;
  // Bigger plans' per-entry times, kept between calls.
  #scratch = new Float64Array(64);
  // An async plan in flight: every other call is EBUSY until it is done.
  #inFlight = false;

  constructor(addon: NativeAddon, n: N, names: SpaceNames) {
    this.addon = addon;
    this.n = n;
    this.#names = names;
    const calls = n.spaceCalls();
    this.#map = calls.map;
    this.#unmap = calls.unmap;
    this.#runPlan = calls.runPlan;
    this.#calls = calls;
    this.#words = new BigUint64Array(calls.block, 0, 6);
    this.#status = new Float64Array(calls.block, 48, 4);
    this.#smallPlan = new BigUint64Array(calls.block, 80, BLOCK_PLAN_ENTRIES * PLAN_STRIDE);
    this.#smallNs = new Float64Array(calls.block, 80 + BLOCK_PLAN_ENTRIES * PLAN_STRIDE * 8, BLOCK_PLAN_ENTRIES);
    this.#runSmallPlan = calls.runSmallPlan;
  }

  abstract info(): IommuInfo;

  get closed(): boolean {
    return this.n.closed;
  }

  /**
   * RLIMIT_MEMLOCK and VmLck + VmPin; an IOAS adds the counter its iommufd's accounting mode charges
   * (rlimitMode; in 'user' mode that is user->locked_vm, which /proc does not show).
   */
  memlock(): MemlockStatus {
    return readMemlock(() => this.addon.memlockLimit(), this.rlimitMode);
  }

  /** memlock() with the /proc read off the event loop (lib/seam/capabilities.ts memlockAsyncOf). */
  memlockAsync(): Promise<MemlockStatus> {
    return readMemlockAsync(() => this.addon.memlockLimit(), this.rlimitMode);
  }

  /** The iommufd accounting mode this space is charged in; undefined for a type1 container. */
  protected get rlimitMode(): 'user' | 'mm' | undefined {
    return undefined;
  }

  map(m: DmaMapping): void {
    const prot = checkMapping(m);
    if (this.#inFlight) throw this.#busy(this.#names.map);
    const w = this.#words;
    w[0] = m.vaddr;
    w[1] = m.iova;
    w[2] = m.size;
    w[3] = PROT_WORD[prot]!;
    const err = this.#map();
    if (err !== 0) throw this.#failed(err, this.#names.map, () => this.#names.mapArgs(m, prot));
  }

  unmap(iova: bigint, size: bigint): bigint {
    checkRange(iova, size);
    if (this.#inFlight) throw this.#busy(this.#names.unmap);
    const w = this.#words;
    w[1] = iova;
    w[2] = size;
    const err = this.#unmap();
    if (err !== 0) throw this.#failed(err, this.#names.unmap, () => ({ iova, size }));
    return w[4]!;
  }

  unmapAll(): bigint {
    return this.n.unmapAll();
  }

  /** The result object is made here: made in the addon, its five properties cost several times a one-entry plan's ioctl. */
  runPlan(op: PlanOp, plan: BigUint64Array): PlanResult {
    // The seam's shape check here, each entry's flags in the addon: it checks them all before running any
    // (PlanFlagsValid), so the seam's loop over BigInt words (~9 ns an entry; ~440 instructions for one) would
    // only repeat it. When the addon refuses them, checkPlan is asked after all: the refusal is the seam's, word
    // for word.
    const entries = checkPlanShape(op, plan);
    if (this.#inFlight) throw this.#refusePlan(op, plan, this.#busy(Op.PLAN));
    let err: number;
    let ns: Float64Array;
    try {
      if (entries <= BLOCK_PLAN_ENTRIES) {
        // An element loop: set() from a fresh on-heap array cost three times as much (~130 ns against ~40).
        const block = this.#smallPlan;
        for (let k = 0; k < entries * PLAN_STRIDE; k++) block[k] = plan[k]!;
        err = this.#runSmallPlan(op === 'map', entries);
        ns = this.#smallNs;
      } else {
        if (this.#scratch.length < entries) this.#scratch = new Float64Array(Math.max(entries, this.#scratch.length * 2));
        err = this.#runPlan(op === 'map', plan, entries, this.#scratch);
        ns = this.#scratch;
      }
    } catch (e) {
      throw this.#refusePlan(op, plan, e);
    }
    if (err === SPACE_CLOSED) throw this.#refusePlan(op, plan, this.#failed(err, Op.PLAN, () => ({})));
    const st = this.#status;
    return {
      ns: copyTimes(ns, st[3]!),
      // A map unmaps nothing: no BigInt read out of the block for it.
      completed: st[0]!, failedIndex: st[1]!, errno: st[2]!, unmapped: op === 'map' ? 0n : this.#words[4]!, simulated: false,
    };
  }

  runPlanAsync(op: PlanOp, plan: BigUint64Array, opts: PlanAsyncOptions = {}): Promise<PlanResult> {
    let entries: number;
    try {
      // As runPlan: the flags are the addon's to check (before it starts the job), the refusal the seam's.
      entries = checkPlanShape(op, plan);
    } catch (e) {
      return Promise.reject(e);
    }
    const { signal } = opts;
    try {
      if (this.#inFlight) throw this.#refusePlan(op, plan, this.#busy(Op.PLAN));
      if (signal?.aborted && entries > 0) {
        checkPlan(op, plan);
        return Promise.resolve(cancelledBefore(this));
      }
    } catch (e) {
      return Promise.reject(e);
    }
    const ns = new Float64Array(entries);
    return new Promise((resolve, reject) => {
      const onAbort = () => this.#calls.abortPlan();
      const done = () => {
        this.#inFlight = false;
        signal?.removeEventListener('abort', onAbort);
        const st = this.#status;
        resolve({
          ns: st[3]! === entries ? ns : ns.slice(0, st[3]!),
          completed: st[0]!, failedIndex: st[1]!, errno: st[2]!, unmapped: this.#words[4]!, simulated: false,
        });
      };
      let err: number;
      try {
        err = this.#calls.runPlanAsync(op === 'map', plan, entries, ns, done);
      } catch (e) {
        reject(this.#refusePlan(op, plan, e));
        return;
      }
      if (err !== 0) {
        reject(this.#refusePlan(op, plan, err === SPACE_CLOSED ? this.#failed(err, Op.PLAN, () => ({})) : this.#busy(Op.PLAN)));
        return;
      }
      this.#inFlight = true;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  runPlanCycles(plan: BigUint64Array, reps: number): PlanCycles {
    checkPlan('map', plan);
    return this.n.runPlanCycles(plan, reps);
  }

  runBareCycles(plan: BigUint64Array, reps: number): PlanCycles {
    checkPlan('map', plan);
    return this.n.runPlanCycles(plan, reps, true);
  }

  close(): void {
    this.n.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * `e`, unless the plan's flags are wrong: the addon checks those (the seam checked only the shape), and a
   * plan's bad flags are refused before anything else, as the seam's checkPlan refuses them. Asked on error
   * paths only.
   */
  #refusePlan(op: PlanOp, plan: BigUint64Array, e: unknown): unknown {
    checkPlan(op, plan);
    return e;
  }

  #busy(op: string): VfioError {
    return new VfioError(Errno.EBUSY, op, {}, BUSY_HINT);
  }

  #failed(err: number, op: string, args: () => VfioErrorArgs): VfioError {
    if (err === SPACE_CLOSED) return new VfioError(Errno.EBADF, op, {}, `${this.#names.what} is closed`);
    return new VfioError(err, op, args(), this.#names.explain?.(err) ?? undefined);
  }
}

/** The first n times, in an array of their own (for a few, slice() costs twice a new array and an element loop). */
function copyTimes(ns: Float64Array, n: number): Float64Array {
  if (n > 64) return ns.slice(0, n);
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = ns[k]!;
  return out;
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
