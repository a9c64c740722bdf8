// In-kernel fault injection through the library's batches, the way the
// kernel's own tools/testing/selftests/iommu/iommufd_fail_nth.c sweeps
// iommufd: fail the 1st, 2nd, ... fault-injectable allocation the kernel makes
// inside one mapBatch (counted from just before the plan's first ioctl, on the
// thread that issues it: lib/native/fail-nth.ts), for every n until the batch
// gets through untouched. After every failure the library's unwind must leave
// nothing mapped and nothing pinned (VmLck + VmPin back where they were).
// Needs CONFIG_FAULT_INJECTION + FAILSLAB (the lane's "built" kernel); skipped,
// saying why, on the Debian kernel.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Backing, DmaSpace } from '../../lib/backend.js';
import { withFailNth } from '../../lib/native/fail-nth.js';
import { BatchError, buildPlan, mapBatch, unmapBatch, type Plan, type Strategy } from '../../lib/plan/index.js';
import { attachGroup } from '../../lib/seam/attach.js';
import { testDevice } from './lane.js';
import { cdevName, failNthSkip, IOVA, MAX_POINTS, unmapProbe, useShapeBuffers } from './fail-nth-fixture.js';

const unavailable = failNthSkip('fail-nth sweeps');

/** VmLck + VmPin of this process, in kB: what type1 (locked_vm) and iommufd (pinned_vm) charge for pins. */
function pinnedKiB(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s*(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return kb('VmLck') + kb('VmPin');
}

/** True when nothing is mapped in [iova, iova + size). */
function nothingMapped(space: DmaSpace, iova: bigint, size: bigint): boolean {
  return unmapProbe(space, iova, size) === 0n;
}

interface SweepResult {
  /** Injection points tried (the last n that fired). */
  points: number;
  /** Of those, how many made the batch fail (the others the kernel absorbed, e.g. by a fallback). */
  failed: number;
  /** errno -> count, over the failures. */
  errnos: Map<string, number>;
}

function sweep(space: DmaSpace, plan: Plan): SweepResult {
  const size = plan.bytes;
  const base = pinnedKiB();
  const errnos = new Map<string, number>();
  let failed = 0;
  for (let n = 1; n <= MAX_POINTS; n++) {
    const o = withFailNth(n, () => mapBatch(space, plan));
    expect(o.ran, `n=${n}: the plan executor never ran`).toBe(true);
    if (o.error !== undefined) {
      // A failure nobody injected would be a real bug, not a tested error path.
      expect(o.fired, `n=${n}: mapBatch failed without an injected fault: ${String(o.error)}`).toBe(true);
      expect(o.error, `n=${n}: ${String(o.error)}`).toBeInstanceOf(BatchError);
      const e = o.error as BatchError;
      expect(e.leaked.length, `n=${n}: the unwind left entries mapped: ${e.message}`).toBe(0);
      expect(pinnedKiB(), `n=${n} (${e.code} at entry ${e.index}): pages still pinned after the unwind`).toBe(base);
      expect(nothingMapped(space, IOVA, size), `n=${n}: something is still mapped after the unwind`).toBe(true);
      failed++;
      errnos.set(e.code, (errnos.get(e.code) ?? 0) + 1);
      continue;
    }
    unmapBatch(space, plan);
    expect(pinnedKiB(), `n=${n}: pages still pinned after map + unmap`).toBe(base);
    // The n-th allocation was never reached: every point of this path has been tried.
    if (!o.fired) return { points: n - 1, failed, errnos };
  }
  throw new Error(`the batch still hit an injection point after ${MAX_POINTS} of them`);
}

function report(label: string, plan: Plan, r: SweepResult): void {
  const codes = [...r.errnos].map(([c, k]) => `${c} x${k}`).join(', ') || 'none';
  console.log(`fail-nth ${label}: ${plan.count} entr${plan.count === 1 ? 'y' : 'ies'}, ${plan.bytes / 1024n} KiB: `
    + `${r.points} injection points tried, ${r.failed} made the batch fail (${codes}), `
    + `${r.points - r.failed} absorbed by the kernel; nothing left mapped or pinned after any`);
}

const SHAPES: { label: string; backing: Backing; pages: number; strategy: Strategy }[] = [
  { label: '4K, one MAP per page', backing: '4k', pages: 16, strategy: 'per-page' },
  { label: '4K, one MAP for the run', backing: '4k', pages: 64, strategy: 'kernel' },
  { label: 'THP, one MAP for the run', backing: 'thp', pages: 512, strategy: 'kernel' },
  { label: 'hugetlb, one MAP for the run', backing: 'hugetlb', pages: 512, strategy: 'kernel' },
];

describe.skipIf(unavailable !== null)(`fail-nth through mapBatch (${unavailable ?? 'fault injection available'})`, () => {
  const shapes = useShapeBuffers(SHAPES);
  const backend = () => shapes.backend();

  const planFor = (space: DmaSpace, s: (typeof SHAPES)[number]) => {
    const b = shapes.buffer(s.label)!;
    return buildPlan([{ vaddr: b.vaddr, iova: IOVA, size: b.size }], s.strategy, space.info());
  };

  describe('type1 container (VFIO_IOMMU_MAP_DMA)', () => {
    for (const s of SHAPES) {
      it(s.label, (ctx) => {
        if (!shapes.buffer(s.label)) return ctx.skip('no free hugetlb page');
        const a = attachGroup(backend(), testDevice().group);
        try {
          expect(a.iommuType).toBe('type1v2');
          const container = a.container;
          const plan = planFor(container, s);
          const r = sweep(container, plan);
          report(`type1 ${s.label}`, plan, r);
          // Every map path allocates: a sweep that tried nothing tested nothing.
          expect(r.points).toBeGreaterThan(0);
          expect(r.failed).toBeGreaterThan(0);
        } finally {
          a.close();
        }
      });
    }
  });

  describe('iommufd IOAS (IOMMU_IOAS_MAP, the edu device attached through its cdev)', () => {
    for (const s of SHAPES) {
      it(s.label, (ctx) => {
        const cdev = cdevName();
        if (!backend().openIommufd || cdev === null) return ctx.skip('no iommufd backend or no vfio cdev for the device');
        if (!shapes.buffer(s.label)) return ctx.skip('no free hugetlb page');
        const iommufd = backend().openIommufd!();
        try {
          const ioas = iommufd.allocIoas();
          // With a device attached, IOAS_MAP pins and fills IOMMU page tables too
          // (without one it only records the range).
          const device = iommufd.bindDevice(cdev);
          device.attach(ioas);
          const plan = planFor(ioas, s);
          const r = sweep(ioas, plan);
          report(`iommufd ${s.label}`, plan, r);
          expect(r.points).toBeGreaterThan(0);
          expect(r.failed).toBeGreaterThan(0);
        } finally {
          iommufd.close();
        }
      });
    }
  });
});
