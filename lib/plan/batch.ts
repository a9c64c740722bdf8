// Executes plans, all or nothing. (runPlan throws only when it rejects its
// arguments before running anything; failures while running are reported in
// its result, which is what the unwind works from.)
// A map batch that fails at entry k unmaps the
// k entries it mapped (and nothing else: earlier mappings stay), then throws a
// BatchError naming entry k, the requests it covered and the errno. If that
// unwind fails too, the error says what is still mapped, in `leaked`, and a
// process warning repeats it: a pinned page is never left behind silently.
import { PLAN_FLAGS, PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, PLAN_VADDR, type DmaSpace, type PlanOp, type PlanResult } from '../backend.js';
import { planAsyncOf } from '../seam/capabilities.js';
import { Errno, VfioError, errnoCode } from '../errors.js';
import type { Plan, Strategy } from './build.js';
import { checkLimits, checkLimitsAsync, forgetLimits, limitCheckWorthwhile, noteMapped, noteUnmapped, type Headroom } from './limits.js';
import type { MappedSet } from './mapped-set.js';

export interface BatchResult {
  op: PlanOp;
  strategy: Strategy;
  /** Calls issued. */
  count: number;
  /** Bytes the plan covers. */
  bytes: bigint;
  /** Nanoseconds per call, from the backend (runPlan). */
  ns: Float64Array;
  totalNs: number;
  /** True when the timings come from the simulator's cost model. */
  simulated: boolean;
  /** Unmap: bytes the kernel reported unmapped (less than bytes if some were not mapped). */
  unmapped: bigint;
  /** Map: the limits checked before pinning (null when the check was skipped or not worthwhile). */
  headroom: Headroom | null;
}

export interface BatchOptions {
  /** Records what the batch mapped / unmapped, for planning later batches around it. */
  tracker?: MappedSet;
  /**
   * Check RLIMIT_MEMLOCK and DMA entries before mapping: always (true), never
   * (false), or where it can save pinning or unwinding ('auto', the default:
   * every plan but one entry of at most KERNEL_PIN_BATCH pages).
   */
  checkLimits?: boolean | 'auto';
}

export interface AsyncBatchOptions extends BatchOptions {
  /** Stops the batch between entries; what it mapped is unwound (mapBatchAsync). */
  signal?: AbortSignal;
}

export interface UnwindFailure {
  /** Plan entry whose unmap failed. */
  index: number;
  errno: number;
  code: string;
}

/** A failed batch: which entry, which requests, what was undone, what is still mapped. */
export class BatchError extends VfioError {
  /** Plan entry that failed. */
  readonly index: number;
  readonly iova: bigint;
  readonly size: bigint;
  /** Requests (indexes into the planner's input) that entry covered, inclusive. */
  readonly firstRequest: number;
  readonly lastRequest: number;
  /** Entries of the batch that had succeeded before it. */
  readonly completed: number;
  /** Plan entries (PLAN_STRIDE words each) still mapped because undoing them failed; empty when clean. */
  readonly leaked: BigUint64Array;
  readonly unwindFailures: readonly UnwindFailure[];

  constructor(errno: number, op: string, plan: Plan, index: number, completed: number,
    leaked: BigUint64Array, unwindFailures: UnwindFailure[], hint: string) {
    const o = index * PLAN_STRIDE;
    const iova = plan.entries[o + PLAN_IOVA] as bigint;
    const size = plan.entries[o + PLAN_SIZE] as bigint;
    // -1 when the plan does not say (built by hand rather than by buildPlan).
    const first = plan.firstRequest?.[index] ?? -1;
    const last = plan.lastRequest?.[index] ?? -1;
    super(errno, op, {
      entry: index,
      of: plan.count,
      iova,
      size,
      requests: first === last ? `${first}` : `${first}..${last}`,
      ...(leaked.length ? { leaked: leaked.length / PLAN_STRIDE } : {}),
    }, hint);
    this.index = index;
    this.iova = iova;
    this.size = size;
    this.firstRequest = first;
    this.lastRequest = last;
    this.completed = completed;
    this.leaked = leaked;
    this.unwindFailures = unwindFailures;
  }

  /** The leaked entries as spans. */
  leakedSpans(): { iova: bigint; size: bigint }[] {
    const spans = [];
    for (let o = 0; o < this.leaked.length; o += PLAN_STRIDE) {
      spans.push({ iova: this.leaked[o + PLAN_IOVA] as bigint, size: this.leaked[o + PLAN_SIZE] as bigint });
    }
    return spans;
  }
}

export function mapBatch(space: DmaSpace, plan: Plan, opts: BatchOptions = {}): BatchResult {
  checkPlanShape(plan);
  const room = limitsBefore(space, plan, opts);
  return finishMap(space, plan, space.runPlan('map', plan.entries), room, opts);
}

/**
 * mapBatch off the event loop (the native backend pins on libuv's thread
 * pool; see planAsyncOf): the same checks before, the same all-or-nothing
 * after, from the same code. An abort (opts.signal) stops the plan between
 * entries and unwinds what it mapped, as any failure does: the BatchError
 * says ECANCELED.
 */
export async function mapBatchAsync(space: DmaSpace, plan: Plan, opts: AsyncBatchOptions = {}): Promise<BatchResult> {
  checkPlanShape(plan);
  const room = limitsWanted(plan, opts) ? await checkLimitsAsync(space, plan) : null;
  const r = await planAsyncOf(space).run('map', plan.entries, { signal: opts.signal });
  return finishMap(space, plan, r, room, opts);
}

function limitsBefore(space: DmaSpace, plan: Plan, opts: BatchOptions): Headroom | null {
  return limitsWanted(plan, opts) ? checkLimits(space, plan) : null;
}

function limitsWanted(plan: Plan, opts: BatchOptions): boolean {
  const when = opts.checkLimits ?? 'auto';
  return when === true || (when === 'auto' && limitCheckWorthwhile(plan));
}

function finishMap(space: DmaSpace, plan: Plan, r: PlanResult, room: Headroom | null, opts: BatchOptions): BatchResult {
  if (r.failedIndex < 0) {
    opts.tracker?.addPlan(plan.entries, plan.count);
    noteMapped(space, plan.bytes, plan.count);
    return result('map', plan, r.ns, r.simulated, 0n, room);
  }

  // MAP_DMA itself is atomic: the failed entry mapped nothing. Undo the ones before it.
  const mapped = Math.min(r.completed, r.failedIndex);
  const undo = unmapEach(space, plan.entries.subarray(0, mapped * PLAN_STRIDE));
  const why = r.errno === Errno.ECANCELED ? 'stopped by its AbortSignal' : new VfioError(r.errno, 'MAP_DMA').hint;
  const covered = plan.firstRequest?.[r.failedIndex] === undefined ? ''
    : ` (requests ${plan.firstRequest[r.failedIndex]}..${plan.lastRequest[r.failedIndex]})`;
  const at = `entry ${r.failedIndex} of ${plan.count}${covered} failed`;
  if (undo.failures.length === 0) {
    throw new BatchError(r.errno, 'MAP_DMA plan', plan, r.failedIndex, mapped, new BigUint64Array(0), [],
      `${why ? `${why}; ` : ''}${at}; the ${mapped} entries mapped before it were unmapped again, earlier mappings untouched`);
  }
  const leaked = pickEntries(plan.entries, undo.failures.map((f) => f.index));
  opts.tracker?.addPlan(leaked);
  forgetLimits(space);
  const err = new BatchError(r.errno, 'MAP_DMA plan', plan, r.failedIndex, mapped, leaked, undo.failures,
    `${at} (${why ?? errnoCode(r.errno)}), and undoing it FAILED: ${describeLeak(leaked, undo.failures)} `
    + 'are STILL MAPPED and pinned. Unmap them (BatchError.leaked) or close the container');
  warnLeak(err);
  throw err;
}

export function unmapBatch(space: DmaSpace, plan: Plan, opts: BatchOptions = {}): BatchResult {
  checkPlanShape(plan);
  return finishUnmap(space, plan, unmapEach(space, plan.entries), opts);
}

/**
 * unmapBatch off the event loop: the whole plan on the pool first; past a
 * failed entry, the rest as unmapBatch goes on (a transient errno retried,
 * carrying on past failures), so the outcome and the error are the same.
 * An abort stops it between entries: the BatchError (ECANCELED) lists the
 * entries still mapped, which an unmap cannot roll back.
 */
export async function unmapBatchAsync(space: DmaSpace, plan: Plan, opts: AsyncBatchOptions = {}): Promise<BatchResult> {
  checkPlanShape(plan);
  const r = await planAsyncOf(space).run('unmap', plan.entries, { signal: opts.signal });
  if (r.failedIndex < 0) return finishUnmap(space, plan, { ns: r.ns, simulated: r.simulated, unmapped: r.unmapped, failures: [] }, opts);
  const at = r.failedIndex;
  if (r.errno === Errno.ECANCELED) {
    opts.tracker?.deletePlan(plan.entries.subarray(0, at * PLAN_STRIDE), at);
    noteUnmapped(space, r.unmapped, at);
    const left = plan.entries.slice(at * PLAN_STRIDE);
    throw new BatchError(Errno.ECANCELED, 'UNMAP_DMA plan', plan, at, at, left, [],
      `stopped by its AbortSignal at entry ${at} of ${plan.count}: the ${at} entries before it were unmapped, `
      + `the other ${plan.count - at} are still mapped (BatchError.leaked)`);
  }
  const rest = unmapEach(space, plan.entries.subarray(at * PLAN_STRIDE));
  const ns = new Float64Array(plan.count);
  ns.set(r.ns.subarray(0, at));
  ns.set(rest.ns, at);
  return finishUnmap(space, plan, {
    ns, simulated: rest.simulated, unmapped: r.unmapped + rest.unmapped,
    failures: rest.failures.map((f) => ({ ...f, index: f.index + at })),
  }, opts);
}

function finishUnmap(space: DmaSpace, plan: Plan, undo: UnmapOutcome, opts: BatchOptions): BatchResult {
  if (undo.failures.length === 0) {
    opts.tracker?.deletePlan(plan.entries, plan.count);
    noteUnmapped(space, undo.unmapped, plan.count);
    return result('unmap', plan, undo.ns, undo.simulated, undo.unmapped, null);
  }
  forgetLimits(space);
  // An unmap cannot be rolled back (mapping again could pin other pages); the
  // rest of the batch was still attempted, and the error says what is left.
  const failed = new Set(undo.failures.map((f) => f.index));
  const done = [];
  for (let k = 0; k < plan.count; k++) if (!failed.has(k)) done.push(k);
  opts.tracker?.deletePlan(pickEntries(plan.entries, done));
  const leaked = pickEntries(plan.entries, [...failed]);
  const first = undo.failures[0] as UnwindFailure;
  const err = new BatchError(first.errno, 'UNMAP_DMA plan', plan, first.index, plan.count - failed.size, leaked, undo.failures,
    `${describeLeak(leaked, undo.failures)} could not be unmapped and are STILL MAPPED; the other `
    + `${plan.count - failed.size} entries were unmapped`);
  warnLeak(err);
  throw err;
}

interface UnmapOutcome {
  ns: Float64Array;
  simulated: boolean;
  unmapped: bigint;
  failures: UnwindFailure[];
}

// Errnos after which the same call can succeed: only these are retried. Any
// other failure would fail again the same way, so it is reported, not retried.
const TRANSIENT = new Set<number>([Errno.EINTR, Errno.EAGAIN]);

// Unmaps every entry, carrying on past failures; one that failed transiently
// is retried once on its own.
function unmapEach(space: DmaSpace, entries: BigUint64Array): UnmapOutcome {
  const count = entries.length / PLAN_STRIDE;
  let ns: Float64Array | null = null;
  const failures: UnwindFailure[] = [];
  let unmapped = 0n;
  let simulated = space.simulated;
  let offset = 0;
  while (offset < count) {
    let r: PlanResult;
    try {
      // The whole plan as it is the first time round: a subarray is one more allocation.
      r = space.runPlan('unmap', offset === 0 ? entries : entries.subarray(offset * PLAN_STRIDE));
    } catch (e) {
      // The backend threw instead of reporting: nothing after offset is known to be unmapped.
      const errno = e instanceof VfioError ? e.errno : 0;
      for (let k = offset; k < count; k++) failures.push({ index: k, errno, code: errnoCode(errno) });
      break;
    }
    simulated = r.simulated;
    if (offset === 0 && r.ns.length === count) {
      // Every entry timed in one call (the usual case): its times are the batch's, no copy.
      ns = r.ns;
    } else {
      ns ??= new Float64Array(count);
      ns.set(r.ns.subarray(0, Math.min(r.ns.length, count - offset)), offset);
    }
    unmapped += r.unmapped;
    if (r.failedIndex < 0) break;
    const bad = offset + r.failedIndex;
    let errno = r.errno;
    if (TRANSIENT.has(errno)) {
      try {
        unmapped += space.unmap(entries[bad * PLAN_STRIDE + PLAN_IOVA] as bigint, entries[bad * PLAN_STRIDE + PLAN_SIZE] as bigint);
        errno = 0;
      } catch (e) {
        errno = e instanceof VfioError ? e.errno : errno;
      }
    }
    if (errno !== 0) failures.push({ index: bad, errno, code: errnoCode(errno) });
    offset = bad + 1;
  }
  return { ns: ns ?? new Float64Array(count), simulated, unmapped, failures };
}

function result(op: PlanOp, plan: Plan, ns: Float64Array, simulated: boolean, unmapped: bigint, room: Headroom | null): BatchResult {
  let totalNs = 0;
  for (let k = 0; k < ns.length; k++) totalNs += ns[k] as number;
  return { op, strategy: plan.strategy, count: plan.count, bytes: plan.bytes, ns, totalNs, simulated, unmapped, headroom: room };
}

function checkPlanShape(plan: Plan): void {
  if (!(plan?.entries instanceof BigUint64Array)) throw new TypeError('plan.entries must be a BigUint64Array (use buildPlan)');
  if (plan.entries.length !== plan.count * PLAN_STRIDE) {
    throw new RangeError(`plan has ${plan.entries.length} words for ${plan.count} entries of ${PLAN_STRIDE}`);
  }
}

function pickEntries(entries: BigUint64Array, indexes: number[]): BigUint64Array {
  const out = new BigUint64Array(indexes.length * PLAN_STRIDE);
  indexes.forEach((k, j) => {
    for (const f of [PLAN_VADDR, PLAN_IOVA, PLAN_SIZE, PLAN_FLAGS]) out[j * PLAN_STRIDE + f] = entries[k * PLAN_STRIDE + f] as bigint;
  });
  return out;
}

function describeLeak(leaked: BigUint64Array, failures: UnwindFailure[]): string {
  const n = leaked.length / PLAN_STRIDE;
  let bytes = 0n;
  for (let o = 0; o < leaked.length; o += PLAN_STRIDE) bytes += leaked[o + PLAN_SIZE] as bigint;
  const shown = [];
  for (let j = 0; j < Math.min(n, 3); j++) {
    const f = failures[j] as UnwindFailure;
    shown.push(`iova 0x${(leaked[j * PLAN_STRIDE + PLAN_IOVA] as bigint).toString(16)}+0x${(leaked[j * PLAN_STRIDE + PLAN_SIZE] as bigint).toString(16)} (${f.code})`);
  }
  return `${n} entries (${bytes} bytes: ${shown.join(', ')}${n > 3 ? ', ...' : ''})`;
}

function warnLeak(err: BatchError): void {
  process.emitWarning(err.message, { code: 'VFIO_DMA_LEAK', detail: 'see BatchError.leaked' });
}
