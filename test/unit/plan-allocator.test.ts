import { describe, expect, it } from 'vitest';
import { SZ_1G, SZ_2M, SZ_4K, type IommuInfo } from '../../lib/backend.js';
import { VfioError } from '../../lib/errors.js';
import { IovaAllocator, adviseAlignment, buildPlan, congruent } from '../../lib/plan/index.js';
import { TEST_INFO } from './plan-fake-space.js';
import { int, rng } from './plan-gen.js';
import { sampled } from '../long.js';

const U64_MAX = (1n << 64n) - 1n;
const info = (ranges: { start: bigint; last: bigint }[], pageSizes = SZ_4K | SZ_2M | SZ_1G): IommuInfo =>
  ({ pageSizes, ranges, dmaAvail: null, migration: null });
const inOneRange = (i: IommuInfo, iova: bigint, size: bigint): boolean =>
  i.ranges.some((r) => r.start <= iova && iova + size - 1n <= r.last);

describe('IovaAllocator', () => {
  it('aligns to the largest IOMMU page the backing and the length allow', () => {
    const a = new IovaAllocator(info([{ start: 0x1000n, last: (1n << 40n) - 1n }]));
    expect(a.alignmentFor(16n * SZ_4K, { backing: '4k' })).toBe(SZ_4K);
    expect(a.alignmentFor(4n * SZ_2M, { backing: 'thp' })).toBe(SZ_2M);
    expect(a.alignmentFor(0x10_0000n, { backing: 'thp' })).toBe(SZ_4K); // shorter than a superpage
    expect(a.alignmentFor(2n * SZ_1G, { backing: 'hugetlb' })).toBe(SZ_2M);
    expect(a.alignmentFor(2n * SZ_1G, { backing: 'hugetlb', hugePageSize: SZ_1G })).toBe(SZ_1G);
    expect(a.alignmentFor(2n * SZ_1G, { backing: 'thp' })).toBe(SZ_2M); // THP folios are 2 MiB

    const small = a.alloc(SZ_4K);
    expect(small).toBe(0x1000n);
    const thp = a.alloc(4n * SZ_2M, { backing: 'thp' });
    expect(thp % SZ_2M).toBe(0n);
    const huge = a.alloc(SZ_1G, { backing: 'hugetlb', hugePageSize: SZ_1G });
    expect(huge % SZ_1G).toBe(0n);
    expect(huge).toBe(SZ_1G);
  });

  it('an IOMMU without superpages gets plain page alignment', () => {
    const a = new IovaAllocator(info([{ start: 0n, last: (1n << 32n) - 1n }], SZ_4K));
    expect(a.alignmentFor(SZ_1G, { backing: 'hugetlb', hugePageSize: SZ_1G })).toBe(SZ_4K);
  });

  it('makes the IOVA congruent with a given vaddr modulo the alignment', () => {
    const a = new IovaAllocator(info([{ start: 0n, last: (1n << 40n) - 1n }]));
    a.alloc(SZ_4K);
    const vaddr = 0x7f12_3450_0000n + 0x3000n; // 0x103000 past a 2 MiB boundary
    const iova = a.alloc(4n * SZ_2M, { backing: 'thp', vaddr });
    expect(congruent(vaddr, iova, SZ_2M)).toBe(true);
    expect(iova).toBe(0x10_3000n);
    // the lowest congruent slot is below the free space: the next one up
    const again = a.alloc(SZ_2M, { backing: 'thp', vaddr: 0x7f00_0000_0000n });
    expect(again).toBe(0xa0_0000n); // first 2 MiB boundary after 0x903000
  });

  it('never hands out a span across a hole or across two touching ranges', () => {
    const i = info([{ start: 0n, last: 0x3f_ffffn }, { start: 0x40_0000n, last: 0x7f_ffffn }, { start: 0x100_0000n, last: 0x1ff_ffffn }]);
    const a = new IovaAllocator(i);
    a.alloc(0x20_0000n); // 0..2 MiB
    // 3 MiB does not fit in what is left of range 0 (2 MiB) nor in range 1 (4 MiB? it does: 0x400000..0x7fffff)
    const x = a.alloc(0x30_0000n);
    expect(inOneRange(i, x, 0x30_0000n)).toBe(true);
    expect(x).toBe(0x40_0000n);
    const y = a.alloc(0x30_0000n);
    expect(y).toBe(0x100_0000n);
    // 0x200000..0x3fffff and 0x700000..0x7fffff are free and touch nothing usable across 0x400000
    const z = a.alloc(0x20_0000n);
    expect(z).toBe(0x20_0000n);
  });

  it('falls back to smaller alignment rather than fail, but not below an explicit align', () => {
    const a = new IovaAllocator(info([{ start: 0x1000n, last: 0x40_0fffn }]));
    // 2 MiB aligned: only 0x200000 (up to 0x3fffff) fits 2 MiB; a second 2 MiB must go unaligned
    expect(a.alloc(SZ_2M, { backing: 'thp' })).toBe(SZ_2M);
    expect(a.alloc(SZ_2M - 0x1000n, { backing: 'thp' })).toBe(0x1000n);
    expect(() => a.alloc(SZ_4K, { align: SZ_1G })).toThrow(VfioError);
    expect(() => a.alloc(SZ_4K, { align: 0x3000n })).toThrow(RangeError);
    expect(a.alloc(SZ_4K)).toBe(0x40_0000n);
  });

  it('runs out with ENOMEM and says what is free', () => {
    const a = new IovaAllocator(info([{ start: 0n, last: 0xf_ffffn }]));
    let err: unknown;
    try {
      a.alloc(0x20_0000n);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VfioError);
    expect((err as VfioError).code).toBe('ENOMEM');
    expect((err as VfioError).hint).toMatch(/0x100000 bytes free in 1 pieces/);
  });

  it('checks overflow at the top of the 64-bit space', () => {
    // The last page of the 64-bit space is never handed out: type1 can never
    // unmap a mapping that ends at 2^64 (vfio_unmap_unpin's end wraps to 0).
    const a = new IovaAllocator(info([{ start: U64_MAX - 0x3_ffffn, last: U64_MAX }]));
    expect(a.alloc(0x2_0000n)).toBe(U64_MAX - 0x3_ffffn);
    expect(() => a.alloc(0x2_0000n)).toThrow(VfioError); // it would end at 2^64
    expect(a.alloc(0x1_f000n)).toBe(U64_MAX - 0x1_ffffn);
    expect(() => a.alloc(SZ_4K)).toThrow(VfioError);
    a.free(U64_MAX - 0x1_ffffn, 0x1_f000n);
    // aligned to 1 GiB above the range start would pass 2^64: must not be found, nor wrap to 0
    expect(() => a.alloc(SZ_4K, { align: SZ_1G })).toThrow(VfioError);
    expect(a.alloc(0x1_f000n)).toBe(U64_MAX - 0x1_ffffn);
    const b = new IovaAllocator(info([{ start: 0n, last: U64_MAX }]));
    expect(() => b.alloc(1n << 64n)).toThrow(RangeError);
    expect(() => b.alloc(-1n)).toThrow(/^size -1 is negative$/); // not "0x-1"
    expect(() => b.free(-0x1000n, SZ_4K)).toThrow(/iova -4096 is negative/);
    expect(b.alloc(1n << 63n, { align: 1n << 63n })).toBe(0n);
    expect(() => b.alloc(1n << 63n, { align: 1n << 63n })).toThrow(VfioError); // up to 2^64: the top page is left out
    expect(b.alloc((1n << 63n) - SZ_4K, { align: 1n << 63n })).toBe(1n << 63n);
  });

  it('free merges with its neighbours, refuses double frees and bad spans', () => {
    const a = new IovaAllocator(info([{ start: 0n, last: 0xf_ffffn }]));
    const x = a.alloc(0x4000n);
    const y = a.alloc(0x4000n);
    const z = a.alloc(0x4000n);
    expect([x, y, z]).toEqual([0n, 0x4000n, 0x8000n]);
    a.free(x, 0x4000n);
    a.free(z, 0x4000n); // merges with the free tail
    expect(() => a.free(z, 0x4000n)).toThrow(/double free/);
    expect(() => a.free(0x800n, 0x1000n)).toThrow(RangeError);
    expect(() => a.free(0xf_f000n, 0x2000n)).toThrow(RangeError);
    a.free(y, 0x4000n); // joins both sides: one segment again
    expect(a.available).toBe(0x10_0000n);
    expect(a.alloc(0x10_0000n)).toBe(0n);
  });

  it('never merges free space across two touching ranges', () => {
    const a = new IovaAllocator(info([{ start: 0n, last: 0xfffn }, { start: 0x1000n, last: 0x1fffn }]));
    expect(() => a.alloc(0x2000n)).toThrow(VfioError);
    const x = a.alloc(0x1000n);
    const y = a.alloc(0x1000n);
    a.free(x, 0x1000n);
    a.free(y, 0x1000n);
    expect(() => a.alloc(0x2000n)).toThrow(VfioError);
  });

  it('reserve takes a fixed span out', () => {
    const a = new IovaAllocator(info([{ start: 0n, last: 0xf_ffffn }]));
    a.reserve(0x2000n, 0x1000n);
    expect(a.alloc(0x2000n)).toBe(0n);
    expect(a.alloc(0x2000n)).toBe(0x3000n);
    expect(() => a.reserve(0x3000n, 0x1000n)).toThrow(RangeError);
  });

  it('property: random alloc/free never overlaps, stays in one range, keeps its alignment', () => {
    // Seeds 1-40 under test:long, 10 of them spread across that range in npm test.
    for (const seed of sampled(Array.from({ length: 40 }, (_, i) => i + 1), 10)) {
      const r = rng(seed);
      const a = new IovaAllocator(TEST_INFO);
      const live = new Map<bigint, bigint>();
      const total = a.available;
      for (let step = 0; step < 200; step++) {
        if (live.size && r() < 0.4) {
          const keys = [...live.keys()];
          const k = keys[int(r, 0, keys.length - 1)]!;
          a.free(k, live.get(k)!);
          live.delete(k);
          continue;
        }
        const size = BigInt(int(r, 1, 1024)) * SZ_4K;
        const backing = (['4k', 'thp', 'hugetlb'] as const)[int(r, 0, 2)]!;
        const iova = a.alloc(size, { backing });
        expect(inOneRange(TEST_INFO, iova, size)).toBe(true);
        for (const [s, n] of live) expect(iova + size <= s || s + n <= iova, `seed ${seed}`).toBe(true);
        live.set(iova, size);
      }
      for (const [s, n] of live) a.free(s, n);
      expect(a.available).toBe(total);
    }
  });
});

describe('adviseAlignment', () => {
  it('warns when IOVA and vaddr are not congruent modulo the superpage', () => {
    const vaddr = 0x7f00_0020_0000n; // 2 MiB aligned
    const good = { vaddr, iova: 0x4000_0000n, size: 4n * SZ_2M };
    const bad = { vaddr, iova: 0x4000_1000n, size: 4n * SZ_2M };
    expect(adviseAlignment([good], TEST_INFO, { backing: 'thp' })).toEqual([]);
    const advice = adviseAlignment([good, bad], TEST_INFO, { backing: 'thp' });
    expect(advice.length).toBe(1);
    expect(advice[0]).toMatchObject({ index: 1, pageSize: SZ_2M, superpages: 0n, possible: 4n, suggestedIova: 0x4020_0000n });
    expect(advice[0]!.message).toMatch(/differ modulo 0x200000/);
    expect(congruent(vaddr, advice[0]!.suggestedIova, SZ_2M)).toBe(true);
  });

  it('congruent but unaligned is fine; 4 KiB backing and short buffers have nothing to lose', () => {
    const vaddr = 0x7f00_0020_3000n;
    expect(adviseAlignment([{ vaddr, iova: 0x4000_3000n, size: 4n * SZ_2M }], TEST_INFO, { backing: 'thp' })).toEqual([]);
    expect(adviseAlignment([{ vaddr, iova: 0x4000_0000n, size: 4n * SZ_2M }], TEST_INFO, { backing: '4k' })).toEqual([]);
    expect(adviseAlignment([{ vaddr, iova: 0x4000_0000n, size: 0x10_0000n }], TEST_INFO, { backing: 'thp' })).toEqual([]);
  });

  it('judges coalesced runs when given a plan, and 1 GiB pages for 1 GiB hugetlb', () => {
    const vaddr = 0x7f00_4000_0000n; // 1 GiB aligned
    const pages = Array.from({ length: 512 }, (_, k) => ({ vaddr: vaddr + BigInt(k) * SZ_2M, iova: SZ_1G + 0x20_0000n + BigInt(k) * SZ_2M, size: SZ_2M }));
    const plan = buildPlan(pages, 'coalesced', TEST_INFO);
    expect(plan.count).toBe(1);
    // per request (2 MiB each) nothing is lost; the 1 GiB run loses its 1 GiB page
    expect(adviseAlignment(pages, TEST_INFO, { backing: 'hugetlb', hugePageSize: SZ_1G })).toEqual([]);
    const advice = adviseAlignment(plan, TEST_INFO, { backing: 'hugetlb', hugePageSize: SZ_1G });
    expect(advice.map((a) => [a.pageSize, a.possible, a.superpages])).toEqual([[SZ_1G, 1n, 0n]]);
  });
});
