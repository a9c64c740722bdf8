import { describe, expect, it } from 'vitest';
import { SZ_4K } from '../../lib/backend.js';
import { MappedSet, buildPlan } from '../../lib/plan/index.js';
import { TEST_INFO } from './plan-fake-space.js';
import { int, rng } from './plan-gen.js';
import { sampled } from '../long.js';

describe('MappedSet', () => {
  it('merges touching spans, splits on delete, answers overlap and cover', () => {
    const s = new MappedSet();
    s.add(0x1000n, 0x1000n);
    s.add(0x3000n, 0x1000n);
    s.add(0x2000n, 0x1000n);
    expect(s.spans()).toEqual([{ iova: 0x1000n, size: 0x3000n }]);
    s.delete(0x2000n, 0x1000n);
    expect(s.spans()).toEqual([{ iova: 0x1000n, size: 0x1000n }, { iova: 0x3000n, size: 0x1000n }]);
    expect([s.overlaps(0x2000n, 0x1000n), s.overlaps(0x2000n, 0x1001n), s.covers(0x3000n, 0x1000n), s.covers(0x1000n, 0x3000n)])
      .toEqual([false, true, true, false]);
    expect(s.bytes).toBe(0x2000n);
  });

  it('property: agrees with a page set under random plan adds and deletes', () => {
    // Seeds 1-30 under test:long, 8 of them spread across that range in npm test.
    for (const seed of sampled(Array.from({ length: 30 }, (_, i) => i + 1), 8)) {
      const r = rng(seed);
      const s = new MappedSet();
      const pages = new Set<bigint>();
      for (let step = 0; step < 40; step++) {
        const reqs = Array.from({ length: int(r, 1, 8) }, () => {
          const iova = 0x10_0000n + BigInt(int(r, 0, 300)) * SZ_4K;
          return { vaddr: 0x7f00_0000_0000n, iova, size: BigInt(int(r, 1, 6)) * SZ_4K };
        });
        // requests may overlap here: record them one by one through single-entry plans
        const add = r() < 0.6;
        for (const q of reqs) {
          const plan = buildPlan([q], 'coalesced', TEST_INFO);
          if (add) s.addPlan(plan.entries);
          else s.deletePlan(plan.entries);
          for (let o = 0n; o < q.size; o += SZ_4K) {
            if (add) pages.add(q.iova + o);
            else pages.delete(q.iova + o);
          }
        }
        const fromSet = new Set<bigint>();
        for (const sp of s.spans()) for (let o = 0n; o < sp.size; o += SZ_4K) fromSet.add(sp.iova + o);
        expect(fromSet, `seed ${seed} step ${step}`).toEqual(pages);
        // disjoint and not touching
        const sp = s.spans();
        for (let k = 1; k < sp.length; k++) expect(sp[k - 1]!.iova + sp[k - 1]!.size < sp[k]!.iova).toBe(true);
      }
    }
  });

  it('records a whole unsorted plan in one pass', () => {
    const reqs = [{ vaddr: 0n, iova: 0x9000n, size: SZ_4K }, { vaddr: 0n, iova: 0x1000n, size: SZ_4K }, { vaddr: 0n, iova: 0x2000n, size: SZ_4K }];
    const plan = buildPlan(reqs, 'per-page', TEST_INFO);
    const s = new MappedSet();
    s.addPlan(plan.entries, plan.count);
    expect(s.spans()).toEqual([{ iova: 0x1000n, size: 0x2000n }, { iova: 0x9000n, size: SZ_4K }]);
  });
});
