// Shrinks a failing sequence by deleting operations while it still fails:
// first halves, then ever smaller chunks, then single operations (a greedy
// ddmin). `fails` re-runs the candidate from scratch on fresh containers.
import type { Op, Sequence } from './ops.js';

export function shrink(seq: Sequence, fails: (s: Sequence) => boolean, budget = 400): { seq: Sequence; tries: number } {
  let best = seq;
  let tries = 0;
  let chunk = Math.max(1, Math.floor(best.ops.length / 2));
  while (chunk >= 1 && tries < budget) {
    let removed = false;
    for (let start = 0; start < best.ops.length && tries < budget;) {
      const candidate: Sequence = { ...best, ops: [...best.ops.slice(0, start), ...best.ops.slice(start + chunk)] };
      tries++;
      if (candidate.ops.length < best.ops.length && fails(candidate)) {
        best = candidate;
        removed = true;
      } else {
        start += chunk;
      }
    }
    if (!removed) chunk = Math.floor(chunk / 2);
  }
  // Then the entries of each plan, one at a time.
  for (let i = 0; i < best.ops.length && tries < budget; i++) {
    for (let k = 0; tries < budget;) {
      const op = best.ops[i]!;
      if (op.op !== 'runPlan' || k >= op.items.length) break;
      const smaller: Op = { ...op, items: op.items.filter((_, j) => j !== k) };
      const candidate: Sequence = { ...best, ops: best.ops.map((o, j) => (j === i ? smaller : o)) };
      tries++;
      if (fails(candidate)) best = candidate;
      else k++;
    }
  }
  return { seq: best, tries };
}
