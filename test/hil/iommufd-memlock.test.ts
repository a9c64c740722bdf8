// iommufd's locked-memory accounting on the real kernel (pages.c
// do_update_pinned): without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 64 KiB,
// 'user' mode charges user->locked_vm (invisible in /proc) and 'mm' mode
// mm->locked_vm (VmLck, like type1); both refuse a pin past the limit with
// ENOMEM; every pinned page also counts in mm->pinned_vm (VmPin) whatever the
// mode; an IOAS with no device pins and charges nothing; the last domain
// leaving uncharges. Figures are [VmLck, VmPin] deltas in KiB. test/unit/sim-iommufd-memlock.test.ts holds the sim to the same figures.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Errno } from '../../lib/errors.js';
import { eduCdev } from '../conformance/iommufd-cdev.js';
import { onVfioHost, SKIP_REASON } from './lane.js';
import { runChild, SETPRIV } from './spawn-child.js';

type Vm = [number, number];
interface Report {
  mode: string;
  lazyBigErrno: number | null;
  lockedLazy: Vm;
  lockedSmall: Vm;
  attachedBigErrno: number | null;
  lockedAfterBig: Vm;
  lockedDetached: Vm;
  lockedReattached: Vm;
  lockedClosed: Vm;
}

const LIMIT_KIB = 64;
const SMALL_KIB = 16;
const BIG_KIB = 1024;
const cdev = onVfioHost ? eduCdev() : { none: SKIP_REASON };
const why = typeof cdev !== 'string' ? cdev.none : !existsSync('/dev/iommu') ? 'no /dev/iommu' : !SETPRIV ? 'needs util-linux setpriv' : null;

function run(mode: 'user' | 'mm'): Report {
  return runChild<Report>('iommufd-memlock-child.ts', {
    memlockKiB: LIMIT_KIB, dropIpcLock: true,
    env: { MODE: mode, CDEV: cdev as string, MEMLOCK_SMALL: String(SMALL_KIB * 1024), MEMLOCK_BIG: String(BIG_KIB * 1024) },
  });
}

describe.skipIf(why !== null)(`iommufd RLIMIT_MEMLOCK accounting${why ? ` (skipped: ${why})` : ''}`, () => {
  it('user mode (the default): enforced against the limit; VmLck untouched, VmPin counts the pins', () => {
    const r = run('user');
    expect(r.mode).toBe('user');
    expect([r.lazyBigErrno, r.lockedLazy]).toEqual([null, [0, 0]]);
    expect(r.lockedSmall).toEqual([0, SMALL_KIB]);
    expect(r.attachedBigErrno).toBe(Errno.ENOMEM);
    expect([r.lockedAfterBig, r.lockedDetached, r.lockedReattached, r.lockedClosed])
      .toEqual([[0, SMALL_KIB], [0, 0], [0, SMALL_KIB], [0, 0]]);
  });

  it('mm mode: charged to VmLck like type1 (and VmPin), refused past the limit, uncharged when the last domain leaves', () => {
    const r = run('mm');
    expect(r.mode).toBe('mm');
    expect([r.lazyBigErrno, r.lockedLazy]).toEqual([null, [0, 0]]);
    expect(r.lockedSmall).toEqual([SMALL_KIB, SMALL_KIB]);
    expect(r.attachedBigErrno).toBe(Errno.ENOMEM);
    expect([r.lockedAfterBig, r.lockedDetached, r.lockedReattached, r.lockedClosed])
      .toEqual([[SMALL_KIB, SMALL_KIB], [0, 0], [SMALL_KIB, SMALL_KIB], [0, 0]]);
  });
});
