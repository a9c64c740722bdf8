// Differences between the sim and the kernel that are reported (in
// notes/sim-bugs.md) but not fixed yet. A sequence whose first difference is
// one of these is counted under the bug's id and printed, not failed; every
// other difference fails the run. Add an entry only with its report, and
// remove it when the bug is fixed.
//
// History: S1 (the sim mapped vaddrs the process did not have: 0x1000 and the
// top page; the kernel answers EFAULT) was listed here until lib/sim fixed it.
import type { KnownBug } from './campaign.js';

export const knownSimBugs: KnownBug = () => null;
