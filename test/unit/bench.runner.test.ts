import { describe, expect, it } from 'vitest';
import { defaultPlanner } from '../../lib/bench/planner.js';
import { BenchRunner } from '../../lib/bench/runner.js';
import { cellsFor, type CellSpec } from '../../lib/bench/suites.js';
import { SimBackend } from '../../lib/sim/index.js';
import { IN_FULL, LONG } from '../long.js';

const budget = { maxBuffer: 1n << 30n, hugetlbFree: null, lockable: null };

// The warm-up's own behaviour is tested in bench.warmup.test.ts; here a small budget keeps runs quick.
const smallWarm = { minCalls: 300 };

function simContainer() {
  const backend = new SimBackend();
  const container = backend.openContainer();
  const group = backend.openGroup(7);
  group.setContainer(container);
  container.setIommu('type1v2');
  return { backend, container, group };
}

function runOn(suites: Parameters<typeof cellsFor>[0][], opts: { reps?: number; maxBuffer?: bigint; warmup?: number; specs?: CellSpec[] } = {}) {
  const backend = new SimBackend();
  const container = backend.openContainer();
  const group = backend.openGroup(7);
  group.setContainer(container);
  container.setIommu('type1v2');
  try {
    const runner = new BenchRunner(backend, container, defaultPlanner, {
      reps: opts.reps ?? 3, warmup: opts.warmup ?? 1, budget: { ...budget, maxBuffer: opts.maxBuffer ?? budget.maxBuffer },
      warm: smallWarm,
    });
    const out = runner.run(opts.specs ?? suites.flatMap(cellsFor));
    return { out, container };
  } finally {
    group.close();
    container.close();
  }
}

describe('bench runner on the sim', () => {
  it('runs the matrix: 18 cells, the requested repetitions, per-page issues one entry per page', () => {
    const { out } = runOn(['matrix']);
    expect(out.cells).toHaveLength(18);
    for (const c of out.cells) {
      expect(c.skipped).toBeUndefined();
      expect(c.samples).toHaveLength(3);
      expect(c.jsSamples).toHaveLength(3);
      expect(c.median).toBeGreaterThan(0);
    }
    const perPage512 = out.cells.find((c) => c.pages === 512 && c.strategy === 'per-page' && c.backing === '4k')!;
    const coalesced512 = out.cells.find((c) => c.pages === 512 && c.strategy === 'coalesced' && c.backing === '4k')!;
    expect(perPage512.entries).toBe(512);
    expect(coalesced512.entries).toBe(1);
    expect(perPage512.speedup).toBe(1);
    // Whatever the cost model says, one call for the run beats 512 calls for it.
    expect(coalesced512.speedup).toBeGreaterThan(1);
  });

  it('with floor, times a space\'s bare C loop beside each cell: loop, executor again, loop (the sim with a stand-in loop)', () => {
    const { backend, container, group } = simContainer();
    // A stand-in C loop of 100 ns per repetition (map and unmap), counting its calls and their reps.
    const calls: number[] = [];
    const space = Object.assign(container, {
      runBareCycles(_plan: BigUint64Array, reps: number) {
        calls.push(reps);
        return { mapNs: new Float64Array(reps).fill(100), unmapNs: new Float64Array(reps).fill(100), completed: reps, failedOp: null, failedIndex: -1, errno: 0 };
      },
    });
    try {
      const runner = new BenchRunner(backend, space, defaultPlanner, { reps: 3, warmup: 1, budget, warm: smallWarm, floor: true });
      const specs = cellsFor('matrix').slice(0, 2);
      const out = runner.run(specs);
      expect(calls).toEqual([4, 4, 4, 4]); // two per cell, each warm-up + reps
      for (const c of out.cells) {
        expect(c.floor!.samples).toEqual([100, 100, 100, 100, 100, 100]);
        expect(c.floor!.addonSamples).toHaveLength(3);
        expect(c.floor!.median).toBe(100);
        // The executor's two passes together against the loop.
        const both = [...c.samples, ...c.floor!.addonSamples].sort((a, b) => a - b);
        expect(c.floor!.ratio).toBeCloseTo((both[2]! + both[3]!) / 2 / 100, 9);
      }
      // Without floor, no loop runs.
      calls.length = 0;
      new BenchRunner(backend, space, defaultPlanner, { reps: 3, warmup: 1, budget, warm: smallWarm }).run(specs);
      expect(calls).toEqual([]);
    } finally {
      group.close();
      container.close();
    }
  });

  it('measures the planner overhead on the single-page path per backing', () => {
    const { out } = runOn(['matrix']);
    expect(out.plannerOverhead.map((o) => o.backing)).toEqual(['4k', 'thp', 'hugetlb']);
    for (const o of out.plannerOverhead) {
      expect(o.overheadNs).toBe(o.plannedNs - o.directNs);
      for (const part of [o.buildNs, o.batchNs, o.limitsNs]) expect(part).toBeGreaterThan(0);
    }
  });

  it('warms the planner-overhead figures until stable, keeping the cold figure beside; --warmup 0 leaves them cold', () => {
    const warm = runOn(['matrix']).out.plannerOverhead;
    for (const o of warm) {
      expect(o.warmupCalls).toBeGreaterThanOrEqual(smallWarm.minCalls);
      expect(o.coldPlannedNs).toBeGreaterThan(0);
      expect(typeof o.stable).toBe('boolean');
    }
    const cold = runOn(['matrix'], { warmup: 0 }).out.plannerOverhead;
    for (const o of cold) {
      expect(o.warmupCalls).toBe(0);
      expect(o.coldPlannedNs).toBeUndefined();
    }
  });

  it('warms each backing before its first cell, and the overhead table per backing: 6 warm-ups on the matrix', () => {
    const count = (warmup: number) => {
      let calls = 0;
      const planner = { ...defaultPlanner, buildPlan: (...a: Parameters<typeof defaultPlanner.buildPlan>) => (calls++, defaultPlanner.buildPlan(...a)) };
      const backend = new SimBackend();
      const container = backend.openContainer();
      const group = backend.openGroup(7);
      group.setContainer(container);
      container.setIommu('type1v2');
      new BenchRunner(backend, container, planner, { reps: 2, warmup, budget, warm: { minCalls: 300 } }).run(cellsFor('matrix'));
      group.close();
      container.close();
      return calls;
    };
    // 18 cells of one plan for the native loop plus (warmup + 2) from JS, and 3 overhead
    // rows of (warmup + 2) calls each; no warm-up at --warmup 0.
    expect(count(0)).toBe(18 * 3 + 3 * 2);
    // Each warm-up makes at least 4 rounds of 100 calls (it compares two stretches of
    // rounds) and runs longer while timings fall: 3 backings x (before the cells + the table).
    expect(count(1)).toBeGreaterThanOrEqual(18 * 4 + 3 * 3 + 6 * 400);
  });

  it('leaves nothing mapped or pinned after a run', () => {
    const backend = new SimBackend();
    const container = backend.openContainer();
    const group = backend.openGroup(7);
    group.setContainer(container);
    container.setIommu('type1v2');
    const before = container.memlock().locked;
    new BenchRunner(backend, container, defaultPlanner, { reps: 2, warmup: 0, budget }).run(cellsFor('matrix'));
    expect(container.memlock().locked).toBe(before);
    expect(container.info().dmaAvail).toBe(65535);
    group.close();
    container.close();
  });

  it('skips cells beyond the memory budget with a note, instead of failing', () => {
    const { out } = runOn(['scaling'], { reps: 1, maxBuffer: 1n << 20n });
    const big = out.cells.filter((c) => c.size > 1 << 20);
    expect(big.length).toBeGreaterThan(0);
    for (const c of big) expect(c.skipped).toMatch(/memory budget/);
    expect(out.cells.filter((c) => c.size <= 1 << 20).every((c) => !c.skipped)).toBe(true);
    expect(out.notes.some((n) => /memory budget/.test(n))).toBe(true);
  });

  it(`patterns: kernel strategy needs one contiguous region; strided cannot coalesce${IN_FULL}`, () => {
    // The suite's 64 MiB under test:long; 8 MiB in npm test (still past vm-map's 4 MiB threshold for its holes).
    const specs = cellsFor('patterns').map((c) => ({ ...c, size: LONG ? c.size : 8n << 20n }));
    const { out } = runOn(['patterns'], { reps: 1, specs });
    const strided = out.cells.filter((c) => c.pattern === 'strided' && c.backing === '4k');
    const [pp, co, k] = ['per-page', 'coalesced', 'kernel'].map((s) => strided.find((c) => c.strategy === s)!);
    expect(co!.entries).toBe(pp!.entries);
    expect(k!.skipped).toBeTruthy();
    const pool = out.cells.find((c) => c.pattern === 'pool' && c.strategy === 'kernel' && c.backing === 'thp')!;
    expect(pool.skipped).toBeUndefined();
    expect(pool.entries).toBe(1);
  });

  it('a cell the kernel refuses is skipped with the errno, and nothing stays pinned', () => {
    // 1 MiB of RLIMIT_MEMLOCK, not exempt; the budget is told nothing, so mapBatch meets the limit itself.
    const backend = new SimBackend({ memlock: { limit: 1n << 20n, exempt: false } });
    const container = backend.openContainer();
    const group = backend.openGroup(7);
    group.setContainer(container);
    container.setIommu('type1v2');
    const out = new BenchRunner(backend, container, defaultPlanner, { reps: 1, warmup: 0, budget }).run(cellsFor('matrix'));
    const refused = out.cells.filter((c) => c.skipped);
    expect(refused.map((c) => c.size)).toEqual(Array(9).fill(2 * 1024 * 1024));
    for (const c of refused) expect(c.skipped).toMatch(/ENOMEM/);
    expect(out.cells.filter((c) => c.size === 4096).every((c) => c.samples.length === 1)).toBe(true);
    expect(container.memlock().locked).toBe(0n);
    group.close();
    container.close();
  });

  it('the memory budget skips, before pinning, what RLIMIT_MEMLOCK would refuse', () => {
    const backend = new SimBackend();
    const container = backend.openContainer();
    const group = backend.openGroup(7);
    group.setContainer(container);
    container.setIommu('type1v2');
    const out = new BenchRunner(backend, container, defaultPlanner, {
      reps: 1, warmup: 0, budget: { ...budget, lockable: 1n << 20n },
    }).run(cellsFor('matrix'));
    expect(out.cells.filter((c) => c.skipped).every((c) => /RLIMIT_MEMLOCK/.test(c.skipped!))).toBe(true);
    expect(out.cells.filter((c) => c.skipped)).toHaveLength(9);
    group.close();
    container.close();
  });
});

describe('map and unmap cells time the kernel with every repetition in one call where the space can', () => {
  const oneCell = cellsFor('matrix').filter((c) => c.size === 4096n && c.backing === '4k' && c.strategy === 'coalesced');

  it('uses runPlanCycles: its figures are the samples, the JS-driven loop is kept beside them', () => {
    const { backend, container } = simContainer();
    const calls: number[] = [];
    // The sim has no native loop: give it one that reports recognisable figures.
    const space = Object.assign(container, {
      runPlanCycles(plan: BigUint64Array, reps: number) {
        calls.push(reps);
        const mapNs = Float64Array.from({ length: reps }, (_, i) => 1000 + i);
        const unmapNs = Float64Array.from({ length: reps }, (_, i) => 2000 + i);
        expect(plan.length).toBe(4);
        return { mapNs, unmapNs, completed: reps, failedOp: null, failedIndex: -1, errno: 0 };
      },
    });
    const out = new BenchRunner(backend, space, defaultPlanner, { reps: 5, warmup: 2, budget, warm: { minCalls: 0 } }).run(oneCell);
    const cell = out.cells[0]!;
    expect(calls).toEqual([7]);
    expect(cell.timing).toBe('native-loop');
    expect(cell.samples).toEqual([1002, 1003, 1004, 1005, 1006]);
    expect(cell.jsLoopSamples).toHaveLength(5);
    expect(cell.jsSamples).toHaveLength(5);
  });

  it('without it, the same loop runs over runPlan (the sim), marked js-loop', () => {
    const { backend, container } = simContainer();
    const cell = new BenchRunner(backend, container, defaultPlanner, { reps: 3, warmup: 0, budget }).run(oneCell).cells[0]!;
    expect(cell.timing).toBe('js-loop');
    expect(cell.samples).toHaveLength(3);
    expect(cell.samples.every((ns) => ns > 0)).toBe(true);
  });

  it('a failure inside the native loop skips the cell with the errno and leaves nothing mapped', () => {
    const { backend, container } = simContainer();
    const space = Object.assign(container, {
      runPlanCycles(plan: BigUint64Array) {
        container.runPlan('map', plan); // the first repetition mapped, then the unmap "failed"
        return { mapNs: new Float64Array(0), unmapNs: new Float64Array(0), completed: 0, failedOp: 'unmap' as const, failedIndex: 0, errno: 4 };
      },
    });
    const out = new BenchRunner(backend, space, defaultPlanner, { reps: 2, warmup: 0, budget }).run(oneCell);
    expect(out.cells[0]!.skipped).toMatch(/EINTR/);
    expect(container.info().dmaAvail).toBe(65535);
  });
});
