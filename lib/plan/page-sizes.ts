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

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** A power-of-two size in words: 4 KiB, 2 MiB, 512 GiB. */
export function sizeWords(size: bigint): string {
  let unit = 0;
  let v = size;
  while (unit < UNITS.length - 1 && v >= 1024n && v % 1024n === 0n) {
    v /= 1024n;
    unit++;
  }
  return `${v} ${UNITS[unit]}`;
}

/**
 * Page sizes (ascending) in words, runs of three or more consecutive powers of two as one
 * "4 KiB to 512 MiB": VT-d's read "4 KiB, 2 MiB, 1 GiB", AMD-Vi's "4 KiB to 256 GiB, 1 TiB to 2 PiB".
 */
export function describePageSizes(sizes: readonly bigint[]): string {
  const parts: string[] = [];
  for (let i = 0; i < sizes.length;) {
    let j = i;
    while (j + 1 < sizes.length && sizes[j + 1] === (sizes[j] as bigint) * 2n) j++;
    if (j - i >= 2) parts.push(`${sizeWords(sizes[i] as bigint)} to ${sizeWords(sizes[j] as bigint)}`);
    else for (let k = i; k <= j; k++) parts.push(sizeWords(sizes[k] as bigint));
    i = j + 1;
  }
  return parts.join(', ');
}

/** The largest IOMMU page size, at most `limit`, modulo which vaddr and iova agree (the smallest page if none larger). */
export function largestCongruentPage(bitmap: bigint, vaddr: bigint, iova: bigint, limit: bigint): bigint {
  let best = minPageSize(bitmap);
  for (const size of pageSizeList(bitmap)) {
    if (size <= limit && ((vaddr ^ iova) & (size - 1n)) === 0n) best = size;
  }
  return best;
}
