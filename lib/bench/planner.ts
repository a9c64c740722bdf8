// The planner the benchmark measures (lib/plan, as is), and the shape any
// planner it is given has: what the runner, the overhead suite and the C
// reference need of one.
import { buildPlan, checkLimits, mapBatch, unmapBatch, type Plan } from '../plan/index.js';
import type { Backing, DmaMapping, DmaSpace, IommuInfo } from '../backend.js';
import type { Strategy } from './names.js';

/** What the runner needs of lib/plan (its Plan and BatchResult fit); injected so tests can wrap it. */
export interface BenchPlan {
  entries: BigUint64Array;
  count: number;
}
export interface BatchTimings {
  /** ns per plan entry, from the backend's plan executor. */
  ns: Float64Array;
}
/** mapBatch/unmapBatch are all-or-nothing: they throw (after unwinding) instead of returning a failure. */
export interface BenchPlanner<P extends BenchPlan = BenchPlan> {
  buildPlan(requests: DmaMapping[], strategy: Strategy, info: IommuInfo): P;
  mapBatch(space: DmaSpace, plan: P): BatchTimings;
  unmapBatch(space: DmaSpace, plan: P): BatchTimings;
  /** The pre-pinning limits check mapBatch runs, when it can be timed on its own. */
  checkLimits?(space: DmaSpace, plan: P): unknown;
}

/** A cell's plan as run, kept for the C reference (ref.ts) to run again. */
export interface KeptPlan {
  backing: Backing;
  bufferSize: bigint;
  bufferVaddr: bigint;
  iovaBase: bigint;
  entries: BigUint64Array;
  count: number;
  op: 'map' | 'unmap';
}

export const defaultPlanner: BenchPlanner<Plan> = {
  buildPlan: (requests, strategy, info) => buildPlan(requests, strategy, info),
  mapBatch: (space, plan) => mapBatch(space, plan),
  unmapBatch: (space, plan) => unmapBatch(space, plan),
  checkLimits: (space, plan) => checkLimits(space, plan),
};
