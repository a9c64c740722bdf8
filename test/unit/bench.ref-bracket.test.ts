// `--ref` as addon, C, addon (lib/bench/ref-bracket.ts): the addon's kernel
// loop runs each kept plan again after C, on fresh buffers, each vaddr at its
// old offset. Here on the sim: the plans the matrix kept run again, with
// their repetitions, and leave nothing mapped or open.
import { describe, expect, it } from 'vitest';
import { PLAN_VADDR } from '../../lib/backend.js';
import { defaultPlanner } from '../../lib/bench/planner.js';
import { addonAgain, rebase } from '../../lib/bench/ref-bracket.js';
import { BenchRunner, type KeptPlan } from '../../lib/bench/runner.js';
import { cellsFor } from '../../lib/bench/suites.js';
import { SimBackend } from '../../lib/sim/index.js';

const GROUP = 7;

function keptMatrix(backend: SimBackend): Map<string, KeptPlan> {
  const container = backend.openContainer();
  const group = backend.openGroup(GROUP);
  group.setContainer(container);
  container.setIommu('type1v2');
  try {
    const runner = new BenchRunner(backend, container, defaultPlanner, {
      reps: 2, warmup: 1, budget: { maxBuffer: 1n << 30n, hugetlbFree: null, lockable: null }, keepPlans: true, warm: { minCalls: 300 },
    });
    return runner.run(cellsFor('matrix')).plans;
  } finally {
    group.close();
    container.close();
  }
}

describe('--ref: the addon again after C', () => {
  it('rebases a plan: IOVAs kept, every vaddr at the same offset in the new buffer', () => {
    const plan: KeptPlan = {
      backing: 'thp', bufferSize: 0x40_0000n, bufferVaddr: 0x7f00_0000_0000n, iovaBase: 0x20_0000n, count: 2, op: 'map',
      entries: BigUint64Array.from([0x7f00_0000_0000n, 0x20_0000n, 0x1000n, 3n, 0x7f00_0000_3000n, 0x20_3000n, 0x1000n, 1n]),
    };
    expect(Array.from(rebase(plan, 0x5500_0020_0000n))).toEqual(
      [0x5500_0020_0000n, 0x20_0000n, 0x1000n, 3n, 0x5500_0020_3000n, 0x20_3000n, 0x1000n, 1n]);
    expect(plan.entries[PLAN_VADDR]).toBe(0x7f00_0000_0000n); // the kept plan is not changed
  });

  it('runs every kept matrix plan again, its repetitions after the warm-up, and leaves nothing behind', () => {
    const backend = new SimBackend();
    const plans = keptMatrix(backend);
    expect(plans.size).toBe(18);
    const again = addonAgain(backend, GROUP, plans, 3, 1);
    expect(again.errors).toEqual([]);
    expect([...again.samples.keys()].sort()).toEqual([...plans.keys()].sort());
    for (const s of again.samples.values()) {
      expect(s).toHaveLength(3);
      for (const ns of s) expect(ns).toBeGreaterThan(0);
    }
    // The group closed again (it opens once) and nothing is mapped: the matrix's IOVAs map afresh.
    const container = backend.openContainer();
    const group = backend.openGroup(GROUP);
    group.setContainer(container);
    container.setIommu('type1v2');
    const [, first] = [...plans][0]!;
    const buf = backend.allocBuffer({ size: first.bufferSize, backing: first.backing, prefault: true });
    // EEXIST at entry 0 if the second pass had left its mapping behind.
    expect(container.runPlan('map', rebase(first, buf.vaddr))).toMatchObject({ failedIndex: -1, completed: first.count });
    expect(container.unmapAll()).toBeGreaterThan(0n);
    group.close();
    container.close();
    buf.close();
  });
});
