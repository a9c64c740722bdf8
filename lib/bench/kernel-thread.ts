// The figures from the review thread on vfio_iommu_type1_pin_pages (Nov 2020,
// 4.19.36 host): mean ns to pin 1 and 512 contiguous pages, before and after a
// patch that pinned contiguous runs together. They were measured inside the
// kernel (pin_pages from a mediated driver), not MAP_DMA from user space, so
// they sit beside our matrix as context, never as a target or a baseline.
import type { Backing } from '../backend.js';

export const KERNEL_THREAD_LABEL = 'kernel thread, 4.19, in-kernel pin';

export interface ThreadFigure {
  pages: 1 | 512;
  backing: Backing;
  unpatched: number;
  patched: number;
}

export const KERNEL_THREAD: readonly ThreadFigure[] = [
  { pages: 1, backing: '4k', unpatched: 1638, patched: 1735 },
  { pages: 1, backing: 'thp', unpatched: 1668, patched: 1934 },
  { pages: 1, backing: 'hugetlb', unpatched: 1526, patched: 1713 },
  { pages: 512, backing: '4k', unpatched: 223651, patched: 167286 },
  { pages: 512, backing: 'thp', unpatched: 222330, patched: 126900 },
  { pages: 512, backing: 'hugetlb', unpatched: 208151, patched: 102188 },
];

export function threadFigure(pages: number, backing: Backing): ThreadFigure | undefined {
  return KERNEL_THREAD.find((f) => f.pages === pages && f.backing === backing);
}
