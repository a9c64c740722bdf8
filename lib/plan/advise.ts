// Warns when a mapping's placement stops the IOMMU from using superpages.
// A superpage maps an aligned block of IOVA to an aligned block of physical
// memory; the backing's huge pages are aligned in vaddr, so IOVA and vaddr
// must be congruent modulo the superpage size, whatever either one's own
// alignment. Incongruent, a 1 GiB hugetlb buffer costs 262144 4 KiB entries
// instead of one. Every page size the IOMMU reports counts: on VT-d (4 KiB,
// 2 MiB, 1 GiB) a 768 MiB run of a 1 GiB page is judged on 2 MiB pages, on
// AMD-Vi (every power of two from 4 KiB) on its 512 MiB page.
import { PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, PLAN_VADDR, type Backing, type IommuInfo } from '../backend.js';
import type { Plan } from './build.js';
import { backingPageSize, describePageSizes, largestCongruentPage, pageSizeList, sizeWords, superpageFor } from './page-sizes.js';
import type { MapRequest } from './requests.js';

export interface AlignmentAdvice {
  /** Index of the request (or plan entry) advised on. */
  index: number;
  vaddr: bigint;
  iova: bigint;
  size: bigint;
  /** The superpage the backing and length would allow. */
  pageSize: bigint;
  /** Superpages usable as placed. */
  superpages: bigint;
  /** Superpages usable with a congruent IOVA. */
  possible: bigint;
  /** The nearest IOVA at or above `iova` congruent with vaddr. */
  suggestedIova: bigint;
  /** The largest IOMMU page the mapping can still use as placed (IOVA and vaddr congruent modulo it). */
  usableAsPlaced: bigint;
  /** This IOMMU's page sizes up to `pageSize`: what a congruent placement lets it use. */
  pageSizes: bigint[];
  message: string;
}

export interface AdviseOptions {
  backing: Backing;
  hugePageSize?: bigint;
}

/** IOVA and vaddr agree modulo pageSize (a power of two). */
export function congruent(vaddr: bigint, iova: bigint, pageSize: bigint): boolean {
  return ((vaddr ^ iova) & (pageSize - 1n)) === 0n;
}

/** Whole aligned pageSize blocks inside [start, start + size). */
function alignedBlocks(start: bigint, size: bigint, pageSize: bigint): bigint {
  const first = (start + pageSize - 1n) & ~(pageSize - 1n);
  const end = (start + size) & ~(pageSize - 1n);
  return end > first ? (end - first) / pageSize : 0n;
}

/**
 * One piece of advice per mapping that loses superpages to its placement;
 * an empty list when none does. Give it a Plan to judge runs after
 * coalescing (requests of one page each only become superpages together).
 */
export function adviseAlignment(mappings: readonly MapRequest[] | Plan, info: IommuInfo, opts: AdviseOptions): AlignmentAdvice[] {
  const backing = backingPageSize(opts.backing, opts.hugePageSize);
  const advice: AlignmentAdvice[] = [];
  const each = (index: number, vaddr: bigint, iova: bigint, size: bigint): void => {
    const page = superpageFor(info.pageSizes, backing, size);
    if (page <= (info.pageSizes & -info.pageSizes)) return; // no superpage to lose
    const possible = alignedBlocks(vaddr, size, page);
    const superpages = congruent(vaddr, iova, page) ? possible : 0n;
    if (superpages >= possible) return;
    const suggestedIova = iova + ((vaddr - iova) & (page - 1n));
    const usableAsPlaced = largestCongruentPage(info.pageSizes, vaddr, iova, page);
    const sizes = pageSizeList(info.pageSizes).filter((p) => p <= page);
    advice.push({
      index, vaddr, iova, size, pageSize: page, superpages, possible, suggestedIova, usableAsPlaced, pageSizes: sizes,
      message: `mapping ${index}: IOVA 0x${iova.toString(16)} and vaddr 0x${vaddr.toString(16)} differ modulo `
        + `0x${page.toString(16)}, so the IOMMU cannot use ${possible} superpage(s) of ${sizeWords(page)} here `
        + `(as placed, pages of at most ${sizeWords(usableAsPlaced)}; this IOMMU's page sizes up to ${sizeWords(page)}: `
        + `${describePageSizes(sizes)}); an IOVA congruent with the vaddr (e.g. 0x${suggestedIova.toString(16)}) would allow them`,
    });
  };
  if (Array.isArray(mappings)) {
    mappings.forEach((m, k) => each(k, m.vaddr, m.iova, m.size));
  } else {
    const plan = mappings as Plan;
    for (let k = 0; k < plan.count; k++) {
      const o = k * PLAN_STRIDE;
      each(k, plan.entries[o + PLAN_VADDR] as bigint, plan.entries[o + PLAN_IOVA] as bigint, plan.entries[o + PLAN_SIZE] as bigint);
    }
  }
  return advice;
}
