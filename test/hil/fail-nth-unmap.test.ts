// In-kernel fault injection through unmapBatch, as fail-nth.test.ts does for
// mapBatch: the batch is mapped clean, then the n-th fault-injectable
// allocation the kernel makes inside the unmap plan fails (lib/native/fail-nth.ts:
// counted from just before the plan's first ioctl, on its thread), for every n
// until the unmap gets through untouched.
//
// Where the kernel allocates on unmap (6.12):
// - type1: vfio_unmap_unpin() takes a vfio_regions entry per physically
//   contiguous run (unmap_unpin_fast, kzalloc); when that fails it falls back
//   to unmap_unpin_slow (iommu_unmap + unpin at once). No allocation failure
//   can fail a type1 unmap: every one is absorbed.
// - IOAS: iopt_area_unfill_domains() -> __iopt_area_unfill_domain() sizes a
//   pfn batch with temp_kmalloc() (kmalloc, NORETRY) and falls back to a
//   stack array (batch_init_backup). An IOMMU_IOAS_UNMAP never splits an area:
//   one that cuts a mapping is ENOENT before anything is touched
//   (iopt_unmap_iova_range; only the VFIO compat ioctl cuts areas, with
//   iopt_cut_iova, and the lane has IOMMUFD_VFIO_CONTAINER off).
//   But IOMMUFD_TEST (built into the lane's kernel) adds a fault point of its
//   own that fail-nth counts too: iommufd_get_object() fails ENOENT
//   (iommufd_should_fail, fail_iommufd) before the unmap touches anything. So
//   on that kernel each IOAS_UNMAP can fail, cleanly, at its object lookup; a
//   production kernel has no such point.
// The test assumes neither: it checks the promise below at every n. To test
// the failure report without injection too, one shape's plan ends with an
// entry that cuts its mapping (type1 v2: EINVAL, vfio_dma_do_unmap; IOAS:
// ENOENT), a refusal at a known entry, swept with injection all the same. It
// is the last entry because the executor's pass stops at a failed entry and
// the rest of the batch runs in a second pass, which fail-nth does not arm
// (one plan execution per arming: native/fail_nth.h).
//
// unmapBatch's promise on a mid-batch failure (lib/plan/batch.ts finishUnmap):
// an unmap cannot be rolled back, so it carries on past a failed entry (a
// transient EINTR/EAGAIN retried once) and throws one BatchError (a VfioError)
// naming the first failed entry; BatchError.leaked lists exactly the entries
// it could not unmap (they are still mapped), every other entry was unmapped.
// Checked at every n: the leaked entries are really mapped, nothing else of
// the batch is, VmLck/VmPin charge exactly what is still mapped (type1
// locked_vm, iommufd pinned_vm: root's IOAS is accounted 'none' but still
// counts pinned_vm), and a later unmapAll() returns exactly those bytes and
// leaves nothing charged.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, type Backing, type DmaSpace } from '../../lib/backend.js';
import { VfioError } from '../../lib/errors.js';
import { withFailNth } from '../../lib/native/fail-nth.js';
import { BatchError, buildPlan, buildUnmapPlan, mapBatch, unmapBatch, type Plan, type Strategy } from '../../lib/plan/index.js';
import { attachGroup } from '../../lib/seam/attach.js';
import { testDevice } from './lane.js';
import { cdevName, failNthSkip, IOVA, MAX_POINTS, unmapProbe, useShapeBuffers } from './fail-nth-fixture.js';

const unavailable = failNthSkip('fail-nth unmap sweeps');

type Space = DmaSpace & { unmapAll(): bigint };

/** [VmLck, VmPin] in bytes: mm->locked_vm (type1's charge) and mm->pinned_vm (iommufd's). */
function vm(): [bigint, bigint] {
  const status = readFileSync('/proc/self/status', 'utf8');
  const b = (name: string) => BigInt(new RegExp(`^${name}:\\s*(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024n;
  return [b('VmLck'), b('VmPin')];
}

interface Span { iova: bigint; size: bigint }

function spans(entries: BigUint64Array): Span[] {
  const out: Span[] = [];
  for (let o = 0; o < entries.length; o += PLAN_STRIDE) {
    out.push({ iova: entries[o + PLAN_IOVA] as bigint, size: entries[o + PLAN_SIZE] as bigint });
  }
  return out;
}

const overlaps = (a: Span, b: Span) => a.iova < b.iova + b.size && b.iova < a.iova + a.size;

interface Shape {
  label: string;
  backing: Backing;
  pages: number;
  map: Strategy;
  /** Largest map entry ('coalesced'), to make several mappings of one buffer. */
  maxEntry?: bigint;
  unmap: Strategy;
  /** Make unmap entry k cover only the first half of its mapping: the kernel refuses it. */
  cut?: number;
}

const SHAPES: Shape[] = [
  { label: '4K, 16 mappings, one UNMAP each', backing: '4k', pages: 16, map: 'per-page', unmap: 'per-page' },
  { label: '4K, 16 mappings, one UNMAP spanning them', backing: '4k', pages: 16, map: 'per-page', unmap: 'coalesced' },
  { label: '4K, one 64-page mapping, one UNMAP', backing: '4k', pages: 64, map: 'kernel', unmap: 'kernel' },
  { label: 'hugetlb, one 2 MiB mapping, one UNMAP', backing: 'hugetlb', pages: 512, map: 'kernel', unmap: 'kernel' },
  { label: '4K, 4 mappings, the unmap\'s last entry cuts its mapping', backing: '4k', pages: 16, map: 'coalesced', maxEntry: 0x4000n, unmap: 'per-page', cut: 3 },
];

interface SweepResult {
  /** Injection points tried: n = 1 .. points (the last n that fired). */
  points: number;
  /** Of those, how many made the batch fail beyond what it fails without injection. */
  failed: number;
  /** Batches that threw (the cut shape throws every time). */
  threw: number;
  errnos: Map<string, number>;
}

function sweep(space: Space, iface: 'type1' | 'iommufd', plan: Plan, uplan: Plan): SweepResult {
  const base = vm();
  const counter = iface === 'type1' ? 0 : 1; // which of VmLck / VmPin this interface charges
  const mappings = spans(plan.entries);
  const errnos = new Map<string, number>();
  let failed = 0;
  let threw = 0;
  const expectedRefused = new Set<number>();
  // An unmap entry that does not cover its mappings whole is refused whatever n is.
  spans(uplan.entries).forEach((u, k) => {
    const whole = mappings.filter((m) => overlaps(m, u)).every((m) => m.iova >= u.iova && m.iova + m.size <= u.iova + u.size);
    if (!whole) expectedRefused.add(k);
  });
  for (let n = 1; n <= MAX_POINTS; n++) {
    mapBatch(space, plan);
    const mapped = vm();
    expect(mapped[counter] - base[counter], `n=${n}: the map charged`).toBe(plan.bytes);
    expect(mapped[1 - counter], `n=${n}: the other counter moved`).toBe(base[1 - counter]);
    const o = withFailNth(n, () => unmapBatch(space, uplan));
    expect(o.ran, `n=${n}: the plan executor never ran`).toBe(true);
    let leaked: Span[] = [];
    if (o.error !== undefined) {
      threw++;
      expect(o.error, `n=${n}: ${String(o.error)}`).toBeInstanceOf(BatchError);
      const e = o.error as BatchError;
      expect(e).toBeInstanceOf(VfioError);
      const failedIdx = e.unwindFailures.map((f) => f.index);
      const extra = failedIdx.filter((k) => !expectedRefused.has(k));
      if (extra.length > 0) {
        // A failure nobody injected would be a real bug, not a tested error path.
        expect(o.fired, `n=${n}: unmapBatch failed at entries ${extra} without an injected fault: ${e.message}`).toBe(true);
        failed++;
      }
      for (const f of e.unwindFailures) errnos.set(f.code, (errnos.get(f.code) ?? 0) + 1);
      // The report: the first failed entry, exactly the failed entries in leaked, the rest counted done.
      expect(e.index).toBe(Math.min(...failedIdx));
      expect(e.completed).toBe(uplan.count - failedIdx.length);
      leaked = e.leakedSpans();
      expect(leaked).toEqual(failedIdx.map((k) => spans(uplan.entries)[k]));
      for (const k of expectedRefused) expect(failedIdx, `n=${n}: the cut entry ${k} was not reported`).toContain(k);
    } else {
      expect(expectedRefused.size, `n=${n}: the cut entry was not refused`).toBe(0);
    }
    // What is still mapped: every mapping a leaked entry touches, and nothing else.
    const still = mappings.filter((m) => leaked.some((l) => overlaps(m, l)));
    const stillBytes = still.reduce((s, m) => s + m.size, 0n);
    const now = vm();
    expect(now[counter] - base[counter], `n=${n}: charged after the unmap vs still mapped`).toBe(stillBytes);
    expect(now[1 - counter], `n=${n}: the other counter moved`).toBe(base[1 - counter]);
    for (const m of mappings) {
      if (still.includes(m)) continue;
      expect(unmapProbe(space, m.iova, m.size), `n=${n}: 0x${m.iova.toString(16)} reported unmapped is still mapped`).toBe(0n);
    }
    // A later unmap-all finds exactly the leaked mappings and leaves nothing charged.
    expect(space.unmapAll(), `n=${n}: unmapAll after the batch`).toBe(stillBytes);
    const after = vm();
    expect([after[0] - base[0], after[1] - base[1]], `n=${n}: charged after unmapAll`).toEqual([0n, 0n]);
    if (!o.fired) return { points: n - 1, failed, threw, errnos };
  }
  throw new Error(`the unmap still hit an injection point after ${MAX_POINTS} of them`);
}


const totals = new Map<string, { points: number; failed: number; shapes: number }>();

describe.skipIf(unavailable !== null)(`fail-nth through unmapBatch (${unavailable ?? 'fault injection available'})`, () => {
  const shapes = useShapeBuffers(SHAPES, () => {
    for (const [iface, t] of totals) {
      console.log(`fail-nth unmap ${iface} total: ${t.shapes} shapes, ${t.points} faults injected, ${t.failed} failed a batch`);
    }
  });
  const backend = () => shapes.backend();

  const plansFor = (space: DmaSpace, s: Shape): [Plan, Plan] => {
    const b = shapes.buffer(s.label)!;
    const plan = buildPlan([{ vaddr: b.vaddr, iova: IOVA, size: b.size }], s.map, space.info(),
      s.maxEntry ? { maxEntrySize: s.maxEntry } : {});
    const uplan = buildUnmapPlan(plan, s.unmap);
    if (s.cut !== undefined) {
      // Half of its mapping: type1 v2 and IOAS_UNMAP both refuse to bisect one.
      const o = s.cut * PLAN_STRIDE + PLAN_SIZE;
      uplan.entries[o] = (uplan.entries[o] as bigint) / 2n;
    }
    return [plan, uplan];
  };

  const run = (iface: 'type1' | 'iommufd', space: Space, s: Shape) => {
    const [plan, uplan] = plansFor(space, s);
    const r = sweep(space, iface, plan, uplan);
    const codes = [...r.errnos].map(([c, k]) => `${c} x${k}`).join(', ') || 'none';
    console.log(`fail-nth unmap ${iface} ${s.label}: map ${plan.count} entries, unmap ${uplan.count}, ${plan.bytes / 1024n} KiB: `
      + `n = 1..${r.points} injected, ${r.failed} made the unmap fail, ${r.points - r.failed} absorbed by the kernel; `
      + `${r.threw} BatchErrors (entry failures: ${codes}); state exact after every one`);
    const t = totals.get(iface) ?? { points: 0, failed: 0, shapes: 0 };
    totals.set(iface, { points: t.points + r.points, failed: t.failed + r.failed, shapes: t.shapes + 1 });
    // Every unmap path here allocates (type1 a vfio_regions entry, iommufd a pfn batch): a sweep that tried nothing tested nothing.
    expect(r.points).toBeGreaterThan(0);
    if (s.cut !== undefined) expect(r.threw).toBe(r.points + 1);
  };

  describe('type1 v2 container (VFIO_IOMMU_UNMAP_DMA)', () => {
    for (const s of SHAPES) {
      it(s.label, (ctx) => {
        if (!shapes.buffer(s.label)) return ctx.skip('no free hugetlb page');
        const a = attachGroup(backend(), testDevice().group);
        try {
          expect(a.iommuType).toBe('type1v2');
          run('type1', a.container, s);
        } finally {
          a.close();
        }
      });
    }
  });

  describe('iommufd IOAS (IOMMU_IOAS_UNMAP, the edu device attached through its cdev)', () => {
    for (const s of SHAPES) {
      it(s.label, (ctx) => {
        const cdev = cdevName();
        if (!backend().openIommufd || cdev === null) return ctx.skip('no iommufd backend or no vfio cdev for the device');
        if (!shapes.buffer(s.label)) return ctx.skip('no free hugetlb page');
        const iommufd = backend().openIommufd!();
        try {
          const ioas = iommufd.allocIoas();
          iommufd.bindDevice(cdev).attach(ioas);
          run('iommufd', ioas, s);
        } finally {
          iommufd.close();
        }
      });
    }
  });
});
