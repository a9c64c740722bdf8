// Hands out IOVAs inside the ranges the IOMMU reports, aligned so the IOMMU
// can use its largest page the buffer allows. A 2 MiB-backed buffer placed at
// a 2 MiB-aligned IOVA (congruent with its vaddr) is mapped with 2 MiB IOTLB
// entries; placed anywhere else it costs 512 entries per 2 MiB. Every size in
// the IOMMU's bitmap counts: AMD-Vi has all powers of two from 4 KiB, so a
// 768 MiB piece of a 1 GiB hugetlb page is aligned for its 512 MiB page there.
//
// IOVAs are bigint, so nothing wraps silently; instead every sum is checked
// against the range it must stay in (and so against 2^64).
import type { Backing, IommuInfo } from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { U64_MAX } from '../seam/args.js';
import { backingPageSize, isPowerOfTwo, minPageSize, pageSizeList, superpageFor } from './page-sizes.js';

export interface AllocOptions {
  /** Exact alignment (a power of two, at least the IOMMU page). Overrides backing. */
  align?: bigint;
  /** What backs the buffer: the alignment is the largest IOMMU page it allows. Default '4k'. */
  backing?: Backing;
  /** hugetlb page size (2 MiB unless given; 1 GiB pages allow 1 GiB IOMMU pages). */
  hugePageSize?: bigint;
  /** The buffer's vaddr: the IOVA is made congruent with it modulo the alignment. */
  vaddr?: bigint;
}

interface Segment {
  start: bigint;
  /** Inclusive, like the kernel's ranges. */
  last: bigint;
  /** Which reported range it lies in: free space is never merged across ranges. */
  range: number;
}

export class IovaAllocator {
  readonly pageSize: bigint;
  private readonly pageSizes: bigint[];
  private readonly ranges: { start: bigint; last: bigint }[];
  /** Free space, sorted by start. */
  private spans: Segment[] = [];

  constructor(info: IommuInfo) {
    this.pageSize = minPageSize(info.pageSizes);
    this.pageSizes = pageSizeList(info.pageSizes);
    if (info.ranges.length === 0) throw new RangeError('IommuInfo has no usable IOVA ranges');
    this.ranges = [];
    let prev = -1n;
    const mask = this.pageSize - 1n;
    info.ranges.forEach((r) => {
      if (r.start > r.last || r.start <= prev || r.last > U64_MAX) throw new RangeError('IOVA ranges must be sorted, disjoint, inclusive and within 64 bits');
      prev = r.last;
      // Only whole pages inside the range are usable, and never the last page
      // of the 64-bit space: type1's vfio_unmap_unpin() takes end = iova +
      // size, which wraps to 0 for a mapping that ends at 2^64, so that
      // mapping can never be unpinned or unmapped (Linux 6.12; reachable
      // where the aperture is 64-bit, as on AMD-Vi). One page is the price.
      const start = (r.start + mask) & ~mask;
      const top = (1n << 64n) - this.pageSize;
      const whole = (r.last + 1n) & ~mask;
      const end = whole > top ? top : whole;
      if (end > start) {
        const range = this.ranges.length;
        this.ranges.push({ start, last: end - 1n });
        this.spans.push({ start, last: end - 1n, range });
      }
    });
  }

  /** Free bytes in all ranges. */
  get available(): bigint {
    return this.spans.reduce((sum, s) => sum + (s.last - s.start + 1n), 0n);
  }

  /** The alignment alloc() would pick for this size and backing. */
  alignmentFor(size: bigint, opts: AllocOptions = {}): bigint {
    if (opts.align !== undefined) return opts.align;
    return superpageFor(this.bitmap(), backingPageSize(opts.backing ?? '4k', opts.hugePageSize), size);
  }

  alloc(size: bigint, opts: AllocOptions = {}): bigint {
    this.checkSpan(size, 'size');
    if (size === 0n) throw new RangeError('cannot allocate 0 bytes');
    const explicit = opts.align !== undefined;
    if (explicit && (typeof opts.align !== 'bigint' || !isPowerOfTwo(opts.align) || opts.align < this.pageSize)) {
      throw new RangeError(`align must be a power of two of at least the IOMMU page size 0x${this.pageSize.toString(16)}`);
    }
    if (opts.vaddr !== undefined && (typeof opts.vaddr !== 'bigint' || opts.vaddr < 0n || opts.vaddr > U64_MAX)) {
      throw new RangeError('vaddr must be a 64-bit bigint');
    }
    const best = this.alignmentFor(size, opts);
    // A superpage alignment is what we prefer, not what we need: fall back to
    // smaller pages rather than fail. An explicit align is a requirement.
    const candidates = explicit ? [best] : this.pageSizes.filter((p) => p <= best).reverse();
    for (const align of candidates) {
      const phase = opts.vaddr === undefined ? 0n : opts.vaddr & (align - 1n);
      for (let k = 0; k < this.spans.length; k++) {
        const seg = this.spans[k] as Segment;
        const at = placeIn(seg, size, align, phase);
        if (at !== null) {
          this.take(k, at, size);
          return at;
        }
      }
    }
    throw new VfioError(Errno.ENOMEM, 'IOVA alloc', { size, align: best },
      `no free IOVA span of 0x${size.toString(16)} bytes (aligned to 0x${best.toString(16)}) inside the usable ranges; `
      + `0x${this.available.toString(16)} bytes free in ${this.spans.length} pieces`);
  }

  /** Marks a span as used (an IOVA the caller chose, or an existing mapping). */
  reserve(iova: bigint, size: bigint): void {
    this.checkSpan(iova, 'iova');
    this.checkSpan(size, 'size');
    const k = this.spans.findIndex((s) => s.start <= iova && iova <= s.last);
    const seg = this.spans[k];
    if (!seg || size === 0n || iova + size - 1n > seg.last) {
      throw new RangeError(`0x${iova.toString(16)}+0x${size.toString(16)} is not free IOVA space inside one usable range`);
    }
    this.take(k, iova, size);
  }

  /** Returns a span to the free space, merging it with free neighbours in the same range. */
  free(iova: bigint, size: bigint): void {
    this.checkSpan(iova, 'iova');
    this.checkSpan(size, 'size');
    if (size === 0n) throw new RangeError('cannot free 0 bytes');
    const last = iova + size - 1n;
    const range = this.ranges.findIndex((r) => r.start <= iova && iova <= r.last);
    const r = this.ranges[range];
    if (!r || last > r.last) {
      throw new RangeError(`0x${iova.toString(16)}+0x${size.toString(16)} is not inside one usable IOVA range`);
    }
    // First free segment starting after iova; the one before it must end before iova.
    let k = 0;
    while (k < this.spans.length && (this.spans[k] as Segment).start <= iova) k++;
    const before = this.spans[k - 1];
    const after = this.spans[k];
    if ((before && before.last >= iova) || (after && after.start <= last)) {
      throw new RangeError(`0x${iova.toString(16)}+0x${size.toString(16)} is (partly) free already: double free?`);
    }
    const joinBefore = before !== undefined && before.range === range && before.last + 1n === iova;
    const joinAfter = after !== undefined && after.range === range && last + 1n === after.start;
    if (joinBefore && joinAfter) {
      before.last = after.last;
      this.spans.splice(k, 1);
    } else if (joinBefore) {
      before.last = last;
    } else if (joinAfter) {
      after.start = iova;
    } else {
      this.spans.splice(k, 0, { start: iova, last, range });
    }
  }

  private take(k: number, at: bigint, size: bigint): void {
    const seg = this.spans[k] as Segment;
    const pieces: Segment[] = [];
    if (at > seg.start) pieces.push({ start: seg.start, last: at - 1n, range: seg.range });
    if (at + size - 1n < seg.last) pieces.push({ start: at + size, last: seg.last, range: seg.range });
    this.spans.splice(k, 1, ...pieces);
  }

  private checkSpan(value: bigint, what: string): void {
    if (typeof value !== 'bigint') throw new TypeError(`${what} must be a bigint`);
    // A negative value printed in hex reads as "0x-1": name it for what it is.
    if (value < 0n) throw new RangeError(`${what} ${value} is negative`);
    if (value > U64_MAX) throw new RangeError(`${what} 0x${value.toString(16)} does not fit in 64 bits`);
    if (value % this.pageSize !== 0n) throw new RangeError(`${what} 0x${value.toString(16)} is not a multiple of the IOMMU page size 0x${this.pageSize.toString(16)}`);
  }

  private bitmap(): bigint {
    return this.pageSizes.reduce((m, p) => m | p, 0n);
  }
}

/**
 * Lowest address in seg that is ≡ phase (mod align) and has size bytes after
 * it inside seg, or null. Each step is checked against seg.last before it is
 * taken, so no intermediate value can pass 2^64 - 1.
 */
export function placeIn(seg: { start: bigint; last: bigint }, size: bigint, align: bigint, phase: bigint): bigint | null {
  const mask = align - 1n;
  let at = (seg.start & ~mask) | phase;
  if (at < seg.start) {
    if (seg.last - at < align) return null; // the next aligned slot is past the segment
    at += align;
  }
  if (at > seg.last || size - 1n > seg.last - at) return null;
  return at;
}
