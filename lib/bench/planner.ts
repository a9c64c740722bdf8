// The planner the benchmark measures: lib/plan, as is.
import { buildPlan, checkLimits, mapBatch, unmapBatch, type Plan } from '../plan/index.js';
import type { BenchPlanner } from './runner.js';

export const defaultPlanner: BenchPlanner<Plan> = {
  buildPlan: (requests, strategy, info) => buildPlan(requests, strategy, info),
  mapBatch: (space, plan) => mapBatch(space, plan),
  unmapBatch: (space, plan) => unmapBatch(space, plan),
  checkLimits: (space, plan) => checkLimits(space, plan),
};
