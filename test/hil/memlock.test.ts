// RLIMIT_MEMLOCK against the real type1 driver: pinning for MAP_DMA is charged
// to the process, and a mapping that would exceed the limit fails with ENOMEM
// and leaves nothing pinned. Root is exempt through CAP_IPC_LOCK, so each case
// runs in a child process with the limit set and, for the real check, the
// capability dropped.
import { describe, expect, it } from 'vitest';
import { Errno } from '../../lib/errors.js';
import { KernelLog } from './kmsg.js';
import { inLaneVm, onVfioHost, SKIP_REASON, testDevice } from './lane.js';
import { runChild, SETPRIV } from './spawn-child.js';

interface MemlockReport {
  exempt: boolean;
  limit: string | null;
  lockedBeforeBig: number;
  lockedAfterBig: number;
  lockedAfterUnmap: number;
  bigError: { errno: number; code: string; hint: string | null } | null;
  unmappedBig: string;
  unmappedSmall: string;
}

const LIMIT_KIB = 64; // 16 pages: the small buffer (4 pages) fits, the big one (256) does not
const SMALL_KIB = 16;
const BIG_KIB = 1024;

describe.skipIf(!onVfioHost || !SETPRIV)(`RLIMIT_MEMLOCK on MAP_DMA (${SKIP_REASON}; needs util-linux setpriv)`, () => {
  const env: Record<string, string> = {
    VFIO_TEST_GROUP: onVfioHost ? String(testDevice().group) : '',
    MEMLOCK_SMALL: String(SMALL_KIB * 1024),
    MEMLOCK_BIG: String(BIG_KIB * 1024),
  };

  it('refuses a mapping beyond the limit with ENOMEM and unwinds the pinning', async () => {
    const log = inLaneVm ? new KernelLog() : null;
    let r: MemlockReport;
    try {
      r = runChild<MemlockReport>('memlock-child.ts', { memlockKiB: LIMIT_KIB, dropIpcLock: true, env });
      if (log) {
        // The type1 driver names the limit it enforced.
        const { match, seen } = await log.waitFor(new RegExp(`RLIMIT_MEMLOCK \\(${LIMIT_KIB * 1024}\\) exceeded`));
        expect(match, `kernel log during the child run:\n${seen.join('\n')}`).not.toBeNull();
      }
    } finally {
      log?.close();
    }
    expect(r.exempt).toBe(false);
    expect(r.limit).toBe(String(LIMIT_KIB * 1024));
    // The small mapping was charged...
    expect(r.lockedBeforeBig).toBeGreaterThanOrEqual(SMALL_KIB);
    // ...the big one failed as the kernel says it does...
    expect(r.bigError?.errno).toBe(Errno.ENOMEM);
    expect(r.bigError?.code).toBe('ENOMEM');
    // ...and left no page of it pinned.
    expect(r.lockedAfterBig).toBe(r.lockedBeforeBig);
    expect(r.unmappedSmall).toBe(String(SMALL_KIB * 1024));
    expect(r.lockedAfterUnmap).toBe(r.lockedBeforeBig - SMALL_KIB);
  });

  it('lets the same mapping through when CAP_IPC_LOCK is kept (root is exempt)', () => {
    const r = runChild<MemlockReport>('memlock-child.ts', { memlockKiB: LIMIT_KIB, dropIpcLock: false, env });
    expect(r.exempt).toBe(true);
    expect(r.bigError).toBeNull();
    expect(r.unmappedBig).toBe(String(BIG_KIB * 1024));
  });
});
