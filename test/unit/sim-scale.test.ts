// Scale of the simulated backend: a million mapped pages in one container and
// a hundred thousand map/unmap calls. Checks results, prints the timings and
// memory (figures, not assertions: speed is judged from the printout).
import { describe, expect, it } from 'vitest';
import { PLAN_STRIDE, PROT_RW, SZ_1G, SZ_4K } from '../../lib/backend.js';
import { SimBackend, SIM_DEFAULT_GROUP, type SimOptions } from '../../lib/sim/index.js';
import { IN_FULL, scaled } from '../long.js';

// npm test: 128,000 pages (2,000 whole bitmap words) and 10,000 calls; test:long: the full sizes.
const PAGES = scaled(1_000_000, 128_000);
const OPS = scaled(100_000, 10_000);
// The same pages again as mappings of 100 pages each.
const MAPPINGS = PAGES / 100;
// Memory the sim never allocated (anyVaddr): 4 KiB pages, and no ArrayBuffer of 4 GiB.
const VADDR = 0x5000_0000_0000n;
// Above the 4 GiB boundary, clear of the MSI window.
const BASE = 8n * SZ_1G;

function attached(opts: SimOptions) {
  const sim = new SimBackend({ anyVaddr: true, ...opts });
  const c = sim.openContainer();
  const g = sim.openGroup(SIM_DEFAULT_GROUP);
  g.setContainer(c);
  c.setIommu('type1v2');
  return c;
}

function shuffled(n: number, seed: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const j = seed % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function timed<T>(fn: () => T): [T, number] {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return [r, Number(process.hrtime.bigint() - t0) / 1e6];
}

function heapMiB(): number {
  return process.memoryUsage().heapUsed / (1 << 20);
}

describe(`sim scale${IN_FULL}`, () => {
  it(`holds ${PAGES} mapped pages in one container with memory per mapping, not per page`, () => {
    const c = attached({ memlock: { exempt: true } });
    const heap0 = heapMiB();
    const [, tOne] = timed(() => c.map({ vaddr: VADDR, iova: BASE, size: BigInt(PAGES) * SZ_4K }));
    const heapOne = heapMiB() - heap0;
    expect(c.memlock().locked).toBe(BigInt(PAGES) * SZ_4K);
    c.dirtyStart();
    const [bm, tDirty] = timed(() => c.dirtyGet(BASE, BigInt(PAGES) * SZ_4K, SZ_4K));
    expect(bm.bits.length).toBe(Math.ceil(PAGES / 64));
    expect(PAGES % 64).toBe(0); // whole words, so every bit of every word is a mapped page
    expect(bm.bits.every((w) => w === (1n << 64n) - 1n)).toBe(true);
    c.dirtyStop();
    const [gone, tUnmap] = timed(() => c.unmap(BASE, BigInt(PAGES) * SZ_4K));
    expect(gone).toBe(BigInt(PAGES) * SZ_4K);

    // The same pages as mappings of 100 pages.
    const [, tMany] = timed(() => {
      for (let i = 0; i < MAPPINGS; i++) {
        c.map({ vaddr: VADDR + BigInt(i) * 100n * SZ_4K, iova: BASE + BigInt(i) * 100n * SZ_4K, size: 100n * SZ_4K });
      }
    });
    expect(c.info().dmaAvail).toBe(65535 - MAPPINGS);
    const [all, tAll] = timed(() => c.unmapAll());
    expect(all).toBe(BigInt(PAGES) * SZ_4K);

    console.log(`[sim-scale] simulated backend, ${PAGES} pages (${Math.round(PAGES * 4 / 1024)} MiB) in one container: `
      + `1 mapping ${tOne.toFixed(2)} ms (heap +${heapOne.toFixed(2)} MiB), dirty bitmap ${tDirty.toFixed(2)} ms, `
      + `unmap ${tUnmap.toFixed(2)} ms; ${MAPPINGS} mappings of 100 pages ${tMany.toFixed(1)} ms, UNMAP_ALL ${tAll.toFixed(1)} ms`);
    // A record per page would be tens of MiB here.
    expect(heapOne).toBeLessThan(16);
  });

  it(`runs ${OPS} map/unmap calls in random IOVA order`, () => {
    const half = OPS / 2;
    const c = attached({ dmaEntryLimit: half, memlock: { exempt: true } });
    const order = shuffled(half, 42);
    const heap0 = heapMiB();
    const [, tMap] = timed(() => {
      for (const i of order) c.map({ vaddr: VADDR + BigInt(i) * SZ_4K, iova: BASE + BigInt(i) * 2n * SZ_4K, size: SZ_4K });
    });
    const heapPerMapping = ((heapMiB() - heap0) * (1 << 20)) / half;
    expect(c.info().dmaAvail).toBe(0);
    const [sum, tUnmap] = timed(() => {
      let n = 0n;
      for (const i of shuffled(half, 7)) n += c.unmap(BASE + BigInt(i) * 2n * SZ_4K, SZ_4K);
      return n;
    });
    expect(sum).toBe(BigInt(half) * SZ_4K);
    expect(c.memlock().locked).toBe(0n);

    // The same through runPlan (the planner's path).
    const plan = new BigUint64Array(half * PLAN_STRIDE);
    order.forEach((i, k) => plan.set([VADDR + BigInt(i) * SZ_4K, BASE + BigInt(i) * 2n * SZ_4K, SZ_4K, BigInt(PROT_RW)], k * PLAN_STRIDE));
    const [rm, tPlanMap] = timed(() => c.runPlan('map', plan));
    expect([rm.completed, rm.failedIndex]).toEqual([half, -1]);
    const [ru, tPlanUnmap] = timed(() => c.runPlan('unmap', plan));
    expect(ru.unmapped).toBe(BigInt(half) * SZ_4K);
    const simulatedMs = rm.ns.reduce((a, b) => a + b, 0) / 1e6;

    console.log(`[sim-scale] ${OPS} calls, random order: ${half} map ${tMap.toFixed(0)} ms + ${half} unmap ${tUnmap.toFixed(0)} ms `
      + `(~${heapPerMapping.toFixed(0)} B heap per mapping); runPlan map ${tPlanMap.toFixed(0)} ms + unmap ${tPlanUnmap.toFixed(0)} ms; `
      + `cost model says the ${half} single-page maps would take ${simulatedMs.toFixed(1)} ms (simulated)`);
  });
});
