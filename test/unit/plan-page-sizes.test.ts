// The planner, the IOVA allocator and the alignment advisor use every page
// size the IOMMU reports, on both IOMMUs the sim imitates: VT-d's 4 KiB |
// 2 MiB | 1 GiB and AMD-Vi's every power of two from 4 KiB but 512 GiB. The
// sim's iommuEntries() (what iommu_map() would use) shows what each choice
// costs in IOMMU page-table entries.
import { describe, expect, it } from 'vitest';
import { PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, SZ_1G, SZ_2M, SZ_4K, type IommuInfo } from '../../lib/backend.js';
import { IovaAllocator, adviseAlignment, buildPlan, congruent, type Plan } from '../../lib/plan/index.js';
import { describePageSizes, pageSizeList } from '../../lib/plan/page-sizes.js';
import { iommuEntries } from '../../lib/sim/iommu-entries.js';
import { simIommuProfile, type SimIommuName } from '../../lib/sim/index.js';

const MiB = 0x10_0000n;

function infoOf(name: SimIommuName): IommuInfo {
  const p = simIommuProfile(name);
  return { pageSizes: p.pageSizes, ranges: p.iovaRanges.map((r) => ({ ...r })), dmaAvail: null, migration: null };
}
const VTD = infoOf('vtd');
const AMD = infoOf('amd-vi');

function entries(plan: Plan): Array<[bigint, bigint]> {
  const out: Array<[bigint, bigint]> = [];
  for (let k = 0; k < plan.count; k++) {
    out.push([plan.entries[k * PLAN_STRIDE + PLAN_IOVA]!, plan.entries[k * PLAN_STRIDE + PLAN_SIZE]!]);
  }
  return out;
}

/** IOMMU entries a whole plan takes, IOVA = vaddr (congruent), over backing pages of `backing`. */
function planIommuEntries(plan: Plan, backing: bigint, bitmap: bigint): bigint {
  return entries(plan).reduce((n, [iova, size]) => n + iommuEntries(iova, iova, size, backing, bitmap), 0n);
}

describe('page sizes on both IOMMUs', () => {
  it('the profiles\' bitmaps in words', () => {
    expect(describePageSizes(pageSizeList(VTD.pageSizes))).toBe('4 KiB, 2 MiB, 1 GiB');
    expect(describePageSizes(pageSizeList(AMD.pageSizes))).toBe('4 KiB to 256 GiB, 1 TiB to 2 PiB');
  });

  describe('planner: an entry cap is cut to a multiple of the largest IOMMU page it holds', () => {
    // One run of 3 GiB from IOVA 0 (a multiple of every cap below, so every piece is a whole one).
    const run = [{ vaddr: 0x7f00_0000_0000n, iova: 0n, size: 3n * SZ_1G }];
    const sizesWith = (info: IommuInfo, cap: bigint) => [...new Set(entries(buildPlan(run, 'coalesced', info, { maxEntrySize: cap })).map(([, s]) => s))];

    it('VT-d: 3 MiB -> 2 MiB, 6 MiB stays (a multiple of 2 MiB), 1.5 GiB -> 1 GiB, 768 MiB stays', () => {
      expect(sizesWith(VTD, 3n * MiB)).toEqual([SZ_2M]);
      expect(sizesWith(VTD, 6n * MiB)).toEqual([6n * MiB]);
      expect(sizesWith(VTD, 3n * SZ_1G / 2n)).toEqual([SZ_1G]);
      expect(sizesWith(VTD, 768n * MiB)).toEqual([768n * MiB]);
    });

    it('AMD-Vi: any cap becomes the largest power of two it holds (3 MiB -> 2, 6 MiB -> 4, 768 MiB -> 512, 1.5 GiB -> 1 GiB)', () => {
      expect(sizesWith(AMD, 3n * MiB)).toEqual([SZ_2M]);
      expect(sizesWith(AMD, 6n * MiB)).toEqual([4n * MiB]);
      expect(sizesWith(AMD, 768n * MiB)).toEqual([512n * MiB]);
      expect(sizesWith(AMD, 3n * SZ_1G / 2n)).toEqual([SZ_1G]);
    });

    it('the cut falls on page boundaries, so the IOMMU keeps its large pages: fewer entries than a cut at the raw cap', () => {
      // THP (2 MiB pages), 12 MiB, cap 3 MiB: cut at 3 MiB every other THP is split into 4 KiB entries.
      const thp = [{ vaddr: 0x7f00_0000_0000n, iova: SZ_1G, size: 12n * MiB }];
      for (const [info, rawEntries] of [[VTD, 1028n], [AMD, 8n]] as const) {
        const plan = buildPlan(thp, 'coalesced', info, { maxEntrySize: 3n * MiB });
        expect(entries(plan).every(([iova, size]) => iova % SZ_2M === 0n && size === SZ_2M)).toBe(true);
        expect(planIommuEntries(plan, SZ_2M, info.pageSizes)).toBe(6n);
        // Cut at 3 MiB multiples (what the cap alone would give): 4 pieces, every other 2 MiB page split in two halves,
        // which VT-d maps with 4 KiB pages (256 each) and AMD-Vi with one 1 MiB page each.
        const raw = [0n, 3n, 6n, 9n].reduce((n, k) => n + iommuEntries(SZ_1G + k * MiB, SZ_1G + k * MiB, 3n * MiB, SZ_2M, info.pageSizes), 0n);
        expect(raw).toBe(rawEntries);
      }
      // A 1 GiB hugetlb page, cap 768 MiB: AMD-Vi cuts at 512 MiB and uses two 512 MiB pages;
      // cut at 768 MiB it would take 512 + 256, then 256: three.
      const huge = [{ vaddr: 0x7f00_0000_0000n, iova: SZ_1G, size: SZ_1G }];
      const amdPlan = buildPlan(huge, 'coalesced', AMD, { maxEntrySize: 768n * MiB });
      expect(entries(amdPlan)).toEqual([[SZ_1G, 512n * MiB], [SZ_1G + 512n * MiB, 512n * MiB]]);
      expect(planIommuEntries(amdPlan, SZ_1G, AMD.pageSizes)).toBe(2n);
      // VT-d has no page between 2 MiB and 1 GiB: 768 MiB is 384 of them either way.
      const vtdPlan = buildPlan(huge, 'coalesced', VTD, { maxEntrySize: 768n * MiB });
      expect(planIommuEntries(vtdPlan, SZ_1G, VTD.pageSizes)).toBe(512n);
    });

    it('without a cap nothing changes: one entry for the run, on both', () => {
      for (const info of [VTD, AMD]) expect(entries(buildPlan(run, 'coalesced', info))).toEqual([[0n, 3n * SZ_1G]]);
    });
  });

  describe('allocator: aligned for the largest page the backing, the length and this IOMMU allow', () => {
    const cases: Array<[string, { backing: 'thp' | 'hugetlb' | '4k'; hugePageSize?: bigint }, bigint, bigint, bigint]> = [
      // label, backing, size, VT-d alignment, AMD-Vi alignment
      ['4 KiB pages', { backing: '4k' }, 64n * MiB, SZ_4K, SZ_4K],
      ['THP, 8 MiB', { backing: 'thp' }, 8n * MiB, SZ_2M, SZ_2M],
      ['1 GiB hugetlb, 768 MiB', { backing: 'hugetlb', hugePageSize: SZ_1G }, 768n * MiB, SZ_2M, 512n * MiB],
      ['1 GiB hugetlb, 3 MiB', { backing: 'hugetlb', hugePageSize: SZ_1G }, 3n * MiB, SZ_2M, SZ_2M],
      ['1 GiB hugetlb, 3 GiB', { backing: 'hugetlb', hugePageSize: SZ_1G }, 3n * SZ_1G, SZ_1G, SZ_1G],
      ['2 MiB hugetlb, 64 MiB', { backing: 'hugetlb' }, 64n * MiB, SZ_2M, SZ_2M],
    ];
    for (const [label, opts, size, vtd, amd] of cases) {
      it(`${label}: VT-d 0x${vtd.toString(16)}, AMD-Vi 0x${amd.toString(16)}`, () => {
        expect(new IovaAllocator(VTD).alignmentFor(size, opts)).toBe(vtd);
        expect(new IovaAllocator(AMD).alignmentFor(size, opts)).toBe(amd);
      });
    }

    it('places a 768 MiB piece of a 1 GiB page so that AMD-Vi maps it with two entries (VT-d: 384)', () => {
      const vaddr = 0x7f00_4000_0000n + 256n * MiB; // 256 MiB into a 1 GiB page
      const opts = { backing: 'hugetlb' as const, hugePageSize: SZ_1G, vaddr };
      const a = new IovaAllocator(AMD).alloc(768n * MiB, opts);
      expect(congruent(vaddr, a, 512n * MiB)).toBe(true);
      expect(iommuEntries(a, vaddr, 768n * MiB, SZ_1G, AMD.pageSizes)).toBe(2n); // 256 MiB + 512 MiB
      const v = new IovaAllocator(VTD).alloc(768n * MiB, opts);
      expect(congruent(vaddr, v, SZ_2M)).toBe(true);
      expect(iommuEntries(v, vaddr, 768n * MiB, SZ_1G, VTD.pageSizes)).toBe(384n);
    });

    it('on AMD-Vi, stays out of the HyperTransport hole below 1 TiB', () => {
      const alloc = new IovaAllocator(AMD);
      alloc.reserve(0n, 0xfe00_0000n); // below the MSI window
      alloc.reserve(0xfef0_0000n, 0xfc_0000_0000n - 0xfef0_0000n);
      // 4 GiB of room before the hole (0xfc00000000-0xfcffffffff): a 16 GiB buffer goes above it.
      const big = alloc.alloc(16n * SZ_1G, { backing: 'hugetlb', hugePageSize: SZ_1G });
      expect(big).toBe(0x100_0000_0000n);
    });
  });

  it('allocator: never the last page of the 64-bit space (type1 can never unmap a mapping ending at 2^64)', () => {
    const top = (1n << 64n) - SZ_4K;
    const a = new IovaAllocator(AMD);
    expect(() => a.reserve(top, SZ_4K)).toThrow(RangeError);
    a.reserve(top - SZ_4K, SZ_4K); // the page below it is usable
    // VT-d's aperture never reaches it anyway.
    expect(() => new IovaAllocator(VTD).reserve(top, SZ_4K)).toThrow(RangeError);
  });

  describe('advisor: speaks of the sizes this IOMMU has', () => {
    const vaddr = 0x7f00_4000_0000n; // 1 GiB aligned: a 1 GiB hugetlb page
    const misplaced = [{ vaddr, iova: SZ_1G + SZ_2M, size: 768n * MiB }];
    const opts = { backing: 'hugetlb' as const, hugePageSize: SZ_1G };

    it('AMD-Vi: the 768 MiB run loses its 512 MiB page; as placed, 2 MiB pages at most', () => {
      const [a] = adviseAlignment(misplaced, AMD, opts);
      expect(a).toMatchObject({ pageSize: 512n * MiB, possible: 1n, superpages: 0n, usableAsPlaced: SZ_2M });
      expect(a!.pageSizes).toEqual(pageSizeList(AMD.pageSizes).filter((p) => p <= 512n * MiB));
      expect(a!.message).toMatch(/cannot use 1 superpage\(s\) of 512 MiB here \(as placed, pages of at most 2 MiB; this IOMMU's page sizes up to 512 MiB: 4 KiB to 512 MiB\)/);
      expect(congruent(vaddr, a!.suggestedIova, 512n * MiB)).toBe(true);
    });

    it('VT-d: the same placement loses nothing (its pages stop at 2 MiB below 1 GiB); 4 MiB off, it names 4 KiB and 2 MiB', () => {
      expect(adviseAlignment(misplaced, VTD, opts)).toEqual([]);
      const [a] = adviseAlignment([{ vaddr, iova: SZ_1G + 0x1000n, size: 768n * MiB }], VTD, opts);
      expect(a).toMatchObject({ pageSize: SZ_2M, usableAsPlaced: SZ_4K, pageSizes: [SZ_4K, SZ_2M] });
      expect(a!.message).toMatch(/of 2 MiB here \(as placed, pages of at most 4 KiB; this IOMMU's page sizes up to 2 MiB: 4 KiB, 2 MiB\)/);
    });
  });
});
