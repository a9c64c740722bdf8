// The runner's view of lib/plan: buildPlan, mapBatch, unmapBatch. lib/plan is
// written concurrently; it is loaded late so this compiles before it lands.
import type { PlanResult } from '../backend.js';
import type { BenchPlanner } from './runner.js';

const PLAN_MODULE = '../plan/index.js';

export async function loadPlanner(): Promise<BenchPlanner> {
  const mod = (await import(PLAN_MODULE)) as BenchPlanner;
  return {
    buildPlan: (requests, strategy, info) => mod.buildPlan(requests, strategy, info),
    mapBatch: (space, plan) => normalize(mod.mapBatch(space, plan)),
    unmapBatch: (space, plan) => normalize(mod.unmapBatch(space, plan)),
  };
}

function normalize(r: PlanResult): PlanResult {
  return { ...r, failedIndex: r.failedIndex ?? -1 };
}
