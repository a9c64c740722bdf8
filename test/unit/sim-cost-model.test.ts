// The cost model reproduces the figures it was derived from, and runPlan
// charges by the backing of the memory it maps.
import { describe, expect, it } from 'vitest';
import { PLAN_STRIDE, PROT_RW, SZ_2M, SZ_4K } from '../../lib/backend.js';
import { defaultCostModel, mapCostNs, unmapCostNs } from '../../lib/sim/cost-model.js';
import { SimBackend, SIM_DEFAULT_GROUP } from '../../lib/sim/index.js';

describe('cost model', () => {
  const model = defaultCostModel();

  it('gives back the thread\'s single-page and 512-page batched figures', () => {
    expect(mapCostNs(model, [{ backing: '4k', pages: 1, entries: 1 }])).toBeCloseTo(1638, 6);
    expect(mapCostNs(model, [{ backing: '4k', pages: 512, entries: 512 }])).toBeCloseTo(167286, 6);
    expect(mapCostNs(model, [{ backing: 'thp', pages: 512, entries: 1 }])).toBeCloseTo(126900, 6);
    expect(mapCostNs(model, [{ backing: 'hugetlb', pages: 512, entries: 1 }])).toBeCloseTo(102188, 6);
  });

  it('gives back the per-page loop figures when pinning is not batched', () => {
    const loop = { ...model, batched: false };
    // First page at T1, the other 511 at Tloop512 / 512 each.
    expect(mapCostNs(loop, [{ backing: '4k', pages: 512, entries: 512 }])).toBeCloseTo(1638 + 511 * 223651 / 512, 6);
    expect(model.costs['4k'].loopPageNs).toBeCloseTo(436.8, 1);
  });

  it('states its source', () => {
    expect(model.source).toMatch(/1638/);
    expect(model.source).toMatch(/assumed/);
  });

  it('charges an unmap its call overhead plus the pages it unpins', () => {
    const c = model.costs['4k'];
    expect(unmapCostNs(model, [])).toBeCloseTo(c.callOverheadNs, 6);
    expect(unmapCostNs(model, [{ backing: '4k', pages: 10, entries: 10 }])).toBeCloseTo(c.callOverheadNs + 10 * c.unpinPageNs, 6);
  });
});

describe('runPlan timings', () => {
  function mapOne(backing: '4k' | 'thp' | 'hugetlb' | null): number {
    // anyVaddr: memory the sim did not allocate may be mapped (as 4 KiB pages).
    const sim = new SimBackend({ anyVaddr: true });
    const c = sim.openContainer();
    const g = sim.openGroup(SIM_DEFAULT_GROUP);
    g.setContainer(c);
    c.setIommu('type1v2');
    const vaddr = backing ? sim.allocBuffer({ size: SZ_2M, backing }).vaddr : 0x5555_0000_0000n;
    const plan = new BigUint64Array(PLAN_STRIDE);
    plan.set([vaddr, 0x4000_0000n, SZ_2M, BigInt(PROT_RW)]);
    const r = c.runPlan('map', plan);
    expect(r.simulated).toBe(true);
    expect(r.completed).toBe(1);
    return r.ns[0]!;
  }

  it('follows the backing of the sim\'s own buffers; other memory (anyVaddr) costs as 4 KiB pages', () => {
    const small = mapOne('4k');
    const thp = mapOne('thp');
    const huge = mapOne('hugetlb');
    expect(mapOne(null)).toBe(small);
    expect(thp).toBeLessThan(small);
    expect(huge).toBeLessThan(thp);
    // 512 pages of 4 KiB in one call: exactly the batched 512-page figure.
    expect(small).toBeCloseTo(167286, 6);
  });

  it('honours overridden figures', () => {
    const sim = new SimBackend({ anyVaddr: true, costModel: { costs: { '4k': { firstPageNs: 10, batchPageNs: 1 } } } });
    expect(sim.options.costModel.costs['4k'].firstPageNs).toBe(10);
    expect(sim.options.costModel.source).toMatch(/overridden/);
    const c = sim.openContainer();
    const g = sim.openGroup(SIM_DEFAULT_GROUP);
    g.setContainer(c);
    c.setIommu('type1v2');
    const plan = new BigUint64Array(PLAN_STRIDE);
    plan.set([0x5555_0000_0000n, 0x4000_0000n, 4n * SZ_4K, BigInt(PROT_RW)]);
    expect(c.runPlan('map', plan).ns[0]).toBe(13);
  });
});
