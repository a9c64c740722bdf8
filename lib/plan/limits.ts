// Checks a map plan against what the kernel would let it have, before the
// first page is pinned. The type1 driver checks RLIMIT_MEMLOCK while it pins,
// so a big batch over the limit would pin (and fault in) thousands of pages
// before failing; and each MAP_DMA takes one of dma_entry_limit entries.
import type { DmaSpace, IommuInfo, MemlockStatus } from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import type { Plan } from './build.js';

/**
 * Pages one MAP_DMA may cover and still be left to the kernel's own checks:
 * vfio_pin_pages_remote() pins in batches of this many 4 KiB pages (a page of
 * struct page pointers) and checks RLIMIT_MEMLOCK within each, and it refuses
 * ENOSPC before pinning at all.
 */
export const KERNEL_PIN_BATCH = 512n;

/**
 * Whether checking the limits first can save anything. A plan of one entry of
 * at most KERNEL_PIN_BATCH pages fails in the kernel as early as it would here,
 * with nothing to unwind, so reading the limits (a /proc read and an ioctl)
 * would only slow the single-page path down, the regression the kernel review
 * refused. Every larger or multi-entry batch is checked.
 */
export function limitCheckWorthwhile(plan: Plan): boolean {
  return plan.count > 1 || plan.pages > KERNEL_PIN_BATCH;
}

export interface Headroom {
  /** Locked-memory bytes still allowed; null when unlimited or exempt (CAP_IPC_LOCK). */
  memlockBytes: bigint | null;
  /** DMA entries still available; null when the kernel does not report it. */
  dmaEntries: number | null;
}

export function headroom(memlock: MemlockStatus, info: IommuInfo): Headroom {
  let memlockBytes: bigint | null = null;
  if (!memlock.exempt && memlock.limit !== null) {
    memlockBytes = memlock.limit > memlock.locked ? memlock.limit - memlock.locked : 0n;
  }
  return { memlockBytes, dmaEntries: info.dmaAvail };
}

/**
 * Throws VfioError ENOMEM (locked memory) or ENOSPC (DMA entries) when the plan
 * cannot fit, saying by how much; returns the headroom it checked otherwise.
 *
 * The memlock estimate counts every byte the plan maps. The kernel charges
 * each pinned page once per mapping and not at all for reserved pages, so this
 * can refuse a batch the kernel would take only when the plan maps reserved
 * (non-RAM) memory; it never lets through one the kernel would refuse.
 */
export function checkLimits(space: DmaSpace, plan: Plan): Headroom {
  const m = space.memlock();
  const room = headroom(m, space.info());
  const pageKiB = plan.pageSize / 1024n;
  if (room.memlockBytes !== null && plan.bytes > room.memlockBytes) {
    const over = plan.bytes - room.memlockBytes;
    throw new VfioError(Errno.ENOMEM, 'MAP_DMA plan', {
      entries: plan.count, bytes: plan.bytes, limit: m.limit, locked: m.locked, over,
    }, `refused before pinning anything: the batch needs ${plan.bytes} bytes of locked memory but RLIMIT_MEMLOCK `
      + `(${m.limit} bytes, ${m.locked} already locked) leaves ${room.memlockBytes}; ${over} bytes `
      + `(${over / plan.pageSize} pages of ${pageKiB} KiB) over. Raise it (ulimit -l) or run with CAP_IPC_LOCK`);
  }
  if (room.dmaEntries !== null && plan.count > room.dmaEntries) {
    const over = plan.count - room.dmaEntries;
    throw new VfioError(Errno.ENOSPC, 'MAP_DMA plan', {
      entries: plan.count, available: room.dmaEntries, over,
    }, `refused before pinning anything: the batch needs ${plan.count} DMA entries but the container has `
      + `${room.dmaEntries} left; ${over} over. Coalesce (strategy 'coalesced'), or raise `
      + '/sys/module/vfio_iommu_type1/parameters/dma_entry_limit before opening the container');
  }
  return room;
}
