// `--ref` as addon, C, addon. The C program (ref.ts) can only run once the
// addon's pass over the matrix is over and its group is closed (a group opens
// once), so the two ran in different stretches of time; on a busy or emulated
// machine those drift apart, and single runs read 0.3-1.7x with nothing
// changed. So after C, the addon's kernel loop runs each kept plan once more
// (every repetition in one native call, as the cell was first timed, and as
// C loops), on fresh buffers of the same backing with the plan rebased onto
// them: IOVAs as before, each vaddr at the same offset. The cell's ratio is
// then the median of both addon passes against C's median, which a drift
// linear in time cancels.
import type { Backend, Backing, DmaBuffer } from '../backend.js';
import { PLAN_STRIDE, PLAN_VADDR } from '../backend.js';
import { attachGroup } from '../seam/attach.js';
import { planCyclesOf } from '../seam/capabilities.js';
import type { KeptPlan } from './planner.js';
import { cycleSamples } from './runner.js';

export interface AddonAgain {
  /** Per cell id: the second pass's ns per repetition, warm-up dropped. */
  samples: Map<string, number[]>;
  errors: string[];
}

/** The plan's entries with each vaddr moved from the buffer it was made on to one at `to`. */
export function rebase(plan: KeptPlan, to: bigint): BigUint64Array {
  const out = plan.entries.slice(0, plan.count * PLAN_STRIDE);
  for (let o = PLAN_VADDR; o < out.length; o += PLAN_STRIDE) out[o] = out[o]! - plan.bufferVaddr + to;
  return out;
}

/** The kept plans' kernel loop once more, in a container of its own on `groupId` (closed before it returns). */
export function addonAgain(backend: Backend, groupId: number, plans: Map<string, KeptPlan>, reps: number, warmup: number): AddonAgain {
  const out: AddonAgain = { samples: new Map(), errors: [] };
  // One buffer per backing, as large as the largest the first pass used for it.
  const need = new Map<Backing, bigint>();
  for (const p of plans.values()) {
    const have = need.get(p.backing) ?? 0n;
    need.set(p.backing, p.bufferSize > have ? p.bufferSize : have);
  }
  const buffers = new Map<Backing, DmaBuffer>();
  const attached = attachGroup(backend, groupId);
  try {
    for (const [backing, size] of need) buffers.set(backing, backend.allocBuffer({ size, backing, prefault: true }));
    const cycles = planCyclesOf(attached.container);
    for (const [id, plan] of plans) {
      const c = cycles.run(rebase(plan, buffers.get(plan.backing)!.vaddr), warmup + reps);
      if (c.failedOp !== null) {
        out.errors.push(`addon after C, ${id}: ${c.failedOp} failed at entry ${c.failedIndex}, errno ${c.errno}`);
        attached.container.unmapAll();
        continue;
      }
      out.samples.set(id, cycleSamples(c, plan.op, warmup));
    }
  } finally {
    try {
      attached.container.unmapAll();
    } finally {
      attached.close();
      for (const b of buffers.values()) b.close();
    }
  }
  return out;
}
