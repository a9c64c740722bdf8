// Checks a map plan against what the kernel would let it have, before the
// first page is pinned. The type1 driver checks RLIMIT_MEMLOCK while it pins,
// so a big batch over the limit would pin (and fault in) thousands of pages
// before failing; and each MAP_DMA takes one of dma_entry_limit entries.
//
// Which locked-memory counter the limit is held against depends on the space
// (MemlockStatus.account): a type1 container charges this process's
// mm->locked_vm (VmLck; VmPin is added to stay on the safe side); an iommufd
// IOAS charges, per its context's IOMMU_OPTION_RLIMIT_MODE, either the same
// mm->locked_vm ('mm': VmLck alone, exact; its pins also raise VmPin, which
// the kernel does not compare, so adding it would refuse half the limit) or
// the user's user->locked_vm ('user', the default), shared by every process
// of the user and shown nowhere in /proc. There the check counts what this
// process pinned (its VmPin) and cannot see the rest: it refuses only what
// the kernel would refuse for sure, and the kernel may refuse earlier when
// other processes of the same user hold pins (the batch is then unwound, as
// any failed batch is). The headroom says which counter it judged
// (memlockCounter).
import type { DmaSpace, IommuInfo, MemlockAccount, MemlockStatus } from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { memlockAsyncOf } from '../seam/capabilities.js';
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
  /**
   * Locked-memory bytes still allowed; null when unlimited or exempt (CAP_IPC_LOCK). With memlockCounter
   * 'user' an upper bound: other processes of the same user share the counter and are not seen.
   */
  memlockBytes: bigint | null;
  /** DMA entries still available; null when the kernel does not report it. */
  dmaEntries: number | null;
  /**
   * The iommufd counter memlockBytes was judged against (absent for a type1 container, whose counter is
   * VmLck): 'mm' this process's locked_vm (exact), 'user' the user's locked_vm (this process's share only),
   * 'none' not charged (CAP_IPC_LOCK).
   */
  memlockCounter?: MemlockAccount['counter'];
}

/** What the limit is held against: the space's own counter (an IOAS) or VmLck + VmPin. */
function chargedOf(m: MemlockStatus): { locked: bigint; exempt: boolean; counter: MemlockAccount['counter'] | null } {
  if (m.account === undefined) return { locked: m.locked, exempt: m.exempt, counter: null };
  return { locked: m.account.charged, exempt: m.exempt || m.account.counter === 'none', counter: m.account.counter };
}

export function headroom(memlock: MemlockStatus, info: IommuInfo): Headroom {
  const c = chargedOf(memlock);
  let memlockBytes: bigint | null = null;
  if (!c.exempt && memlock.limit !== null) {
    memlockBytes = memlock.limit > c.locked ? memlock.limit - c.locked : 0n;
  }
  return { memlockBytes, dmaEntries: info.dmaAvail, ...(c.counter === null ? {} : { memlockCounter: c.counter }) };
}

/**
 * What the kernel's limits looked like at the last read, carried forward by
 * the batches this space ran since. Reading them costs a /proc parse and a
 * GET_INFO ioctl (~0.6 ms under emulation, more than ten 2 MiB maps), so a
 * batch far from every limit is judged from the ledger alone; the kernel is
 * read again only when a plan would come close, where the answer matters.
 */
interface Ledger {
  limit: bigint | null;
  exempt: boolean;
  /**
   * Locked bytes on the counter the limit is held against (chargedOf): the last reading plus what batches
   * on this space mapped since, less what they unmapped.
   */
  locked: bigint;
  /** The space's iommufd counter; null for a type1 container. */
  counter: MemlockAccount['counter'] | null;
  /** DMA entries available, carried forward the same way; null when the kernel does not report it. */
  dmaEntries: number | null;
  /** DMA entries available at the last reading. */
  dmaEntriesRead: number | null;
}

const ledgers = new WeakMap<DmaSpace, Ledger>();

/** How a refusal names what is already charged, per counter. */
const COUNTER_WORDS: Record<MemlockAccount['counter'] | 'type1', string> = {
  type1: 'locked or pinned by this process, VmLck + VmPin',
  mm: "locked by this process, VmLck: iommufd 'mm' accounting",
  user: "pinned by this process, VmPin: iommufd 'user' accounting charges the user's locked_vm, "
    + 'which /proc does not show; other processes of the same user may hold more of it',
  none: 'charged',
};

/** A fresh reading (memlock from `m`, the DMA entries from GET_INFO) becomes the space's ledger. */
function record(space: DmaSpace, m: MemlockStatus): Ledger {
  const c = chargedOf(m);
  const dma = space.info().dmaAvail;
  const l: Ledger = { limit: m.limit, exempt: c.exempt, locked: c.locked, counter: c.counter, dmaEntries: dma, dmaEntriesRead: dma };
  ledgers.set(space, l);
  return l;
}

/**
 * Whether the plan stays clear of every limit by the ledger's margin: below
 * three quarters of RLIMIT_MEMLOCK, and leaving a quarter of the DMA entries
 * the last reading found. Memory locked by other means since that reading (a
 * direct map(), another container, mlock) is what the margin absorbs; past it,
 * the kernel is read again. Either way the kernel stays the authority: a batch
 * it refuses after all is unwound by mapBatch.
 */
function clearOfLimits(l: Ledger, plan: Plan): boolean {
  if (!l.exempt && l.limit !== null && (l.locked + plan.bytes) * 4n > l.limit * 3n) return false;
  if (l.dmaEntries !== null && l.dmaEntriesRead !== null && (l.dmaEntries - plan.count) * 4 < l.dmaEntriesRead) return false;
  return true;
}

function headroomOf(l: Ledger): Headroom {
  const memlockBytes = l.exempt || l.limit === null ? null : l.limit > l.locked ? l.limit - l.locked : 0n;
  return { memlockBytes, dmaEntries: l.dmaEntries, ...(l.counter === null ? {} : { memlockCounter: l.counter }) };
}

/** A batch on this space mapped this much: carried into the ledger, if there is one. */
export function noteMapped(space: DmaSpace, bytes: bigint, entries: number): void {
  const l = ledgers.get(space);
  if (l === undefined) return;
  l.locked += bytes;
  if (l.dmaEntries !== null) l.dmaEntries -= entries;
}

/** A batch on this space unmapped this much. */
export function noteUnmapped(space: DmaSpace, bytes: bigint, entries: number): void {
  const l = ledgers.get(space);
  if (l === undefined) return;
  l.locked = l.locked > bytes ? l.locked - bytes : 0n;
  if (l.dmaEntries !== null) l.dmaEntries += entries;
}

/** Forget the ledger (a batch ended in a state it cannot account for): the next check reads the kernel. */
export function forgetLimits(space: DmaSpace): void {
  ledgers.delete(space);
}

/**
 * Throws VfioError ENOMEM (locked memory) or ENOSPC (DMA entries) when the plan
 * cannot fit, saying by how much; returns the headroom it judged by otherwise.
 * The first check on a space reads the kernel; later ones use the ledger (see
 * Ledger) unless the plan comes close to a limit, and then read it again, so
 * a refusal is always decided on a fresh reading.
 *
 * The memlock estimate counts every byte the plan maps. The kernel charges
 * each pinned page once per mapping and not at all for reserved pages, so this
 * can refuse a batch the kernel would take only when the plan maps reserved
 * (non-RAM) memory; it never lets through one the kernel would refuse.
 */
export function checkLimits(space: DmaSpace, plan: Plan): Headroom {
  checkSpace(space, 'checkLimits');
  const known = ledgers.get(space);
  if (known !== undefined && clearOfLimits(known, plan)) return headroomOf(known);
  return judge(record(space, space.memlock()), plan);
}

/**
 * checkLimits for mapBatchAsync: when the kernel must be read, the /proc read
 * runs off the event loop where the space can (memlockAsyncOf), so a cold
 * check does not stall the loop the async batch exists to keep free. The same
 * ledger, the same judgment, the same refusals.
 */
export async function checkLimitsAsync(space: DmaSpace, plan: Plan): Promise<Headroom> {
  checkSpace(space, 'checkLimitsAsync');
  const known = ledgers.get(space);
  if (known !== undefined && clearOfLimits(known, plan)) return headroomOf(known);
  return judge(record(space, await memlockAsyncOf(space)()), plan);
}

function checkSpace(space: DmaSpace, fn: string): void {
  if (space === null || typeof space !== 'object') throw new TypeError(`${fn}: space must be a DmaSpace`);
}

/** Throws when the plan does not fit the fresh reading `l`; its headroom otherwise. */
function judge(l: Ledger, plan: Plan): Headroom {
  const room = headroomOf(l);
  const pageKiB = plan.pageSize / 1024n;
  if (room.memlockBytes !== null && plan.bytes > room.memlockBytes) {
    const over = plan.bytes - room.memlockBytes;
    throw new VfioError(Errno.ENOMEM, 'MAP_DMA plan', {
      entries: plan.count, bytes: plan.bytes, limit: l.limit, locked: l.locked, over,
      ...(l.counter === null ? {} : { counter: l.counter }),
    }, `refused before pinning anything: the batch needs ${plan.bytes} bytes of locked memory but RLIMIT_MEMLOCK `
      + `(${l.limit} bytes, ${l.locked} already ${COUNTER_WORDS[l.counter ?? 'type1']}) leaves ${room.memlockBytes}; ${over} bytes `
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
