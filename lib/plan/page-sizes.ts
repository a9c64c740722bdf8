// IOMMU page-size arithmetic shared by the planner, the allocator and the
// alignment advisor. info().pageSizes is a bitmap: bit n set = 2^n bytes.
export { backingPageSize } from '../buffer-options.js';

export { U64_MAX } from '../seam/args.js';

/** Page sizes in the bitmap, smallest first. */
export function pageSizeList(bitmap: bigint): bigint[] {
  const sizes: bigint[] = [];
  for (let bit = 0n; bit < 64n; bit++) {
    if ((bitmap >> bit) & 1n) sizes.push(1n << bit);
  }
  return sizes;
}

/**
 * The granule every MAP_DMA must be aligned to: the kernel refuses vaddr,
 * iova or size not aligned to the smallest IOMMU page size (EINVAL).
 */
export function minPageSize(bitmap: bigint): bigint {
  if (bitmap <= 0n) throw new RangeError('IOMMU page-size bitmap is empty');
  return bitmap & -bitmap;
}

/**
 * The largest IOMMU page that can back part of a buffer: no larger than the
 * CPU pages behind it (an IOMMU superpage needs physically contiguous memory,
 * which only THP/hugetlb guarantee) and no larger than the buffer itself.
 * Never smaller than the IOMMU's own minimum.
 */
export function superpageFor(bitmap: bigint, backingPage: bigint, length: bigint): bigint {
  let best = minPageSize(bitmap);
  for (const size of pageSizeList(bitmap)) {
    if (size <= backingPage && size <= length) best = size;
  }
  return best;
}

export function isPowerOfTwo(x: bigint): boolean {
  return x > 0n && (x & (x - 1n)) === 0n;
}
