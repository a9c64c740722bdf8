// Optional capabilities of the seam, asked for without casts: a backend that
// has one implements the method, and for one that does not, these answer
// "unsupported" (EOPNOTSUPP, naming what is missing) by themselves.
import {
  type Container, type Device, type DirtyTracking, type DmaSpace, type HwptDirty, type Iommufd, type MemlockStatus,
  type PlanAsyncOptions, type PlanCycles, type PlanOp, type PlanResult,
} from '../backend.js';
import { DEVICE_CALLS, type OptionalDeviceCall } from '../device-calls.js';
import { Errno, VfioError } from '../errors.js';

/** The space's dirty tracking, or null when it has none. */
export function dirtyTrackingOf(space: DmaSpace): DirtyTracking | null {
  return space.dirtyTracking?.() ?? null;
}

/** iommufd's HWPT dirty tracking, or null when the backend has none. */
export function hwptDirtyOf(fd: Iommufd): HwptDirty | null {
  return fd.hwptDirty?.() ?? null;
}

/**
 * An optional device call (a method Device marks `?`: a device ioctl not every backend issues), bound to the
 * device; where its backend has none, a function that throws the seam's EOPNOTSUPP (unsupported() below) naming
 * the ioctl: not the kernel's answer to an ioctl it lacks (ENOTTY), which a backend that issues the call passes on.
 * One function for every such call: a new device ioctl adds nothing here.
 */
export function deviceCallOf<K extends OptionalDeviceCall>(device: Device, call: K): NonNullable<Device[K]> {
  const fn: unknown = device[call];
  if (typeof fn === 'function') return fn.bind(device) as NonNullable<Device[K]>;
  const op = DEVICE_CALLS[call].op;
  const refuse = (): never => {
    throw unsupported(op, `the backend behind device ${device.name} does not implement ${call}() (${op})`);
  };
  return refuse as NonNullable<Device[K]>;
}

/** The refusal for a capability a space or backend lacks. */
export function unsupported(op: string, what: string): VfioError {
  return new VfioError(Errno.EOPNOTSUPP, op, {}, what);
}

/** A type1 container's dirty tracking: its DIRTY_PAGES calls, as one capability. */
export function containerDirtyTracking(c: Container): DirtyTracking {
  return {
    start: () => c.dirtyStart(),
    stop: () => c.dirtyStop(),
    get: (iova, size, pageSize) => c.dirtyGet(iova, size, pageSize),
  };
}

export interface Cycles {
  run(plan: BigUint64Array, reps: number): PlanCycles;
  /** True when the repetitions run inside one native call (no JS between them). */
  native: boolean;
}

/**
 * Repeated (map plan, unmap plan) on a space: inside one native call where
 * the space can (runPlanCycles), otherwise the same loop here over runPlan,
 * which is exact for a cost model that does not see the JS between calls.
 */
export function planCyclesOf(space: DmaSpace): Cycles {
  if (space.runPlanCycles) return { run: (plan, reps) => space.runPlanCycles!(plan, reps), native: true };
  return { run: (plan, reps) => cyclesOverRunPlan(space, plan, reps), native: false };
}

/** The C reference's loop in this process (runBareCycles), where the space has one; null otherwise (the sim). */
export function bareCyclesOf(space: DmaSpace): ((plan: BigUint64Array, reps: number) => PlanCycles) | null {
  return space.runBareCycles ? (plan, reps) => space.runBareCycles!(plan, reps) : null;
}

function cyclesOverRunPlan(space: DmaSpace, plan: BigUint64Array, reps: number): PlanCycles {
  const mapNs = new Float64Array(reps);
  const unmapNs = new Float64Array(reps);
  const sumOf = (ns: Float64Array) => ns.reduce((a, b) => a + b, 0);
  for (let r = 0; r < reps; r++) {
    const m = space.runPlan('map', plan);
    if (m.failedIndex >= 0) return { mapNs: mapNs.subarray(0, r), unmapNs: unmapNs.subarray(0, r), completed: r, failedOp: 'map', failedIndex: m.failedIndex, errno: m.errno };
    const u = space.runPlan('unmap', plan);
    if (u.failedIndex >= 0) return { mapNs: mapNs.subarray(0, r), unmapNs: unmapNs.subarray(0, r), completed: r, failedOp: 'unmap', failedIndex: u.failedIndex, errno: u.errno };
    mapNs[r] = sumOf(m.ns);
    unmapNs[r] = sumOf(u.ns);
  }
  return { mapNs, unmapNs, completed: reps, failedOp: null, failedIndex: -1, errno: 0 };
}

/**
 * The space's memlock reading as a promise: off the event loop where the
 * space can (memlockAsync: the native backend reads /proc on libuv's pool),
 * otherwise memlock() itself (the sim answers from memory).
 */
export function memlockAsyncOf(space: DmaSpace): () => Promise<MemlockStatus> {
  if (space.memlockAsync) return () => space.memlockAsync!();
  return async () => space.memlock();
}

export interface PlanAsync {
  run(op: PlanOp, plan: BigUint64Array, opts?: PlanAsyncOptions): Promise<PlanResult>;
  /** True when the plan runs off the event loop (a native thread); false: on it, after a turn of the loop. */
  offLoop: boolean;
}

/**
 * runPlan as a promise: off the event loop where the space can
 * (runPlanAsync), otherwise runPlan after a turn of the loop, the signal
 * checked first, with the same result shape (a space without a thread to
 * pin on, the sim, does not block for long).
 */
export function planAsyncOf(space: DmaSpace): PlanAsync {
  if (space.runPlanAsync) return { run: (op, plan, opts) => space.runPlanAsync!(op, plan, opts), offLoop: true };
  return { run: (op, plan, opts) => runPlanLater(space, op, plan, opts), offLoop: false };
}

async function runPlanLater(space: DmaSpace, op: PlanOp, plan: BigUint64Array, opts: PlanAsyncOptions = {}): Promise<PlanResult> {
  await new Promise((resolve) => setImmediate(resolve));
  if (opts.signal?.aborted && plan.length > 0) return cancelledBefore(space);
  return space.runPlan(op, plan);
}

/** The result of a plan stopped before its first entry. */
export function cancelledBefore(space: DmaSpace): PlanResult {
  return { ns: new Float64Array(0), completed: 0, failedIndex: 0, errno: Errno.ECANCELED, unmapped: 0n, simulated: space.simulated };
}
