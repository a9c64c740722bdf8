// iommufd's locked-memory accounting on the real kernel (pages.c
// do_update_pinned): without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 64 KiB,
// 'user' mode charges user->locked_vm (invisible in /proc) and 'mm' mode
// mm->locked_vm (VmLck, like type1); both refuse a pin past the limit with
// ENOMEM; every pinned page also counts in mm->pinned_vm (VmPin) whatever the
// mode; an IOAS with no device pins and charges nothing; the last domain
// leaving uncharges. Figures are [VmLck, VmPin] deltas in KiB. test/unit/sim-iommufd-memlock.test.ts holds the sim to the same figures.
// Then the planner's pre-check (lib/plan/limits.ts) in each mode: with half
// the limit mapped, a batch that exactly fills it is judged to fit and the
// kernel takes it; a page more is refused by the pre-check before any ioctl
// (ENOMEM, the memlock hint), and with the check bypassed by the kernel
// (ENOMEM at the entry that crosses the limit, unwound). In 'mm' mode the
// check must count VmLck alone: the same pins also raise VmPin, and counting
// both (as for type1) would refuse the second half.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SZ_4K } from '../../lib/backend.js';
import { Errno } from '../../lib/errors.js';
import { eduCdev } from '../conformance/iommufd-cdev.js';
import { onVfioHost, SKIP_REASON } from './lane.js';
import { runChild, SETPRIV } from './spawn-child.js';

const PAGE = Number(SZ_4K);

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
  /** Or, when the pre-check scenario threw, why. */
  precheck: PrecheckReport | { error: string };
}

const LIMIT_KIB = 64;
const SMALL_KIB = 16;
const BIG_KIB = 1024;
const cdev = onVfioHost ? eduCdev() : { none: SKIP_REASON };
const why = typeof cdev !== 'string' ? cdev.none : !existsSync('/dev/iommu') ? 'no /dev/iommu' : !SETPRIV ? 'needs util-linux setpriv' : null;

// One child per mode (its start-up is most of the ~20 s under TCG), shared by that mode's tests.
const reports = new Map<string, Report>();
function run(mode: 'user' | 'mm'): Report {
  let r = reports.get(mode);
  if (r === undefined) {
    r = runChild<Report>('iommufd-memlock-child.ts', {
      memlockKiB: LIMIT_KIB, dropIpcLock: true,
      env: { MODE: mode, CDEV: cdev as string, MEMLOCK_SMALL: String(SMALL_KIB * 1024), MEMLOCK_BIG: String(BIG_KIB * 1024) },
    });
    reports.set(mode, r);
  }
  return r;
}

interface Refusal { errno: number; batchError: boolean; index: number | null; message: string; calls: number; vm: Vm }
interface PrecheckReport {
  mode: string;
  limit: number;
  half: number;
  account: { counter: string; charged: number } | null;
  exempt: boolean;
  base: Vm;
  first: { memlockBytes: number | null; counter: string | null };
  afterFirst: Vm;
  overChecked: Refusal | null;
  overKernel: Refusal | null;
  under: { memlockBytes: number | null; counter: string | null };
  underCalls: number;
  afterUnder: Vm;
  afterUnmap: Vm;
}

/** The pre-check in `mode`, against the kernel: just under fits, just over is refused by both. */
function checkPrecheck(report: Report['precheck'], mode: 'user' | 'mm', counter: 0 | 1): void {
  expect('error' in report ? report.error : null, 'the pre-check scenario threw').toBeNull();
  const r = report as PrecheckReport;
  const limit = LIMIT_KIB * 1024;
  const half = limit / 2;
  const sub = (x: Vm, y: Vm): Vm => [x[0] - y[0], x[1] - y[1]];
  expect([r.mode, r.limit, r.half, r.exempt]).toEqual([mode, limit, half, false]);
  // What the IOAS reports as charged before anything is mapped: this process's VmLck ('mm') or VmPin ('user').
  expect(r.account).toEqual({ counter: mode, charged: r.base[counter] });
  // The first batch (half) was judged on the fresh reading.
  expect(r.first).toEqual({ memlockBytes: limit - r.base[counter], counter: mode });
  // The kernel charged it to the mode's counter, and to VmPin in both.
  expect(sub(r.afterFirst, r.base)).toEqual(mode === 'mm' ? [half, half] : [0, half]);
  // Just over, checked: refused before any kernel call, nothing charged, the memlock hint.
  expect(r.overChecked).not.toBeNull();
  const oc = r.overChecked!;
  expect([oc.errno, oc.batchError, oc.calls]).toEqual([Errno.ENOMEM, false, 0]);
  expect(oc.vm).toEqual(r.afterFirst);
  expect(oc.message).toContain('refused before pinning anything');
  expect(oc.message).toContain('ulimit -l');
  expect(oc.message).toContain(mode === 'mm' ? "iommufd 'mm' accounting" : "iommufd 'user' accounting");
  // Just over, unchecked: the kernel refuses the entry that crosses the limit (one IOAS_MAP per page), unwound.
  expect(r.overKernel).not.toBeNull();
  const ok = r.overKernel!;
  expect([ok.errno, ok.batchError, ok.index]).toEqual([Errno.ENOMEM, true, (limit - r.base[counter] - half) / PAGE]);
  expect(ok.vm).toEqual(r.afterFirst);
  // Just under: the pre-check says it fits, exactly (room = the batch), and the kernel takes it.
  expect(r.under).toEqual({ memlockBytes: half, counter: mode });
  expect(r.underCalls).toBeGreaterThan(0);
  expect(sub(r.afterUnder, r.base)).toEqual(mode === 'mm' ? [limit, limit] : [0, limit]);
  expect(r.afterUnmap).toEqual(r.base);
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

  it("user mode: the planner's pre-check judges this process's own pins (VmPin) against the limit: under fits, over refused before any ioctl", () => {
    const r = run('user').precheck;
    checkPrecheck(r, 'user', 1);
    // Nothing pinned by this process beforehand, so the first batch was judged against the whole limit. The
    // kernel's user->locked_vm also holds other root processes' 'user'-mode pins, which the check cannot see;
    // in the lane there are none (the parent holds CAP_IPC_LOCK: its pins are accounted 'none'), which the
    // kernel taking the exactly-fitting batch confirms.
    expect((r as PrecheckReport).base[1]).toBe(0);
  });

  it("mm mode: the pre-check judges VmLck alone (VmPin holds the same pins): under fits, over refused before any ioctl", () => {
    checkPrecheck(run('mm').precheck, 'mm', 0);
  });
});
