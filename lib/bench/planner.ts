// The planner the benchmark measures: lib/plan, as is.
import { mapBatch, unmapBatch } from '../plan/batch.js';
import { buildPlan, type Plan } from '../plan/build.js';
import type { BenchPlanner } from './runner.js';

export const defaultPlanner: BenchPlanner<Plan> = {
  buildPlan: (requests, strategy, info) => buildPlan(requests, strategy, info),
  mapBatch: (space, plan) => mapBatch(space, plan),
  unmapBatch: (space, plan) => unmapBatch(space, plan),
};
