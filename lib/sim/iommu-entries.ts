// How many IOMMU page-table entries a mapping takes. iommu_map() covers a
// physically contiguous run with the largest page size that IOVA, physical
// address and remaining length all allow (iommu_pgsize()), so a 2 MiB-aligned
// IOVA over a 2 MiB huge page is one entry and the same range over 4 KiB pages
// is 512. The sim has no physical memory, so it assumes what is typical: each
// backing page (4 KiB, a THP's 2 MiB, a hugetlb page) is physically contiguous
// and naturally aligned, and two backing pages are never contiguous with each
// other. Counting is closed-form: no loop over pages.

export const SZ_4K_N = 0x1000n;

/** Ascending page sizes present in a page-size bitmap. */
export function pageSizesOf(bitmap: bigint): bigint[] {
  const out: bigint[] = [];
  for (let bit = 0n; bit < 64n; bit++) if ((bitmap >> bit) & 1n) out.push(1n << bit);
  return out;
}

/** Entries for [iova, iova + len) when physical alignment equals IOVA alignment up to `sizes`. */
function greedyEntries(iova: bigint, len: bigint, sizes: readonly bigint[]): bigint {
  if (len === 0n || sizes.length === 0) return 0n;
  const end = iova + len;
  let cur = iova;
  let count = 0n;
  let level = 0;
  // Climb: small pages up to the next boundary of the next larger size.
  while (level < sizes.length - 1) {
    const next = sizes[level + 1]!;
    const boundary = (cur + next - 1n) / next * next;
    if (boundary > end) break;
    count += (boundary - cur) / sizes[level]!;
    cur = boundary;
    level++;
  }
  // Descend: as many of each size as still fit.
  for (let i = level; i >= 0; i--) {
    const s = sizes[i]!;
    const n = (end - cur) / s;
    count += n;
    cur += n * s;
  }
  return count;
}

/**
 * IOMMU entries used to map [iova, iova + size) onto [vaddr, vaddr + size)
 * backed by pages of `backingPage` bytes, with the IOMMU page sizes in
 * `pgsizes` (a page-size bitmap, or its sizes ascending). All arguments are
 * 4 KiB aligned (MAP_DMA checked that).
 */
export function iommuEntries(iova: bigint, vaddr: bigint, size: bigint, backingPage: bigint,
  pgsizes: bigint | readonly bigint[]): bigint {
  // Small pages are never contiguous with each other: one entry each.
  if (backingPage === SZ_4K_N) return size / SZ_4K_N;
  // Usable sizes: within one backing page, and with IOVA and vaddr congruent
  // modulo the size (physical offset inside a backing page equals vaddr's).
  const delta = iova > vaddr ? iova - vaddr : vaddr - iova;
  const all = typeof pgsizes === 'bigint' ? pageSizesOf(pgsizes) : pgsizes;
  const sizes = all.filter((p) => p <= backingPage && delta % p === 0n);
  if (sizes.length === 0) return size / SZ_4K_N;

  const vEnd = vaddr + size;
  const firstBoundary = (vaddr / backingPage + 1n) * backingPage;
  if (firstBoundary >= vEnd) return greedyEntries(iova, size, sizes);

  const headLen = firstBoundary - vaddr;
  const lastBoundary = vEnd / backingPage * backingPage;
  const fullChunks = (lastBoundary - firstBoundary) / backingPage;
  const tailLen = vEnd - lastBoundary;

  let entries = greedyEntries(iova, headLen, sizes);
  if (fullChunks > 0n) {
    // Every full chunk has the same IOVA alignment modulo any usable size.
    entries += fullChunks * greedyEntries(iova + headLen, backingPage, sizes);
  }
  entries += greedyEntries(iova + (lastBoundary - vaddr), tailLen, sizes);
  return entries;
}
