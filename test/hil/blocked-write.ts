// A device write the IOMMU must block, and the kernel's word for it. The
// memory left untouched is the test's own proof; in the lane on VT-d the
// guest kernel must also have logged intel-iommu's DMAR fault at that IOVA.
import { expect } from 'vitest';
import { KernelLog } from './kmsg.js';
import { blockedWritePattern, inLaneVm } from './lane.js';

/**
 * dmar_fault() (drivers/iommu/intel/dmar.c) prints its "DRHD: handling fault status" line and each
 * fault record under one ratelimit (DEFAULT_RATELIMIT_INTERVAL 5 s, burst 10), and QEMU's VT-d drops a
 * new fault record while an earlier one is pending ("compression of faults"). So after a few faults in
 * quick succession (the lane runs its files back to back) the status line can show with no record
 * (seen once, built kernel). Then the write is run once more after the interval, and the record must
 * show that time.
 */
const DMAR_RATELIMIT_MS = 5_500;

/**
 * Runs `run` (a device write the IOMMU should block). Returns an assertion that, in the lane VM on VT-d,
 * the kernel logged the blocked write at `iova`; elsewhere (AMD-Vi logs nothing, other hosts word it
 * differently) it asserts nothing and the caller's memory check is the proof.
 */
export async function expectBlockedWrite(run: () => Promise<void>, iova: bigint): Promise<() => void> {
  const pattern = inLaneVm ? blockedWritePattern(iova) : null;
  if (pattern === null) {
    await run();
    return () => {};
  }
  const log = new KernelLog();
  try {
    await run();
    let { match, seen } = await log.waitFor(pattern);
    if (match === null && seen.some((line) => /DMAR: DRHD: handling fault status/.test(line))) {
      await new Promise((resolve) => setTimeout(resolve, DMAR_RATELIMIT_MS));
      await run();
      const again = await log.waitFor(pattern);
      match = again.match;
      seen = [...seen, '(ratelimited? the write again after 5.5 s:)', ...again.seen];
    }
    const said = seen.join('\n');
    return () => expect(match, `kernel log after the blocked DMA:\n${said}`).not.toBeNull();
  } finally {
    log.close();
  }
}
