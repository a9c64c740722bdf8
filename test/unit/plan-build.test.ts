import { availableParallelism, loadavg } from 'node:os';
import { describe, expect, it } from 'vitest';
import { PROT_READ, PROT_RW, SZ_1G, SZ_2M, SZ_4K, type DmaSpace, type IommuInfo } from '../../lib/backend.js';
import { VfioError } from '../../lib/errors.js';
import { MappedSet, STRATEGIES, buildPlan, mapBatch, type MapRequest, type Strategy } from '../../lib/plan/index.js';
import { radixOrder } from '../../lib/plan/radix.js';
import { SIM_DEFAULT_GROUP, SimBackend } from '../../lib/sim/index.js';
import { TEST_INFO } from './plan-fake-space.js';
import { entriesOf, int, plannedPages, randomRequests, requestedPages, rng, toWords } from './plan-gen.js';
import { IN_FULL, LONG, sampled, scaled } from '../long.js';

const V = 0x7f00_0000_0000n;
const pagesAt = (iova: bigint, n: number, vaddr = V, prot = PROT_RW): MapRequest[] =>
  Array.from({ length: n }, (_, k) => ({ vaddr: vaddr + BigInt(k) * SZ_4K, iova: iova + BigInt(k) * SZ_4K, size: SZ_4K, prot }));

describe('buildPlan: coalescing', () => {
  it('merges pages contiguous in IOVA and vaddr with equal prot into one entry', () => {
    const plan = buildPlan(pagesAt(0x10_0000n, 512), 'coalesced', TEST_INFO);
    expect(entriesOf(plan)).toEqual([{ vaddr: V, iova: 0x10_0000n, size: 512n * SZ_4K, prot: PROT_RW }]);
    expect(plan.bytes).toBe(SZ_2M);
    expect(plan.pages).toBe(512n);
    expect([plan.firstRequest[0], plan.lastRequest[0]]).toEqual([0, 511]);
  });

  it('a single page is a run of one, through the same loop', () => {
    const plan = buildPlan(pagesAt(0x10_0000n, 1), 'coalesced', TEST_INFO);
    expect(entriesOf(plan)).toEqual([{ vaddr: V, iova: 0x10_0000n, size: SZ_4K, prot: PROT_RW }]);
    expect(buildPlan(pagesAt(0x10_0000n, 1), 'per-page', TEST_INFO).entries).toEqual(plan.entries);
    expect(buildPlan(pagesAt(0x10_0000n, 1), 'kernel', TEST_INFO).entries).toEqual(plan.entries);
  });

  it('splits where the vaddr breaks, the IOVA breaks, or prot changes', () => {
    const reqs = [
      ...pagesAt(0x10_0000n, 2),
      { vaddr: V + 0x10_0000n, iova: 0x10_2000n, size: SZ_4K }, // vaddr jump
      { vaddr: V + 0x10_1000n, iova: 0x20_0000n, size: SZ_4K }, // IOVA jump
      { vaddr: V + 0x10_2000n, iova: 0x20_1000n, size: SZ_4K, prot: PROT_READ }, // prot change
    ];
    const plan = buildPlan(reqs, 'coalesced', TEST_INFO);
    expect(entriesOf(plan).map((e) => [e.iova, e.size])).toEqual([
      [0x10_0000n, 0x2000n], [0x10_2000n, SZ_4K], [0x20_0000n, SZ_4K], [0x20_1000n, SZ_4K],
    ]);
    expect(Array.from(plan.firstRequest)).toEqual([0, 2, 3, 4]);
    expect(Array.from(plan.lastRequest)).toEqual([1, 2, 3, 4]);
  });

  it('splits at every IOVA-range end, also between two touching ranges', () => {
    const edge = 0x10_0000_0000n; // TEST_INFO: one range ends at edge - 1, the next starts at edge
    const plan = buildPlan([{ vaddr: V, iova: edge - 0x3000n, size: 0x5000n }], 'coalesced', TEST_INFO);
    expect(entriesOf(plan).map((e) => [e.iova, e.size, e.vaddr])).toEqual([
      [edge - 0x3000n, 0x3000n, V], [edge, 0x2000n, V + 0x3000n],
    ]);
    expect(Array.from(plan.firstRequest)).toEqual([0, 0]);
  });

  it('refuses IOVAs in a hole or outside every range, naming the request', () => {
    expect(() => buildPlan([...pagesAt(0x1000n, 1), ...pagesAt(0xfee0_0000n, 1, V + SZ_4K)], 'coalesced', TEST_INFO))
      .toThrow(/request 1: IOVA 0xfee00000 is outside the usable IOVA ranges/);
    // a run that walks off the end of a range into the hole
    expect(() => buildPlan([{ vaddr: V, iova: 0xfedf_f000n, size: 0x2000n }], 'coalesced', TEST_INFO)).toThrow(RangeError);
  });

  it('cuts runs at multiples of maxEntrySize, keeping later pieces aligned', () => {
    const plan = buildPlan([{ vaddr: V + 0x1000n, iova: 0x20_1000n, size: 3n * SZ_2M }], 'coalesced', TEST_INFO, { maxEntrySize: SZ_2M });
    expect(entriesOf(plan).map((e) => [e.iova, e.size])).toEqual([
      [0x20_1000n, SZ_2M - 0x1000n], [0x40_0000n, SZ_2M], [0x60_0000n, SZ_2M], [0x80_0000n, 0x1000n],
    ]);
    expect(() => buildPlan(pagesAt(0n, 1), 'coalesced', TEST_INFO, { maxEntrySize: 0x1800n })).toThrow(RangeError);
  });

  it('with dirty tracking, no entry outgrows what one maximal dirty bitmap covers', () => {
    // 8 bytes of bitmap = 64 pages of 4 KiB = 256 KiB
    const info: IommuInfo = { ...TEST_INFO, migration: { flags: 0, pageSizes: SZ_4K, maxDirtyBitmapSize: 8n } };
    const plan = buildPlan([{ vaddr: V, iova: 0x10_0000n, size: 0x10_0000n }], 'coalesced', info);
    expect(entriesOf(plan).map((e) => e.size)).toEqual([0x4_0000n, 0x4_0000n, 0x4_0000n, 0x4_0000n]);
    expect(buildPlan([{ vaddr: V, iova: 0x10_0000n, size: 0x10_0000n }], 'kernel', info).count).toBe(1);
  });

  it('per-page issues one entry per 4 KiB page, even for one big request', () => {
    const plan = buildPlan([{ vaddr: V, iova: SZ_2M, size: SZ_2M }], 'per-page', TEST_INFO);
    expect(plan.count).toBe(512);
    expect(entriesOf(plan).every((e, k) => e.size === SZ_4K && e.iova === SZ_2M + BigInt(k) * SZ_4K && e.vaddr === V + BigInt(k) * SZ_4K)).toBe(true);
    expect(plan.firstRequest.every((f) => f === 0)).toBe(true);
  });

  it("'kernel' is one call for one contiguous region and refuses anything else", () => {
    expect(buildPlan(pagesAt(SZ_1G, 4096), 'kernel', TEST_INFO).count).toBe(1);
    expect(() => buildPlan([...pagesAt(0x10_0000n, 2), ...pagesAt(0x20_0000n, 2, V + 0x2000n)], 'kernel', TEST_INFO))
      .toThrow(/'kernel' maps one contiguous region.*breaks at request 2/);
  });

  it('splits around known mappings, or refuses them with EEXIST before mapping anything', () => {
    const existing = new MappedSet();
    existing.add(0x10_2000n, 0x2000n);
    const reqs = pagesAt(0x10_0000n, 8);
    let err: unknown;
    try {
      buildPlan(reqs, 'coalesced', TEST_INFO, { existing });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VfioError);
    expect((err as VfioError).code).toBe('EEXIST');
    expect((err as VfioError).args.request).toBe(2);
    expect((err as VfioError).hint).toMatch(/before anything was mapped/);

    const plan = buildPlan(reqs, 'coalesced', TEST_INFO, { existing, onExisting: 'skip' });
    expect(entriesOf(plan).map((e) => [e.iova, e.size, e.vaddr])).toEqual([
      [0x10_0000n, 0x2000n, V], [0x10_4000n, 0x4000n, V + 0x4000n],
    ]);
    expect(plan.skipped).toBe(0x2000n);
    expect(Array.from(plan.firstRequest)).toEqual([0, 4]);
  });

  it('a run stops short of a known mapping it would otherwise grow into', () => {
    const existing = new MappedSet();
    existing.add(0x10_3000n, 0x1000n);
    // requests do not touch 0x103000; they are on both sides of it
    const reqs = [...pagesAt(0x10_0000n, 3), ...pagesAt(0x10_4000n, 2, V + 0x4000n)];
    const plan = buildPlan(reqs, 'coalesced', TEST_INFO, { existing });
    expect(entriesOf(plan).map((e) => e.size)).toEqual([0x3000n, 0x2000n]);
  });

  it('refuses requests that overlap each other, in any order', () => {
    const reqs = [...pagesAt(0x30_0000n, 4), ...pagesAt(0x10_0000n, 4, V + 0x10_0000n), { vaddr: V, iova: 0x30_2000n, size: SZ_4K }];
    expect(() => buildPlan(reqs, 'coalesced', TEST_INFO)).toThrow(/overlap at IOVA 0x302000/);
    expect(() => buildPlan([...pagesAt(0x10_0000n, 2), ...pagesAt(0x10_1000n, 1)], 'per-page', TEST_INFO)).toThrow(/overlap/);
  });

  it('validates input: types, alignment, zero size, wrap, prot', () => {
    expect(() => buildPlan([{ vaddr: 1, iova: 0n, size: SZ_4K } as unknown as MapRequest], 'coalesced', TEST_INFO)).toThrow(TypeError);
    expect(() => buildPlan([{ vaddr: V, iova: 0x800n, size: SZ_4K }], 'coalesced', TEST_INFO)).toThrow(/request 0: .*multiples of the IOMMU page size/);
    expect(() => buildPlan([{ vaddr: V, iova: 0n, size: 0n }], 'coalesced', TEST_INFO)).toThrow(RangeError);
    expect(() => buildPlan([{ vaddr: V, iova: 0n, size: SZ_4K, prot: 0 }], 'coalesced', TEST_INFO)).toThrow(/prot/);
    expect(() => buildPlan([{ vaddr: V, iova: 0n, size: SZ_4K, prot: 4 }], 'coalesced', TEST_INFO)).toThrow(/prot/);
    expect(() => buildPlan([{ vaddr: -1n, iova: 0n, size: SZ_4K }], 'coalesced', TEST_INFO)).toThrow(RangeError);
    const whole: IommuInfo = { ...TEST_INFO, ranges: [{ start: 0n, last: (1n << 64n) - 1n }] };
    expect(() => buildPlan([{ vaddr: V, iova: (1n << 64n) - SZ_4K, size: 2n * SZ_4K }], 'coalesced', whole)).toThrow(/wraps/);
    expect(() => buildPlan(new BigUint64Array(5), 'coalesced', TEST_INFO)).toThrow(/multiple of 4/);
    expect(() => buildPlan([], 'fastest' as Strategy, TEST_INFO)).toThrow(TypeError);
  });

  it('handles the top of the 64-bit space exactly', () => {
    const whole: IommuInfo = { ...TEST_INFO, ranges: [{ start: 0n, last: (1n << 64n) - 1n }] };
    const top = (1n << 64n) - 2n * SZ_4K;
    const plan = buildPlan([{ vaddr: (1n << 64n) - 2n * SZ_4K, iova: top, size: 2n * SZ_4K }], 'coalesced', whole);
    expect(entriesOf(plan)).toEqual([{ vaddr: top, iova: top, size: 2n * SZ_4K, prot: PROT_RW }]);
  });

  it('plans nothing for no requests', () => {
    for (const s of STRATEGIES) {
      const plan = buildPlan([], s, TEST_INFO);
      expect([plan.count, plan.bytes, plan.entries.length]).toEqual([0, 0n, 0]);
    }
  });
});

describe('buildPlan: what it keeps between calls', () => {
  it('plans against the IommuInfo as it is now, even when the same object was changed in place', () => {
    const info: IommuInfo = { ...TEST_INFO, ranges: TEST_INFO.ranges.map((r) => ({ ...r })), migration: null };
    expect(buildPlan(pagesAt(0x10_0000n, 4), 'coalesced', info).count).toBe(1);
    // A range end inside the run now: it must split there.
    (info.ranges[0] as { last: bigint }).last = 0x10_1fffn;
    info.ranges.splice(1, 0, { start: 0x10_2000n, last: 0x10_ffffn });
    const split = buildPlan(pagesAt(0x10_0000n, 4), 'coalesced', info);
    expect(entriesOf(split).map((e) => e.iova)).toEqual([0x10_0000n, 0x10_2000n]);
    // Dirty tracking now caps an entry at one bitmap of 8 bits (8 pages of 4 KiB).
    info.migration = { flags: 0, pageSizes: SZ_4K, maxDirtyBitmapSize: 1n };
    expect(buildPlan(pagesAt(0x1_0000_0000n, 16), 'coalesced', info).count).toBe(2);
    info.migration = null;
    expect(buildPlan(pagesAt(0x1_0000_0000n, 16), 'coalesced', info).count).toBe(1);
    // A larger smallest page: 4 KiB requests are refused again.
    info.pageSizes = SZ_2M;
    expect(() => buildPlan(pagesAt(0x1_0000_0000n, 1), 'coalesced', info)).toThrow(/multiples of the IOMMU page size 0x200000/);
  });

  it('hands every plan its own arrays: a later plan does not change an earlier one', () => {
    const a = buildPlan(pagesAt(0x10_0000n, 1), 'coalesced', TEST_INFO);
    const before = [Array.from(a.entries), Array.from(a.firstRequest), Array.from(a.lastRequest)];
    const b = buildPlan([...pagesAt(0x40_0000n, 3), ...pagesAt(0x80_0000n, 2)], 'per-page', TEST_INFO);
    expect(b.count).toBe(5);
    expect([Array.from(a.entries), Array.from(a.firstRequest), Array.from(a.lastRequest)]).toEqual(before);
    expect(a.entries.length).toBe(4);
    expect(b.firstRequest.length).toBe(5);
  });

  it('recovers from a plan refused half-way: the next plan is whole and separate', () => {
    expect(() => buildPlan([...pagesAt(0x10_0000n, 2), { vaddr: V, iova: 0x10_0001n, size: SZ_4K }], 'per-page', TEST_INFO)).toThrow(RangeError);
    const a = buildPlan(pagesAt(0x10_0000n, 2), 'per-page', TEST_INFO);
    const b = buildPlan(pagesAt(0x30_0000n, 2), 'per-page', TEST_INFO);
    expect(entriesOf(a).map((e) => e.iova)).toEqual([0x10_0000n, 0x10_1000n]);
    expect(entriesOf(b).map((e) => e.iova)).toEqual([0x30_0000n, 0x30_1000n]);
  });
});

describe(`buildPlan: properties over random mixes (seeded)${IN_FULL}`, () => {
  const ALL_SEEDS = Array.from({ length: 300 }, (_, k) => 1000 + k);
  const SEEDS = sampled(ALL_SEEDS, 60);
  const FEW = sampled(ALL_SEEDS.slice(0, 100), 25);

  it('maps exactly the requested pages, never more, never twice, each entry inside one range', () => {
    for (const seed of SEEDS) {
      const reqs = randomRequests(seed);
      const want = requestedPages(reqs);
      for (const strategy of ['per-page', 'coalesced'] as const) {
        const plan = buildPlan(reqs, strategy, TEST_INFO);
        const got = plannedPages(plan); // throws on a page planned twice
        expect(got, `seed ${seed} ${strategy}`).toEqual(want);
        expect(plan.bytes).toBe(BigInt(want.size) * SZ_4K);
        for (const e of entriesOf(plan)) {
          const last = e.iova + e.size - 1n;
          expect(TEST_INFO.ranges.some((r) => r.start <= e.iova && last <= r.last), `seed ${seed}`).toBe(true);
          if (strategy === 'per-page') expect(e.size).toBe(SZ_4K);
        }
      }
    }
  });

  it('coalesced is minimal: no two neighbouring entries could have been one call', () => {
    const rangeOf = (iova: bigint): number => TEST_INFO.ranges.findIndex((r) => r.start <= iova && iova <= r.last);
    for (const seed of SEEDS) {
      const entries = entriesOf(buildPlan(randomRequests(seed), 'coalesced', TEST_INFO));
      for (let k = 1; k < entries.length; k++) {
        const a = entries[k - 1]!;
        const b = entries[k]!;
        const mergeable = a.iova + a.size === b.iova && a.vaddr + a.size === b.vaddr && a.prot === b.prot && rangeOf(a.iova) === rangeOf(b.iova);
        expect(mergeable, `seed ${seed} entry ${k}`).toBe(false);
      }
    }
  });

  it('every entry names the requests it covers', () => {
    for (const seed of FEW) {
      const reqs = randomRequests(seed);
      const plan = buildPlan(reqs, 'coalesced', TEST_INFO);
      entriesOf(plan).forEach((e, k) => {
        const first = plan.firstRequest[k]!;
        const last = plan.lastRequest[k]!;
        expect(first).toBeLessThanOrEqual(last);
        // every page of the entry belongs to one of those requests, and each of them touches the entry
        for (let off = 0n; off < e.size; off += SZ_4K) {
          const p = e.iova + off;
          const owner = reqs.findIndex((q) => q.iova <= p && p < q.iova + q.size);
          expect(owner >= first && owner <= last, `seed ${seed}`).toBe(true);
        }
        for (let q = first; q <= last; q++) {
          const r = reqs[q]!;
          expect(r.iova < e.iova + e.size && e.iova < r.iova + r.size).toBe(true);
        }
      });
    }
  });

  it('BigUint64Array input plans exactly as objects do', () => {
    for (const seed of FEW) {
      const reqs = randomRequests(seed);
      for (const strategy of ['per-page', 'coalesced'] as const) {
        const a = buildPlan(reqs, strategy, TEST_INFO);
        const b = buildPlan(toWords(reqs), strategy, TEST_INFO);
        expect(b.entries).toEqual(a.entries);
        expect(b.firstRequest).toEqual(a.firstRequest);
        expect(b.lastRequest).toEqual(a.lastRequest);
      }
    }
  });

  it('maxEntrySize never changes what is mapped, only how many calls', () => {
    for (const seed of FEW) {
      const reqs = randomRequests(seed);
      const plain = buildPlan(reqs, 'coalesced', TEST_INFO);
      const capped = buildPlan(reqs, 'coalesced', TEST_INFO, { maxEntrySize: 0x4000n });
      expect(plannedPages(capped)).toEqual(plannedPages(plain));
      expect(entriesOf(capped).every((e) => e.size <= 0x4000n && (e.iova / 0x4000n) === ((e.iova + e.size - 1n) / 0x4000n))).toBe(true);
      expect(capped.count).toBeGreaterThanOrEqual(plain.count);
    }
  });
});

describe('radixOrder (the overlap check of unsorted plans)', () => {
  it('orders 64-bit keys like a comparator sort does, stably', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = rng(seed);
      const n = int(r, 0, 3000);
      const hi = new Uint32Array(n);
      const lo = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        // few distinct high halves, so equal keys and skipped passes both happen
        hi[i] = seed % 3 === 0 ? 0 : int(r, 0, 3) * 0x1_0001;
        lo[i] = seed % 2 ? int(r, 0, 0xffff_ffff) : int(r, 0, 50) * 0x1000;
      }
      const key = (i: number): bigint => (BigInt(hi[i]!) << 32n) | BigInt(lo[i]!);
      const want = Array.from({ length: n }, (_, i) => i).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a - b));
      expect(Array.from(radixOrder(hi, lo)), `seed ${seed}`).toEqual(want);
    }
  });
});

// Timing runs print figures for a person to read; they assert nothing a sample would check.
describe.runIf(LONG)('buildPlan: speed (printed, not asserted; npm run test:long)', () => {
  it('costs little on the single-page path', () => {
    // A space that does nothing, so only the planner's own time is measured.
    const idle: DmaSpace = {
      simulated: true,
      info: () => TEST_INFO,
      memlock: () => ({ limit: null, locked: 0n, exempt: true }),
      map: () => {},
      unmap: () => 0n,
      runPlan: (_op, plan) => ({ ns: new Float64Array(plan.length / 4), completed: plan.length / 4, failedIndex: -1, errno: 0, unmapped: 0n, simulated: true }),
    };
    const req = [{ vaddr: V, iova: 0x10_0000n, size: SZ_4K }];
    const per = (fn: () => unknown): number => {
      const reps = 20_000;
      let best = Infinity;
      for (let round = 0; round < 3; round++) {
        const t0 = process.hrtime.bigint();
        for (let k = 0; k < reps; k++) fn();
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / reps);
      }
      return best;
    };
    const plan = buildPlan(req, 'coalesced', TEST_INFO);
    expect(plan.count).toBe(1);
    const build = per(() => buildPlan(req, 'coalesced', TEST_INFO));
    const batch = per(() => mapBatch(idle, plan));
    console.log(`single page: buildPlan ${build.toFixed(0)} ns, mapBatch (planner side, limits check skipped as not worthwhile) ${batch.toFixed(0)} ns`);
  });

  it('costs little next to a direct map() on the simulator (single page)', () => {
    // The bench's "planner overhead" figure, warm: the same page mapped by
    // DmaSpace.map() and by buildPlan + mapBatch, each unmapped again untimed.
    const backend = new SimBackend();
    const c = backend.openContainer();
    const g = backend.openGroup(SIM_DEFAULT_GROUP);
    const buf = backend.allocBuffer({ size: SZ_4K, backing: '4k', prefault: true });
    try {
      g.setContainer(c);
      c.setIommu('type1v2');
      const info = c.info();
      const iova = 0x4000_0000n;
      const req = { vaddr: buf.vaddr, iova, size: SZ_4K };
      const rounds = 5;
      const reps = 5_000;
      const best = { direct: Infinity, build: Infinity, batch: Infinity };
      for (let round = 0; round < rounds; round++) {
        let direct = 0n;
        let build = 0n;
        let batch = 0n;
        for (let k = 0; k < reps; k++) {
          const t0 = process.hrtime.bigint();
          c.map(req);
          const t1 = process.hrtime.bigint();
          c.unmap(iova, SZ_4K);
          const t2 = process.hrtime.bigint();
          const plan = buildPlan([req], 'coalesced', info);
          const t3 = process.hrtime.bigint();
          mapBatch(c, plan);
          const t4 = process.hrtime.bigint();
          c.unmap(iova, SZ_4K);
          direct += t1 - t0;
          build += t3 - t2;
          batch += t4 - t3;
        }
        best.direct = Math.min(best.direct, Number(direct) / reps);
        best.build = Math.min(best.build, Number(build) / reps);
        best.batch = Math.min(best.batch, Number(batch) / reps);
      }
      expect(c.unmapAll()).toBe(0n);
      console.log(`single page on the simulator (best of ${rounds} x ${reps}, hrtime included): direct map() ${best.direct.toFixed(0)} ns; `
        + `buildPlan ${best.build.toFixed(0)} ns + mapBatch ${best.batch.toFixed(0)} ns = ${(best.build + best.batch).toFixed(0)} ns `
        + `(+${(best.build + best.batch - best.direct).toFixed(0)} ns; mapBatch includes the simulator's cost model in runPlan)`);
    } finally {
      c.close();
      g.close();
      buf.close();
    }
  });
});

// The scale check: every entry planned, at a million pages under test:long.
describe(`buildPlan: scale${IN_FULL}`, () => {
  const n = scaled(1_000_000, 50_000);
  it(`plans ${n.toLocaleString('en')} page entries`, () => {
    const shapes: Record<string, (i: number) => bigint> = {
      contiguous: (i) => 0x1_0000_0000n + BigInt(i) * SZ_4K,
      strided: (i) => 0x1_0000_0000n + BigInt(i) * 2n * SZ_4K,
      scattered: (i) => 0x1_0000_0000n + BigInt((i * 7919) % n) * 2n * SZ_4K,
    };
    const lines: string[] = [];
    for (const [shape, iovaOf] of Object.entries(shapes)) {
      const words = new BigUint64Array(n * 4);
      for (let i = 0; i < n; i++) {
        words[4 * i] = V + BigInt(i) * SZ_4K;
        words[4 * i + 1] = iovaOf(i);
        words[4 * i + 2] = SZ_4K;
        words[4 * i + 3] = BigInt(PROT_RW);
      }
      for (const strategy of ['coalesced', 'per-page'] as const) {
        const times: number[] = [];
        const cpu: number[] = [];
        let count = 0;
        for (let rep = 0; rep < scaled(3, 1); rep++) {
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          count = buildPlan(words, strategy, TEST_INFO).count;
          times.push(performance.now() - t0);
          const c = process.cpuUsage(c0);
          cpu.push((c.user + c.system) / 1000);
        }
        expect(count).toBe(shape === 'contiguous' && strategy === 'coalesced' ? 1 : n);
        lines.push(`${shape.padEnd(10)} ${strategy.padEnd(9)} -> ${String(count).padStart(7)} entries: `
          + `first ${times[0]!.toFixed(1)} ms, best ${Math.min(...times).toFixed(1)} ms wall (${Math.min(...cpu).toFixed(0)} ms CPU)`);
      }
    }
    // Wall time on a shared machine says as much about the neighbours: the load is printed too.
    const load = loadavg()[0]!.toFixed(2);
    console.log(`planning ${n.toLocaleString('en')} page requests (BigUint64Array input; load average ${load} on ${availableParallelism()} CPUs):\n  ${lines.join('\n  ')}`);
  });
});
