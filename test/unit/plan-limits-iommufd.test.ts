// The planner's RLIMIT_MEMLOCK pre-check on an iommufd IOAS in each
// IOMMU_OPTION_RLIMIT_MODE, on the sim (which holds to the kernel's
// accounting: sim-iommufd-memlock.test.ts), the same scenario the lane's
// test/hil/iommufd-memlock.test.ts runs on the built kernel: RLIMIT_MEMLOCK
// 64 KiB without CAP_IPC_LOCK, half of it mapped, then a batch that exactly
// fills it (fits, and the kernel takes it) and one a page larger (refused
// before any call; with the check off the kernel refuses it). In 'mm' mode
// the check counts VmLck alone: VmPin holds the same pins, and counting both
// (as memlock().locked does) would refuse the second half.
import { describe, expect, it } from 'vitest';
import { SZ_4K, type RlimitMode } from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { BatchError, buildPlan, checkLimits, headroom, mapBatch, unmapBatch } from '../../lib/plan/index.js';
import { SimBackend } from '../../lib/sim/index.js';
import { countingSpace } from '../counting-space.js';

const LIMIT = 64n * 1024n;
const HALF = LIMIT / 2n;

function world(mode: RlimitMode, exempt = false) {
  const backend = new SimBackend({ memlock: { limit: LIMIT, exempt } });
  const fd = backend.openIommufd();
  if (mode === 'mm') fd.setRlimitMode('mm');
  const ioas = fd.allocIoas();
  fd.bindDevice('vfio0').attach(ioas);
  const counted = countingSpace(ioas);

  const a = backend.allocBuffer({ size: HALF, backing: '4k' });
  const b = backend.allocBuffer({ size: HALF + SZ_4K, backing: '4k' });
  const plan = (vaddr: bigint, iova: bigint, size: bigint) => buildPlan([{ vaddr, iova, size }], 'per-page', ioas.info());
  return {
    ioas, space: counted.space, calls: counted.calls, reset: counted.reset,
    first: plan(a.vaddr, 0x10_0000n, HALF),
    under: plan(b.vaddr, 0x100_0000n, HALF),
    over: plan(b.vaddr, 0x100_0000n, HALF + SZ_4K),
  };
}

function thrown(fn: () => unknown): VfioError {
  try {
    fn();
  } catch (err) {
    if (err instanceof VfioError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

describe('memlock pre-check on an IOAS, per iommufd accounting mode', () => {
  for (const mode of ['user', 'mm'] as const) {
    it(`${mode} mode: just under fits (and maps), just over is refused before any call, and by the kernel unchecked`, () => {
      const w = world(mode);
      expect(w.ioas.memlock().account).toEqual({ counter: mode, charged: 0n });
      expect(mapBatch(w.space, w.first, { checkLimits: true }).headroom).toEqual({ memlockBytes: LIMIT, dmaEntries: null, memlockCounter: mode });
      // What the IOAS says is charged: the mode's counter only.
      expect(w.ioas.memlock().account).toEqual({ counter: mode, charged: HALF });
      expect(w.ioas.memlock().locked).toBe(mode === 'mm' ? 2n * HALF : HALF);

      w.reset();
      const refused = thrown(() => mapBatch(w.space, w.over, { checkLimits: true }));
      expect([refused.errno, refused instanceof BatchError, w.calls()]).toEqual([Errno.ENOMEM, false, 0]);
      expect(refused.message).toContain('refused before pinning anything');
      expect(refused.message).toContain(`iommufd '${mode}' accounting`);
      expect(refused.message).toContain('ulimit -l');
      if (mode === 'user') expect(refused.message).toContain('other processes of the same user');

      const kernel = thrown(() => mapBatch(w.space, w.over, { checkLimits: false }));
      expect([kernel.errno, kernel instanceof BatchError && kernel.index]).toEqual([Errno.ENOMEM, Number(HALF / SZ_4K)]);
      expect(w.ioas.memlock().account!.charged).toBe(HALF);

      expect(checkLimits(w.space, w.under)).toEqual({ memlockBytes: HALF, dmaEntries: null, memlockCounter: mode });
      mapBatch(w.space, w.under, { checkLimits: true });
      expect(w.ioas.memlock().account!.charged).toBe(LIMIT);
      unmapBatch(w.space, w.under);
      unmapBatch(w.space, w.first);
      expect(w.ioas.memlock().account!.charged).toBe(0n);
    });
  }

  it('with CAP_IPC_LOCK nothing is charged (IOPT_PAGES_ACCOUNT_NONE): no memlock headroom to respect', () => {
    const w = world('user', true);
    expect(w.ioas.memlock().account).toEqual({ counter: 'none', charged: 0n });
    expect(checkLimits(w.space, w.over)).toEqual({ memlockBytes: null, dmaEntries: null, memlockCounter: 'none' });
  });

  it('headroom() reads the same counter', () => {
    const info = { pageSizes: SZ_4K, ranges: [], dmaAvail: null, migration: null };
    // 'mm': VmLck (16 KiB) of VmLck + VmPin (32 KiB); 'user': this process's VmPin only.
    expect(headroom({ limit: LIMIT, locked: 32n * 1024n, exempt: false, account: { counter: 'mm', charged: 16n * 1024n } }, info))
      .toEqual({ memlockBytes: LIMIT - 16n * 1024n, dmaEntries: null, memlockCounter: 'mm' });
    // A type1 container (no account): VmLck + VmPin, as before.
    expect(headroom({ limit: LIMIT, locked: 32n * 1024n, exempt: false }, info)).toEqual({ memlockBytes: LIMIT - 32n * 1024n, dmaEntries: null });
  });
});
