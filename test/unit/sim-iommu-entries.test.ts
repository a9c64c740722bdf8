// IOMMU entry counting: closed form vs a page-by-page greedy walk.
import { describe, expect, it } from 'vitest';
import { SZ_1G, SZ_2M, SZ_4K } from '../../lib/backend.js';
import { iommuEntries, pageSizesOf } from '../../lib/sim/iommu-entries.js';

const VTD = SZ_4K | SZ_2M | SZ_1G;

/** iommu_pgsize() one step at a time, the physical address following vaddr within each backing page. */
function walk(iova: bigint, vaddr: bigint, size: bigint, backing: bigint, bitmap: bigint): bigint {
  const sizes = pageSizesOf(bitmap).reverse();
  let n = 0n;
  let off = 0n;
  while (off < size) {
    const v = vaddr + off;
    const i = iova + off;
    const chunkLeft = backing - (v % backing); // physically contiguous until the backing page ends
    const left = size - off < chunkLeft ? size - off : chunkLeft;
    const p = sizes.find((s) => s <= left && i % s === 0n && v % s === 0n)!;
    n++;
    off += p;
  }
  return n;
}

describe('iommuEntries', () => {
  it('uses one entry per 4 KiB page over 4 KiB backing', () => {
    expect(iommuEntries(0x4000_0000n, 0x7f00_0000_0000n, 1000n * SZ_4K, SZ_4K, VTD)).toBe(1000n);
  });

  it('uses 2 MiB superpages over THP when IOVA and vaddr are both 2 MiB aligned', () => {
    expect(iommuEntries(0x4000_0000n, 0x7f00_0020_0000n, 8n * SZ_2M, SZ_2M, VTD)).toBe(8n);
    // IOVA off by 4 KiB: no 2 MiB page lines up, 512 small pages per huge page.
    expect(iommuEntries(0x4000_1000n, 0x7f00_0020_0000n, 8n * SZ_2M, SZ_2M, VTD)).toBe(8n * 512n);
    // Without 2 MiB in the IOMMU's bitmap either.
    expect(iommuEntries(0x4000_0000n, 0x7f00_0020_0000n, SZ_2M, SZ_2M, SZ_4K | SZ_1G)).toBe(512n);
  });

  it('uses 1 GiB pages over 1 GiB hugetlb pages', () => {
    expect(iommuEntries(SZ_1G, 0x7f00_4000_0000n, 2n * SZ_1G, SZ_1G, VTD)).toBe(2n);
    // 2 MiB aligned only: 2 MiB pages.
    expect(iommuEntries(SZ_1G + SZ_2M, 0x7f00_4020_0000n, SZ_1G, SZ_1G, VTD)).toBe(512n);
  });

  it('matches a page-by-page walk on random geometries', () => {
    let seed = 7;
    const rand = (n: number): bigint => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return BigInt(seed % n);
    };
    for (let k = 0; k < 300; k++) {
      const backing = [SZ_4K, SZ_2M, SZ_1G][Number(rand(3))]!;
      const vaddr = 0x7f00_0000_0000n + rand(1 << 20) * SZ_4K;
      const iova = (rand(8) === 0n ? vaddr & (SZ_1G * 64n - 1n) : rand(1 << 20) * SZ_4K);
      const size = (1n + rand(3000)) * SZ_4K;
      const bitmap = [VTD, SZ_4K | SZ_2M, SZ_4K][Number(rand(3))]!;
      expect(iommuEntries(iova, vaddr, size, backing, bitmap), `${iova} ${vaddr} ${size} ${backing}`)
        .toBe(walk(iova, vaddr, size, backing, bitmap));
    }
  });
});
