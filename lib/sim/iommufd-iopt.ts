// A model of one iommufd io_pagetable (drivers/iommu/iommufd/io_pagetable.c,
// ioas.c, pages.c; Linux 6.12): what an IOAS holds. Checks run in the
// kernel's order so a request with several faults fails with the errno the
// kernel picks. Where iommufd differs from vfio_iommu_type1 (see MODEL-IOMMUFD.md):
// - no alignment until a domain (an attached device) is added: iova_alignment
//   starts at 1 (iopt_init_table) and becomes the domain's smallest page;
// - an unmap never splits an area: one that sticks out of the range stops the
//   walk with ENOENT, after the areas before it were already removed
//   (iopt_unmap_iova_range); an unmap that finds nothing is ENOENT too
//   (iommufd_ioas_unmap), except unmap-all (iova 0, length U64_MAX);
// - ranges that wrap are EOVERFLOW, not EINVAL;
// - with no domain nothing is pinned or charged: the pages are a lazy
//   reference, pinned when a domain is filled (iopt_fill_domain);
// - pages are charged per iopt_pages (one per MAP; a COPY shares the source's)
//   to user->locked_vm ('user' mode, the default), mm->locked_vm ('mm'), or
//   not at all with CAP_IPC_LOCK (iopt_alloc_pages, do_update_pinned).
import type { IovaRange } from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { U64_MAX } from '../seam/args.js';
import type { SimDmaBuffer } from './buffers.js';
import type { CostSegment } from './cost-model.js';
import type { SimHost } from './host.js';
import { iommuEntries, pageSizesOf } from './iommu-entries.js';
import { IntervalList } from './interval-list.js';

export const PAGE_SIZE = 0x1000n;
// CONFIG_TRANSPARENT_HUGEPAGE: HPAGE_SIZE caps the alignment iopt_alloc_iova keeps.
const HPAGE_SIZE = 0x20_0000n;
// uapi/linux/iommufd.h
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1;
export const IOMMU_IOAS_MAP_WRITEABLE = 2;
export const IOMMU_IOAS_MAP_READABLE = 4;

export type AccountMode = 'user' | 'mm' | 'none';

/** struct iopt_pages: the user memory one MAP references; COPY shares it. */
export interface SimPages {
  readonly uptr: bigint; // page-aligned
  readonly npages: bigint;
  readonly writable: boolean;
  readonly account: AccountMode;
  /**
   * The page-index ranges [first, last] that areas filled into a domain hold
   * pinned, one per such area: the pages charged are their union
   * (pages->npinned: a page another domain already holds is not pinned or
   * charged again, and a COPY of part of a mapping pins only that part).
   */
  pinned: Array<{ area: SimArea; first: bigint; last: bigint }>;
  readonly buffers: SimDmaBuffer[];
}

/** Pages in the union of page-index ranges. */
function unionPages(ranges: ReadonlyArray<{ first: bigint; last: bigint }>): bigint {
  const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  let n = 0n;
  let curFirst = -1n;
  let curLast = -2n;
  for (const r of sorted) {
    if (r.first > curLast + 1n) {
      if (curLast >= curFirst && curFirst >= 0n) n += curLast - curFirst + 1n;
      curFirst = r.first;
      curLast = r.last;
    } else if (r.last > curLast) {
      curLast = r.last;
    }
  }
  if (curFirst >= 0n) n += curLast - curFirst + 1n;
  return n;
}

/** struct iopt_area. */
export interface SimArea {
  readonly iova: bigint;
  readonly size: bigint;
  readonly end: bigint;
  /** User address of the area's first byte. */
  readonly vaddr: bigint;
  readonly prot: number;
  readonly pages: SimPages;
}

interface Reserved extends IovaRange {
  owner: unknown;
}

/** The locked-memory accounts iopt_pages charge (per user and per mm). */
export interface PinAccounts {
  /** Charge `pages` or return the refusal; null when charged. */
  charge(mode: AccountMode, pages: bigint): string | null;
  uncharge(mode: AccountMode, pages: bigint): void;
}

function fail(errno: number, op: string, args: Record<string, unknown>, hint: string): never {
  throw new VfioError(errno, op, args, hint);
}

function roundupPow2(x: bigint): bigint {
  let p = 1n;
  while (p < x) p <<= 1n;
  return p;
}

function lowestBit(x: bigint): bigint {
  return x & -x;
}

export class IoPageTable {
  /** iopt->iova_alignment. */
  alignment = 1n;
  readonly #areas = new IntervalList<SimArea>();
  #reserved: Reserved[] = [];
  #allowed: IovaRange[] = [];
  /** Domains filled with this table's areas (one per attached device's HWPT here). */
  #domains = 0;
  readonly #host: SimHost;
  readonly #accounts: PinAccounts;

  constructor(host: SimHost, accounts: PinAccounts) {
    this.#host = host;
    this.#accounts = accounts;
  }

  get areaCount(): number {
    return this.#areas.count;
  }

  get hasDomain(): boolean {
    return this.#domains > 0;
  }

  areas(): SimArea[] {
    return this.#areas.all();
  }

  /** The area holding all of [iova, iova + length), if one does (device DMA). */
  lookup(iova: bigint, length: bigint): SimArea | undefined {
    const a = this.#areas.findOverlap(iova, 1n);
    return a && iova + length <= a.end ? a : undefined;
  }

  /** IOMMU_IOAS_IOVA_RANGES: the holes of the reserved tree over [0, U64_MAX]. */
  iovaRanges(): IovaRange[] {
    const out: IovaRange[] = [];
    let cur = 0n;
    for (const r of [...this.#reserved].sort((a, b) => (a.start < b.start ? -1 : 1))) {
      if (r.start > cur) out.push({ start: cur, last: r.start - 1n });
      if (r.last >= cur) cur = r.last + 1n;
      if (cur > U64_MAX) return out;
    }
    out.push({ start: cur, last: U64_MAX });
    return out;
  }

  /** iommufd_ioas_load_iovas() + iopt_set_allow_iova(). */
  allowIovas(ranges: readonly IovaRange[]): void {
    const op = 'IOMMU_IOAS_ALLOW_IOVAS';
    const args = { ranges: ranges.length };
    const loaded: IovaRange[] = [];
    for (const r of ranges) {
      if (r.start >= r.last) fail(Errno.EINVAL, op, args, 'each range needs start < last');
      if (loaded.some((o) => r.start <= o.last && o.start <= r.last)) fail(Errno.EINVAL, op, args, 'the ranges overlap');
      loaded.push({ start: r.start, last: r.last });
    }
    if (loaded.some((a) => this.#reservedHit(a.start, a.last))) {
      fail(Errno.EADDRINUSE, op, args, 'an allowed range covers a reserved IOVA region');
    }
    this.#allowed = loaded;
  }

  /**
   * iopt_map_user_pages() (fixed iova, or null for IOPT_ALLOC_IOVA), after
   * iommufd_ioas_map()'s own checks, which the caller made.
   */
  mapUser(vaddr: bigint, iova: bigint | null, length: bigint, prot: number, mode: AccountMode, op: string,
    args: Record<string, unknown>): SimArea {
    // iopt_alloc_pages()
    if (length > U64_MAX - PAGE_SIZE || length === 0n) fail(Errno.EINVAL, op, args, 'length must be non-zero');
    if (vaddr + length > U64_MAX) fail(Errno.EOVERFLOW, op, args, 'the user address range wraps around 2^64');
    const uptr = vaddr & ~(PAGE_SIZE - 1n);
    const npages = (length + (vaddr - uptr) + PAGE_SIZE - 1n) / PAGE_SIZE;
    const pages: SimPages = {
      uptr, npages, writable: (prot & IOMMU_IOAS_MAP_WRITEABLE) !== 0, account: mode, pinned: [],
      buffers: this.#host.buffers.overlapping(uptr, npages * PAGE_SIZE),
    };
    return this.#mapPages([{ pages, vaddr, length }], length, iova, prot, op, args)[0]!;
  }

  /** iopt_get_pages(): the pieces of the areas that cover [iova, iova + length) contiguously. */
  getPages(iova: bigint, length: bigint, op: string, args: Record<string, unknown>): Piece[] {
    if (length === 0n) fail(Errno.EINVAL, op, args, 'length must be non-zero');
    const last = iova + length - 1n;
    if (last > U64_MAX) fail(Errno.EOVERFLOW, op, args, 'the source range wraps around 2^64');
    const pieces: Piece[] = [];
    let cur = iova;
    while (cur <= last) {
      const a = this.#areas.findOverlap(cur, 1n);
      if (!a) fail(Errno.ENOENT, op, args, `nothing mapped at 0x${cur.toString(16)} in the source IOAS`);
      const to = a.end - 1n < last ? a.end - 1n : last;
      pieces.push({ pages: a.pages, vaddr: a.vaddr + (cur - a.iova), length: to - cur + 1n });
      cur = to + 1n;
    }
    return pieces;
  }

  /** iopt_map_pages() for a COPY's pieces. */
  mapPieces(pieces: Piece[], length: bigint, iova: bigint | null, prot: number, op: string,
    args: Record<string, unknown>): SimArea[] {
    return this.#mapPages(pieces, length, iova, prot, op, args);
  }

  /**
   * iopt_unmap_iova_range(): areas wholly inside [start, last] go in IOVA
   * order; one that sticks out stops the walk with ENOENT (those before it
   * stay removed). Returns the bytes and the areas removed.
   */
  unmapRange(start: bigint, last: bigint, op: string, args: Record<string, unknown>): { unmapped: bigint; removed: SimArea[] } {
    let unmapped = 0n;
    const removed: SimArea[] = [];
    const all = start === 0n && last === U64_MAX;
    const victims = all ? this.#areas.all() : this.#areas.collectFrom(start, (a) => a.iova <= last);
    for (const a of victims) {
      if (a.iova < start || a.end - 1n > last) {
        fail(Errno.ENOENT, op, { ...args, removedBefore: unmapped },
          `the range cuts the mapping at 0x${a.iova.toString(16)} (+0x${a.size.toString(16)}): iommufd never splits one`);
      }
      this.#areas.remove(a);
      this.#release(a);
      unmapped += a.size;
      removed.push(a);
    }
    return { unmapped, removed };
  }

  /**
   * A device's domain joins. `reserved` are the regions outside the aperture
   * plus the device's own (the MSI window between the usable ranges). The
   * kernel's order depends on how the domain comes:
   * - a first attach (immediate_attach in iommufd_device_auto_get_domain):
   *   iommufd_hw_pagetable_attach enforces the device's regions
   *   (iopt_table_enforce_dev_resv_regions) before iopt_table_add_domain checks
   *   the alignment, reserves the aperture's outside and fills the domain;
   * - a replace onto an IOAS with no domain yet (`replace`): the new HWPT's
   *   domain is added and filled first (iommufd_hwpt_paging_alloc without
   *   immediate_attach), iommufd_device_do_replace enforces the device's regions
   *   after; so an area whose pages cannot be pinned fails EFAULT before a
   *   mapping in the MSI window fails EADDRINUSE (seen on 6.12.117, fuzz seed
   *   422568934), and the failed replace unfills what it filled.
   */
  addDomain(owner: unknown, reserved: readonly IovaRange[], pgsize: bigint, op: string, args: Record<string, unknown>,
    replace = false): void {
    const conflict = (r: IovaRange) => this.#areaIn(r.start, r.last)
      ?? this.#allowed.find((a) => r.start <= a.last && a.start <= r.last);
    const enforce = (regions: readonly IovaRange[]) => {
      for (const r of regions) {
        if (conflict(r)) fail(Errno.EADDRINUSE, op, args, `a mapping or allowed range sits in the device's reserved region 0x${r.start.toString(16)}-0x${r.last.toString(16)}`);
      }
    };
    const outside = (r: IovaRange) => r.start === 0n || r.last === U64_MAX;
    const aperture = reserved.filter(outside);
    const device = reserved.filter((r) => !outside(r));
    if (!replace) enforce(device);
    const align = pgsize > this.alignment ? pgsize : this.alignment;
    if (align !== this.alignment) {
      const m = align - 1n;
      const bad = this.#areas.all().find((a) => (a.iova & m) !== 0n || (a.size & m) !== 0n || ((a.vaddr - a.pages.uptr) & m) !== 0n);
      if (bad) fail(Errno.EADDRINUSE, op, args, `the mapping at 0x${bad.iova.toString(16)} is not ${align}-byte aligned`);
    }
    enforce(aperture);
    // iopt_fill_domain(): pin every area now; a failure undoes the ones done.
    const done: SimArea[] = [];
    if (this.#domains === 0) {
      for (const a of this.#areas.all()) {
        const why = this.#pin(a);
        if (why) {
          for (const d of done) this.#unpin(d);
          fail(why.errno, op, args, why.hint);
        }
        done.push(a);
      }
    }
    if (replace) {
      try {
        enforce(device);
      } catch (err) {
        for (const d of done) this.#unpin(d);
        throw err;
      }
    }
    for (const r of reserved) this.#reserved.push({ start: r.start, last: r.last, owner });
    this.alignment = align;
    this.#domains++;
  }

  /** The device's domain leaves: its reserved regions go; the last domain unpins everything. */
  removeDomain(owner: unknown): void {
    this.#reserved = this.#reserved.filter((r) => r.owner !== owner);
    this.#domains--;
    if (this.#domains === 0) {
      for (const a of this.#areas.all()) this.#unpin(a);
      this.alignment = 1n;
    }
  }

  /** What backs an area and the IOMMU entries it takes, for the cost model (nothing pinned without a domain). */
  segmentsOf(a: SimArea): CostSegment[] {
    if (!this.hasDomain) return [];
    const sizes = pageSizesOf(this.#host.options.pageSizes);
    return this.#host.buffers.spans(a.vaddr, a.size).map((s) => ({
      backing: s.backing,
      pages: Number(s.size / PAGE_SIZE),
      entries: Number(iommuEntries(a.iova + (s.vaddr - a.vaddr), s.vaddr, s.size, s.pageSize, sizes)),
    }));
  }

  /**
   * The first area meeting [start, last], both inclusive (iopt_area_iter_first):
   * unlike type1's vfio_find_dma(), nothing is computed as start + size, so a
   * range that ends at U64_MAX (a reserved region above the aperture) finds
   * the areas in it.
   */
  #areaIn(start: bigint, last: bigint): SimArea | undefined {
    let hit: SimArea | undefined;
    this.#areas.collectFrom(start, (a) => {
      if (a.iova <= last) hit = a;
      return false;
    });
    return hit;
  }

  #reservedHit(start: bigint, last: bigint): boolean {
    return this.#reserved.some((r) => start <= r.last && r.start <= last);
  }

  /** iopt_alloc_area_pages() + insert + fill the domains. */
  #mapPages(pieces: Piece[], length: bigint, iova: bigint | null, prot: number, op: string,
    args: Record<string, unknown>): SimArea[] {
    if ((length & (this.alignment - 1n)) !== 0n || length === 0n) {
      fail(Errno.EINVAL, op, args, `length must be non-zero and a multiple of the IOAS alignment (${this.alignment})`);
    }
    let at: bigint;
    if (iova === null) {
      at = this.#allocIova(pieces[0]!.vaddr, length, op, args);
    } else {
      if ((iova & (this.alignment - 1n)) !== 0n) fail(Errno.EINVAL, op, args, `iova must be aligned to ${this.alignment}`);
      const last = iova + length - 1n;
      if (last > U64_MAX) fail(Errno.EOVERFLOW, op, args, 'the IOVA range wraps around 2^64');
      if (this.#reservedHit(iova, last)) fail(Errno.EINVAL, op, args, 'the IOVA range touches a reserved region (see IOVA_RANGES)');
      const hit = this.#areaIn(iova, last);
      if (hit) fail(Errno.EEXIST, op, args, `overlaps the mapping at 0x${hit.iova.toString(16)} (+0x${hit.size.toString(16)})`);
      at = iova;
    }
    // iopt_insert_area()
    const areas: SimArea[] = [];
    let cur = at;
    for (const p of pieces) {
      if ((prot & IOMMU_IOAS_MAP_WRITEABLE) && !p.pages.writable) {
        fail(Errno.EPERM, op, args, 'write access asked for pages mapped read-only');
      }
      if (((p.vaddr - p.pages.uptr) % PAGE_SIZE & (this.alignment - 1n)) !== 0n) {
        fail(Errno.EINVAL, op, args, `the user address must keep the IOAS alignment (${this.alignment}) within its page`);
      }
      areas.push({ iova: cur, size: p.length, end: cur + p.length, vaddr: p.vaddr, prot, pages: p.pages });
      cur += p.length;
    }
    // iopt_fill_domains_pages(): pin into every domain, or undo.
    if (this.hasDomain) {
      const done: SimArea[] = [];
      for (const a of areas) {
        const why = this.#pin(a);
        if (why) {
          for (const d of done) this.#unpin(d);
          fail(why.errno, op, args, why.hint);
        }
        done.push(a);
      }
    }
    for (const a of areas) {
      this.#areas.insert(a);
      for (const b of a.pages.buffers) b.pin();
    }
    return areas;
  }

  /** iopt_alloc_iova(): first fit above page 0, keeping the user address's alignment (capped at HPAGE_SIZE). */
  #allocIova(uptr: bigint, length: bigint, op: string, args: Record<string, unknown>): bigint {
    const pageOffset = uptr % PAGE_SIZE;
    if (length === 0n || length >= U64_MAX / 2n) fail(Errno.EOVERFLOW, op, args, 'length too large for a kernel-chosen IOVA');
    let align = uptr === 0n ? roundupPow2(length) : [roundupPow2(length), lowestBit(uptr)].reduce((a, b) => (a < b ? a : b));
    if (align >= HPAGE_SIZE) align = HPAGE_SIZE;
    if (align < this.alignment) fail(Errno.EINVAL, op, args, `the user address is less aligned than the IOAS (${this.alignment})`);
    const fits = (start: bigint, last: bigint): bigint | null => {
      let s = (start + align - 1n) & ~(align - 1n);
      if (s > U64_MAX) return null;
      s |= pageOffset;
      if (s >= last || last - s < length - 1n) return null;
      return s;
    };
    // interval_tree_for_each_span() over the allowed tree: ranges that touch (last + 1 == start) are one
    // used span (interval_tree_span_iter_next_gap), so a kernel-chosen IOVA may straddle them.
    const joined: IovaRange[] = [];
    for (const w of [...this.#allowed].sort((a, b) => (a.start < b.start ? -1 : 1))) {
      const prev = joined[joined.length - 1];
      if (prev && prev.last + 1n >= w.start) {
        if (w.last > prev.last) prev.last = w.last;
      } else {
        joined.push({ start: w.start, last: w.last });
      }
    }
    const windows = joined.length
      ? joined
        .map((w) => ({ start: w.start > PAGE_SIZE ? w.start : PAGE_SIZE, last: w.last < U64_MAX - PAGE_SIZE ? w.last : U64_MAX - PAGE_SIZE }))
        .filter((w) => w.start <= w.last)
      : [{ start: PAGE_SIZE, last: U64_MAX - PAGE_SIZE }];
    const used = [...this.#reserved.map((r) => ({ start: r.start, last: r.last })),
      ...this.#areas.all().map((a) => ({ start: a.iova, last: a.end - 1n }))]
      .sort((a, b) => (a.start < b.start ? -1 : 1));
    for (const w of windows) {
      const ws = fits(w.start, w.last);
      if (ws === null) continue; // __alloc_iova_check_used
      let cur = ws;
      for (const u of used) {
        if (u.last < cur) continue;
        if (u.start > w.last) break;
        if (u.start > cur) {
          const s = fits(cur, u.start - 1n);
          if (s !== null) return s;
        }
        if (u.last + 1n > cur) cur = u.last + 1n;
        if (cur > w.last) break;
      }
      if (cur <= w.last) {
        const s = fits(cur, w.last);
        if (s !== null) return s;
      }
    }
    return fail(Errno.ENOSPC, op, args, 'no free IOVA range of that size and alignment');
  }

  /**
   * iopt_area_fill_domain() -> pfn_reader_user_pin() + pfn_reader_update_pinned():
   * the area's pages that no other domain-filled area of the same iopt_pages
   * holds are pinned from user memory (EFAULT where the process has none) and
   * charged (do_update_pinned: ENOMEM past the limit).
   */
  #pin(a: SimArea): { errno: number; hint: string } | null {
    const p = a.pages;
    const first = (a.vaddr - p.uptr) / PAGE_SIZE;
    const last = (a.vaddr + a.size - 1n - p.uptr) / PAGE_SIZE;
    const fresh = unionPages([...p.pinned, { first, last }]) - unionPages(p.pinned);
    if (fresh > 0n) {
      const start = p.uptr + first * PAGE_SIZE;
      const bytes = (last - first + 1n) * PAGE_SIZE;
      if (this.#host.buffers.pinnablePrefix(start, bytes, this.#host.options.anyVaddr) < bytes) {
        return { errno: Errno.EFAULT, hint: 'the user memory is not (or no longer) memory of this process: a closed buffer, or never mapped' };
      }
      const refused = this.#accounts.charge(p.account, fresh);
      if (refused) return { errno: Errno.ENOMEM, hint: refused };
    }
    p.pinned.push({ area: a, first, last });
    return null;
  }

  /** iopt_area_unfill_domain(): pages no other domain-filled area holds are unpinned and uncharged. */
  #unpin(a: SimArea): void {
    const p = a.pages;
    const i = p.pinned.findIndex((r) => r.area === a);
    if (i < 0) return;
    const before = unionPages(p.pinned);
    p.pinned.splice(i, 1);
    const freed = before - unionPages(p.pinned);
    if (freed > 0n) this.#accounts.uncharge(p.account, freed);
  }

  #release(a: SimArea): void {
    if (this.hasDomain) this.#unpin(a);
    for (const b of a.pages.buffers) b.unpin();
  }
}

/** One contiguous piece of user memory headed for an area (iopt_pages_list). */
export interface Piece {
  pages: SimPages;
  vaddr: bigint;
  length: bigint;
}
