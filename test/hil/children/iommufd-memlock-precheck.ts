// Part of iommufd-memlock-child.ts (one child start-up for both, ~20 s under
// TCG): the planner's RLIMIT_MEMLOCK pre-check (lib/plan/limits.ts) against
// the kernel, in one IOMMU_OPTION_RLIMIT_MODE, without CAP_IPC_LOCK (the
// parent drops it) and with a small RLIMIT_MEMLOCK, on a fresh iommufd. With the edu device attached (so IOAS_MAP pins), it maps a
// first batch of half the limit, then a second batch that exactly fills it
// (the pre-check must say it fits, and the kernel takes it) and one a page
// larger (the pre-check must refuse it with no ioctl issued; with the check
// bypassed the kernel refuses it, ENOMEM, and the batch is unwound). Returns
// what it saw.
import { readFileSync } from 'node:fs';
import { SZ_4K, type Backend, type RlimitMode } from '../../../lib/backend.js';
import { VfioError } from '../../../lib/errors.js';
import { BatchError, buildPlan, mapBatch, unmapBatch, type Headroom, type Plan } from '../../../lib/plan/index.js';
import { countingSpace } from '../../counting-space.js';

/** [VmLck, VmPin] in bytes. */
function vm(): [number, number] {
  const status = readFileSync('/proc/self/status', 'utf8');
  const b = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return [b('VmLck'), b('VmPin')];
}

interface Refusal {
  errno: number;
  batchError: boolean;
  /** BatchError: the entry the kernel refused. */
  index: number | null;
  message: string;
  /** Kernel calls (map, unmap, runPlan) the batch issued. */
  calls: number;
  vm: [number, number];
}

export function precheck(backend: Backend, mode: RlimitMode, cdev: string) {
  const fd = backend.openIommufd!();
  if (mode === 'mm') fd.setRlimitMode('mm');
  const modeSet = fd.rlimitMode();
  const ioas = fd.allocIoas();
  const dev = fd.bindDevice(cdev);
  dev.attach(ioas);

  // Every kernel call the planner's batches make goes through here, counted.
  const { space, calls, reset } = countingSpace(ioas);


  const status = ioas.memlock();
  const limit = Number(status.limit);
  const half = BigInt(limit / 2);
  const a = backend.allocBuffer({ size: half, backing: '4k', prefault: true });
  const b = backend.allocBuffer({ size: half + SZ_4K, backing: '4k', prefault: true });
  const info = ioas.info();
  // One IOAS_MAP per page: the kernel's refusal then lands at a known entry.
  const plan = (vaddr: bigint, iova: bigint, size: bigint): Plan => buildPlan([{ vaddr, iova, size }], 'per-page', info);
  const planA = plan(a.vaddr, 0x10_0000n, half);
  const under = plan(b.vaddr, 0x100_0000n, half);
  const over = plan(b.vaddr, 0x100_0000n, half + SZ_4K);

  const base = vm();
  const first = mapBatch(space, planA, { checkLimits: true });
  const afterFirst = vm();

  const room = (h: Headroom | null) => h === null ? null
    : { memlockBytes: h.memlockBytes === null ? null : Number(h.memlockBytes), counter: h.memlockCounter ?? null };

  function refusal(fn: () => unknown): Refusal | null {
    reset();
    try {
      fn();
      return null;
    } catch (err) {
      if (!(err instanceof VfioError)) throw err;
      return {
        errno: err.errno, batchError: err instanceof BatchError, index: err instanceof BatchError ? err.index : null,
        message: err.message, calls: calls(), vm: vm(),
      };
    }
  }

  // Just over: refused by the pre-check, then (bypassed) by the kernel.
  const overChecked = refusal(() => mapBatch(space, over, { checkLimits: true }));
  const overKernel = refusal(() => mapBatch(space, over, { checkLimits: false }));
  // Just under: fills the limit exactly.
  reset();
  const underResult = mapBatch(space, under, { checkLimits: true });
  const underCalls = calls();
  const afterUnder = vm();
  unmapBatch(space, under);
  unmapBatch(space, planA);
  const afterUnmap = vm();
  fd.close();
  a.close();
  b.close();

  return {
    mode: modeSet,
    limit,
    half: Number(half),
    account: status.account ? { counter: status.account.counter, charged: Number(status.account.charged) } : null,
    exempt: status.exempt,
    base,
    first: room(first.headroom),
    afterFirst,
    overChecked,
    overKernel,
    under: room(underResult.headroom),
    underCalls,
    afterUnder,
    afterUnmap,
  };
}
