// Shrinks a failing sequence by deleting operations while it still fails:
// first halves, then ever smaller chunks, then single operations (a greedy
// ddmin). `fails` re-runs the candidate from scratch on fresh containers.
import type { Sequence } from './ops.js';

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
  // A smaller dma_entry_limit or the other IOMMU type is not simpler; the ops are what matter.
  return { seq: best, tries };
}
