// A model of one vfio_iommu_type1 instance (drivers/vfio/vfio_iommu_type1.c,
// Linux 6.12): what VFIO_SET_IOMMU creates and the container's ioctls reach.
// Checks run in the kernel's order so that a request with several faults
// fails with the errno the kernel picks. Mappings are one record each (the
// kernel's struct vfio_dma), never one per page.
import type { DirtyBitmap, IovaRange } from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { U64_MAX } from '../seam/args.js';
import { addU64 } from './args.js';
import type { BackingSpan, SimDmaBuffer } from './buffers.js';
import type { CostSegment } from './cost-model.js';
import type { SimHost } from './host.js';
import { iommuEntries, pageSizesOf } from './iommu-entries.js';
import { clearAfterQuery, updateUserBitmap } from './dirty-bitmap.js';
import { IntervalList } from './interval-list.js';

// uapi/linux/vfio.h
export const VFIO_DMA_MAP_FLAG_READ = 1;
export const VFIO_DMA_MAP_FLAG_WRITE = 2;
export const VFIO_DMA_MAP_FLAG_VADDR = 4;
const PAGE_SHIFT = 12n;
// DIRTY_BITMAP_PAGES_MAX = INT_MAX pages; DIRTY_BITMAP_SIZE_MAX = its bitmap in bytes (256 MiB).
const DIRTY_BITMAP_PAGES_MAX = 0x7fff_ffffn;
export const DIRTY_BITMAP_SIZE_MAX = bitmapBytes(DIRTY_BITMAP_PAGES_MAX);

/** DIRTY_BITMAP_BYTES(n): bits rounded up to whole u64 words, in bytes. */
export function bitmapBytes(npages: bigint): bigint {
  return (npages + 63n) / 64n * 8n;
}

/** __ffs(): index of the lowest set bit (undefined for 0 in the kernel; the API layer refuses 0). */
function ffs(x: bigint): bigint {
  if (x === 0n) throw new RangeError('page size must be non-zero');
  let n = 0n;
  while (((x >> n) & 1n) === 0n) n++;
  return n;
}

/** One mapping (struct vfio_dma); size >> 12 pages are pinned and charged to locked_vm. */
export interface SimDma {
  readonly iova: bigint;
  readonly size: bigint;
  readonly end: bigint;
  readonly vaddr: bigint;
  readonly prot: number;
  /**
   * While dirty tracking is on: the bits of the kernel's dma->bitmap at and
   * above its last partial word (bits below the mapping's page count are
   * always clear between queries), so at most 128 bits. See dirty-bitmap.ts.
   */
  dirtyTail: bigint;
  /** The sim buffers this mapping covers (they refuse to close meanwhile), null for none. */
  readonly buffers: SimDmaBuffer[] | null;
}

export interface UnmapResult {
  unmapped: bigint;
  removed: SimDma[];
  dirty: DirtyBitmap | null;
}

export class Type1 {
  readonly v2: boolean;
  readonly pgsizeBitmap: bigint;
  readonly #pgsizes: bigint[];
  readonly ranges: IovaRange[];
  /** iommu->dma_avail: dma_entry_limit at open, minus live mappings. */
  dmaAvail: number;
  dirtyTracking = false;
  readonly #dmas = new IntervalList<SimDma>();
  readonly #host: SimHost;

  /** vfio_iommu_type1_open() (+ attaching the first group). */
  constructor(host: SimHost, v2: boolean) {
    this.#host = host;
    this.v2 = v2;
    this.pgsizeBitmap = host.options.pageSizes;
    this.#pgsizes = pageSizesOf(this.pgsizeBitmap);
    this.ranges = host.options.iovaRanges.map((r) => ({ ...r }));
    this.dmaAvail = host.dmaEntryLimit;
  }

  get mappingCount(): number {
    return this.#dmas.count;
  }

  /** Smallest IOMMU page size: the unit of every alignment check. */
  get pgsize(): bigint {
    return this.#pgsizes[0]!;
  }

  /** The mapping holding all of [iova, iova + length), if one does (device DMA). */
  lookup(iova: bigint, length: bigint): SimDma | undefined {
    const dma = this.#dmas.findOverlap(iova, 1n);
    return dma && iova + length <= dma.iova + dma.size ? dma : undefined;
  }

  mappings(): SimDma[] {
    return this.#dmas.all();
  }

  /** vfio_iommu_type1_map_dma() + vfio_dma_do_map(). */
  map(vaddr: bigint, iova: bigint, size: bigint, flags: number): SimDma {
    const op = 'VFIO_IOMMU_MAP_DMA';
    const args = { vaddr, iova, size, flags };
    const fail = (errno: number, hint?: string): never => {
      throw new VfioError(errno, op, args, hint);
    };
    if (flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE | VFIO_DMA_MAP_FLAG_VADDR)) {
      fail(Errno.EINVAL, 'unknown MAP_DMA flags');
    }
    const prot = flags & (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
    const setVaddr = (flags & VFIO_DMA_MAP_FLAG_VADDR) !== 0;
    if ((prot !== 0 && setVaddr) || (prot === 0 && !setVaddr)) {
      fail(Errno.EINVAL, 'a mapping needs READ and/or WRITE permission (and no VADDR flag)');
    }
    const pgsize = this.pgsize;
    if (size === 0n || ((size | iova | vaddr) & (pgsize - 1n)) !== 0n) {
      fail(Errno.EINVAL, `size must be non-zero and vaddr, iova and size aligned to ${pgsize} bytes`);
    }
    if (addU64(iova, size - 1n) < iova || addU64(vaddr, size - 1n) < vaddr) {
      fail(Errno.EINVAL, 'the IOVA or virtual address range wraps around 2^64');
    }
    const existing = this.#dmas.findOverlap(iova, size);
    if (setVaddr) {
      // Only a mapping invalidated by UNMAP_DMA with FLAG_VADDR can take a new
      // vaddr; this API never invalidates one.
      if (!existing) fail(Errno.ENOENT, 'no mapping at this IOVA to update');
      fail(Errno.EINVAL, 'the mapping\'s vaddr was not invalidated');
    }
    if (existing) {
      fail(Errno.EEXIST, `overlaps the mapping at 0x${existing!.iova.toString(16)} (+0x${existing!.size.toString(16)})`);
    }
    if (this.dmaAvail === 0) {
      fail(Errno.ENOSPC, `dma_entry_limit reached (${this.#host.dmaEntryLimit} mappings per container)`);
    }
    if (!this.#inRange(iova, addU64(iova, size - 1n))) {
      fail(Errno.EINVAL, 'the IOVA range is not inside one of the usable ranges GET_INFO reports');
    }
    const pages = size >> PAGE_SHIFT;
    // vfio_pin_pages_remote(): pages are pinned in order and charged one by
    // one; vaddr_get_pfns() fails with EFAULT at the first page the process
    // does not have (here: outside live sim buffers, unless anyVaddr). So a
    // range with a hole is ENOMEM if the limit is reached before the hole,
    // EFAULT otherwise; either way vfio_remove_dma() unwinds everything.
    const pinnable = this.#host.buffers.pinnablePrefix(vaddr, size, this.#host.options.anyVaddr) >> PAGE_SHIFT;
    if (pinnable < pages) {
      const refused = this.#host.memlock.refusal(pinnable);
      if (refused) fail(Errno.ENOMEM, refused);
      fail(Errno.EFAULT, `no process memory at vaddr 0x${(vaddr + (pinnable << PAGE_SHIFT)).toString(16)} `
        + '(unmapped, or a closed buffer): map memory from allocBuffer');
    }
    // vfio_pin_map_dma(): pinning charges locked_vm page by page; on ENOMEM
    // vfio_remove_dma() unwinds everything, so the failed call leaves no trace.
    const refused = this.#host.memlock.charge(pages);
    if (refused) fail(Errno.ENOMEM, refused);
    if (this.dirtyTracking && size / pgsize > DIRTY_BITMAP_PAGES_MAX) {
      // vfio_dma_bitmap_alloc() refuses, and the new mapping is removed again.
      this.#host.memlock.uncharge(pages);
      fail(Errno.EINVAL, 'mapping too large for a dirty bitmap while dirty tracking is on');
    }
    const covered = this.#host.buffers.overlapping(vaddr, size);
    const dma: SimDma = {
      iova, size, end: iova + size, vaddr, prot, dirtyTail: 0n, buffers: covered.length ? covered : null,
    };
    for (const b of covered) b.pin();
    this.dmaAvail--;
    this.#dmas.insert(dma);
    return dma;
  }

  /**
   * vfio_iommu_type1_unmap_dma() + vfio_dma_do_unmap(). `all` is
   * VFIO_DMA_UNMAP_FLAG_ALL; `bitmapPgsize` asks for the dirty bitmap
   * (VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) in pages of that size.
   */
  unmap(iova: bigint, size: bigint, opts: { all?: boolean; bitmapPgsize?: bigint } = {}): UnmapResult {
    const op = 'VFIO_IOMMU_UNMAP_DMA';
    const args: Record<string, unknown> = opts.all ? { flags: 'ALL' } : { iova, size };
    if (opts.bitmapPgsize !== undefined) args['pageSize'] = opts.bitmapPgsize;
    const fail = (hint: string): never => {
      throw new VfioError(Errno.EINVAL, op, args, hint);
    };
    const wantBitmap = opts.bitmapPgsize !== undefined;
    if (wantBitmap) {
      // The ioctl checks the bitmap before vfio_dma_do_unmap(): verify_bitmap_size().
      const npages = size >> ffs(opts.bitmapPgsize!);
      const bytes = bitmapBytes(npages);
      if (npages === 0n || bytes > DIRTY_BITMAP_SIZE_MAX) {
        fail('the dirty bitmap would be empty or larger than the maximum GET_INFO reports');
      }
    }
    const pgsize = this.pgsize;
    if ((iova & (pgsize - 1n)) !== 0n) fail(`iova must be aligned to ${pgsize} bytes`);
    let span = size;
    if (opts.all) {
      if (iova !== 0n || size !== 0n) fail('UNMAP_ALL takes iova 0 and size 0');
      span = U64_MAX;
    } else if (size === 0n || (size & (pgsize - 1n)) !== 0n || addU64(iova, size - 1n) < iova) {
      fail(`size must be non-zero, aligned to ${pgsize} bytes, and the range must not wrap`);
    }
    if (wantBitmap && (!this.dirtyTracking || opts.bitmapPgsize !== pgsize)) {
      fail(this.dirtyTracking
        ? `the dirty bitmap page size must be the smallest IOMMU page size (${pgsize})`
        : 'unmap with a dirty bitmap needs dirty tracking on (VFIO_IOMMU_DIRTY_PAGES start)');
    }
    const end = addU64(iova, span);
    if (this.v2 && !opts.all) {
      // v2: the range must not bisect a mapping, at either end.
      const head = this.#dmas.findOverlap(iova, 1n);
      if (head && head.iova !== iova) fail('TYPE1v2 cannot unmap part of a mapping (range starts inside one)');
      const tail = this.#dmas.findOverlap(addU64(iova, span - 1n), 0n);
      if (tail && addU64(tail.iova, tail.size) !== end) {
        fail('TYPE1v2 cannot unmap part of a mapping (range ends inside one)');
      }
    }
    // vfio_find_dma_first_node(iova, size) then walk while dma->iova < iova + size
    // (u64: a range ending exactly at 2^64 wraps to 0 and matches nothing).
    let victims = this.#dmas.collectFrom(iova, (dma) => {
      if (dma.iova >= end) return false;
      // v1: a request starting inside a mapping stops the walk (0 bytes, success).
      if (!this.v2 && iova > dma.iova) return false;
      return true;
    });
    // vfio_find_dma_first_node() compares against dma->iova + dma->size, which
    // wraps to 0 for a mapping that ends at 2^64: as the first match it is
    // never found (so nothing is). Reached by the walk from an earlier one, it
    // is removed and counted, but vfio_unmap_unpin() uncharges none of it.
    if (victims.length > 0 && endsAtTop(victims[0]!)) victims = [];
    let dirty: DirtyBitmap | null = null;
    if (wantBitmap) {
      dirty = { pageSize: pgsize, bits: new BigUint64Array(Number(bitmapBytes(size >> ffs(pgsize)) / 8n)) };
    }
    let unmapped = 0n;
    for (const dma of victims) {
      // update_user_bitmap(): with a vfio-pci group attached (it cannot report
      // dirty pages itself) every page of an IOMMU-mapped vfio_dma is dirty.
      if (dirty) updateUserBitmap(dirty.bits, dma, iova, pgsize);
      unmapped += dma.size;
    }
    // vfio_remove_dma() for each: unpin, uncharge, give the entry back.
    this.#dmas.removeRun(victims);
    for (const dma of victims) releaseBuffers(dma);
    this.#host.memlock.uncharge(victims.reduce((n, dma) => n + (endsAtTop(dma) ? 0n : dma.size), 0n) >> PAGE_SHIFT);
    this.dmaAvail += victims.length;
    return { unmapped, removed: victims, dirty };
  }

  /** VFIO_IOMMU_DIRTY_PAGES_FLAG_START. */
  dirtyStart(): void {
    if (this.dirtyTracking) return;
    const pgsize = this.pgsize;
    // vfio_dma_bitmap_alloc_all(): a vfio_dma too large for a bitmap refuses the start.
    for (const dma of this.#dmas.all()) {
      if (dma.size / pgsize > DIRTY_BITMAP_PAGES_MAX) {
        throw new VfioError(Errno.EINVAL, 'VFIO_IOMMU_DIRTY_PAGES', { flags: 'START' },
          'a mapping is too large for a dirty bitmap');
      }
    }
    // kvzalloc()ed bitmaps: nothing left over from an earlier tracking period.
    for (const dma of this.#dmas.all()) dma.dirtyTail = 0n;
    this.dirtyTracking = true;
  }

  /** VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP. */
  dirtyStop(): void {
    this.dirtyTracking = false;
  }

  /** VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP. */
  dirtyGet(iova: bigint, size: bigint, bitmapPgsize: bigint): DirtyBitmap {
    const op = 'VFIO_IOMMU_DIRTY_PAGES';
    const args = { flags: 'GET_BITMAP', iova, size, pageSize: bitmapPgsize };
    const fail = (hint: string): never => {
      throw new VfioError(Errno.EINVAL, op, args, hint);
    };
    if (addU64(iova, size) < iova) fail('the range wraps around 2^64');
    const npages = size >> ffs(bitmapPgsize);
    if (npages === 0n || bitmapBytes(npages) > DIRTY_BITMAP_SIZE_MAX) {
      fail('the dirty bitmap would be empty or larger than the maximum GET_INFO reports');
    }
    const pgsize = this.pgsize;
    if (bitmapPgsize !== pgsize) fail(`the dirty bitmap page size must be the smallest IOMMU page size (${pgsize})`);
    if ((iova & (pgsize - 1n)) !== 0n) fail(`iova must be aligned to ${pgsize} bytes`);
    if (size === 0n || (size & (pgsize - 1n)) !== 0n) fail(`size must be non-zero and aligned to ${pgsize} bytes`);
    if (!this.dirtyTracking) fail('dirty tracking is off (VFIO_IOMMU_DIRTY_PAGES start first)');
    // vfio_iova_dirty_bitmap(): the range must not bisect a mapping.
    const head = this.#dmas.findOverlap(iova, 1n);
    if (head && head.iova !== iova) fail('the range starts inside a mapping');
    const last = addU64(iova, size - 1n);
    const tail = this.#dmas.findOverlap(last, 0n);
    if (tail && addU64(tail.iova, tail.size) !== addU64(iova, size)) fail('the range ends inside a mapping');
    const bits = new BigUint64Array(Number(bitmapBytes(npages) / 8n));
    for (const dma of this.#dmas.collectFrom(iova, (d) => d.iova <= last)) {
      if (dma.iova < iova) continue;
      clearAfterQuery(dma, updateUserBitmap(bits, dma, iova, pgsize), pgsize);
    }
    return { pageSize: pgsize, bits };
  }

  /** vfio_iommu_unmap_unpin_all(): the last group left, or the container went away. */
  release(): void {
    let pinned = 0n;
    for (const dma of this.#dmas.all()) {
      releaseBuffers(dma);
      // vfio_unmap_unpin() loops while iova < end, end = dma->iova + dma->size:
      // for a mapping that ends at 2^64 end wraps to 0 and nothing is unpinned
      // or uncharged. Linux 6.12 leaks it (its pages stay charged); so does the sim.
      if (!endsAtTop(dma)) pinned += dma.size;
    }
    this.#host.memlock.uncharge(pinned >> PAGE_SHIFT);
    this.dmaAvail += this.#dmas.count;
    this.#dmas.clear();
    this.dirtyTracking = false;
  }

  /** vfio_iommu_iova_dma_valid(): inside one range, both ends inclusive. */
  #inRange(start: bigint, last: bigint): boolean {
    if (this.ranges.length === 0) return true;
    return this.ranges.some((r) => start >= r.start && last <= r.last);
  }

  /**
   * What backs a mapping and the IOMMU entries it takes, for the cost model.
   * Worked out on demand from the sim's buffers as they are now (a buffer
   * closed since the map counts as 4 KiB memory), so mappings stay small.
   */
  /** @internal The plan executor's map of one entry (lib/sim/plan.ts PlanTarget). */
  mapEntry(vaddr: bigint, iova: bigint, size: bigint, prot: number): CostSegment[] {
    return this.segmentsOf(this.map(vaddr, iova, size, prot));
  }

  /** @internal The plan executor's unmap of one entry. */
  unmapEntry(iova: bigint, size: bigint): { unmapped: bigint; segments: CostSegment[] } {
    const r = this.unmap(iova, size);
    return { unmapped: r.unmapped, segments: r.removed.flatMap((d) => this.segmentsOf(d)) };
  }

  segmentsOf(dma: SimDma): CostSegment[] {
    const { iova, vaddr, size } = dma;
    const spans: BackingSpan[] = this.#host.buffers.spans(vaddr, size);
    return spans.map((s) => ({
      backing: s.backing,
      pages: Number(s.size >> PAGE_SHIFT),
      entries: Number(iommuEntries(iova + (s.vaddr - vaddr), s.vaddr, s.size, s.pageSize, this.#pgsizes)),
    }));
  }
}

/** dma->iova + dma->size wraps to 0 in the kernel's u64 arithmetic. */
function endsAtTop(dma: SimDma): boolean {
  return dma.iova + dma.size === 1n << 64n;
}

function releaseBuffers(dma: SimDma): void {
  if (dma.buffers) for (const b of dma.buffers) b.unpin();
}
