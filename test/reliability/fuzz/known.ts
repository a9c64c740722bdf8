// Differences between the sim and the kernel that are reported (in
// notes/sim-bugs.md) but not fixed yet. A sequence whose first difference is
// one of these is counted under the bug's id and printed, not failed; every
// other difference fails the run. Remove an entry when its bug is fixed.
import type { KnownBug } from './campaign.js';
import type { Op } from './ops.js';

// vaddr 0x1000 (below mmap_min_addr) and 2^64 - 4 KiB (above the user address
// space; with a one-page size it does not wrap) are never mapped in a process.
const notMapped = (kind: string) => kind === 'unmapped' || kind === 'wrap';

function touchesUnmappedVa(op: Op | undefined): boolean {
  if (!op) return false;
  if (op.op === 'map') return notMapped(op.va.kind);
  return op.op === 'runPlan' && op.kind === 'map' && op.items.some((it) => notMapped(it.va.kind));
}

/** S1: the kernel cannot pin memory the process does not have (EFAULT); the sim maps it. */
export const knownSimBugs: KnownBug = (seq, at, kernel) => {
  const efault = kernel.startsWith('VfioError EFAULT') || / errno 14 /.test(kernel);
  return efault && touchesUnmappedVa(seq.ops[at]) ? 'S1 (sim maps a vaddr the process has not mapped; kernel EFAULT)' : null;
};
