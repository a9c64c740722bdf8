// Non-overlapping [start, start + size) intervals kept sorted by start, stored
// as a list of small sorted chunks. The kernel keeps one rb-tree node per
// vfio_dma; this is the same idea (one record per mapping, never per page)
// with O(log n) lookups and O(sqrt n)-ish inserts and removals, which keeps
// 100k random-order map/unmap calls far below a second without the code of a
// balanced tree.

export interface Interval {
  readonly iova: bigint;
  readonly size: bigint;
  /** iova + size, kept so that searches compare without allocating BigInts. */
  readonly end: bigint;
}

const CHUNK_MAX = 512;
const U64_MASK = (1n << 64n) - 1n;

export class IntervalList<T extends Interval> {
  private chunks: T[][] = [];
  private total = 0;

  get count(): number {
    return this.total;
  }

  clear(): void {
    this.chunks = [];
    this.total = 0;
  }

  /** Every interval, in order. Allocates; meant for teardown and tests. */
  all(): T[] {
    return this.chunks.flat();
  }

  /** Any interval intersecting [start, start + size); size 0 finds one with iova < start < end. */
  findOverlap(start: bigint, size: bigint): T | undefined {
    // Same predicate as vfio_find_dma(): not (start + size <= iova) and not (start >= end).
    const first = this.firstEndingAfter(start);
    if (!first) return undefined;
    const it = this.at(first.chunk, first.index);
    // u64 arithmetic, as in the kernel: an end that wraps to 0 matches nothing.
    if (((start + size) & U64_MASK) <= it.iova) return undefined;
    return it;
  }

  /** The first interval whose end lies above `addr` (vfio_find_dma_first_node without the size cut). */
  firstEndingAfter(addr: bigint): { chunk: number; index: number } | undefined {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = chunks[mid]!;
      const last = c[c.length - 1]!;
      if (last.end > addr) hi = mid;
      else lo = mid + 1;
    }
    if (lo === chunks.length) return undefined;
    const c = chunks[lo]!;
    let a = 0;
    let b = c.length - 1;
    while (a < b) {
      const mid = (a + b) >>> 1;
      const it = c[mid]!;
      if (it.end > addr) b = mid;
      else a = mid + 1;
    }
    return { chunk: lo, index: a };
  }

  /**
   * Intervals from the first one ending above `start`, in order, while `keep`
   * says so. Collected first so that callers may remove them afterwards.
   */
  collectFrom(start: bigint, keep: (it: T) => boolean): T[] {
    const out: T[] = [];
    const pos = this.firstEndingAfter(start);
    if (!pos) return out;
    for (let ci = pos.chunk; ci < this.chunks.length; ci++) {
      const c = this.chunks[ci]!;
      for (let i = ci === pos.chunk ? pos.index : 0; i < c.length; i++) {
        const it = c[i]!;
        if (!keep(it)) return out;
        out.push(it);
      }
    }
    return out;
  }

  /** Inserts an interval the caller has checked does not overlap. */
  insert(item: T): void {
    this.total++;
    const chunks = this.chunks;
    if (chunks.length === 0) {
      chunks.push([item]);
      return;
    }
    // Chunk whose last element ends above item.iova, else the last chunk.
    let lo = 0;
    let hi = chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = chunks[mid]!;
      const last = c[c.length - 1]!;
      if (last.iova > item.iova) hi = mid;
      else lo = mid + 1;
    }
    const c = chunks[lo]!;
    let a = 0;
    let b = c.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (c[mid]!.iova < item.iova) a = mid + 1;
      else b = mid;
    }
    if (a === c.length) c.push(item);
    else c.splice(a, 0, item);
    if (c.length > CHUNK_MAX) {
      const upper = c.splice(c.length >>> 1);
      chunks.splice(lo + 1, 0, upper);
    }
  }

  /** Removes an interval that is in the list (matched by identity). */
  remove(item: T): void {
    const pos = this.firstEndingAfter(item.iova);
    if (!pos) throw new Error('IntervalList.remove: not present');
    const c = this.chunks[pos.chunk]!;
    if (c[pos.index] !== item) throw new Error('IntervalList.remove: not present');
    c.splice(pos.index, 1);
    this.total--;
    if (c.length === 0) this.chunks.splice(pos.chunk, 1);
  }

  /**
   * Removes a run of intervals that sit next to each other in the list, in
   * order (what collectFrom returned): one search, then whole slices.
   */
  removeRun(items: readonly T[]): void {
    if (items.length === 0) return;
    const pos = this.firstEndingAfter(items[0]!.iova);
    if (!pos || this.at(pos.chunk, pos.index) !== items[0]) throw new Error('IntervalList.removeRun: not present');
    let left = items.length;
    let k = 0;
    let ci = pos.chunk;
    let index = pos.index;
    while (left > 0) {
      const c = this.chunks[ci];
      if (!c) throw new Error('IntervalList.removeRun: run runs past the end');
      const n = Math.min(left, c.length - index);
      if (c[index] !== items[k] || c[index + n - 1] !== items[k + n - 1]) {
        throw new Error('IntervalList.removeRun: not a run of the list');
      }
      c.splice(index, n);
      left -= n;
      k += n;
      this.total -= n;
      if (c.length === 0) this.chunks.splice(ci, 1);
      else ci++;
      index = 0;
    }
  }

  private at(chunk: number, index: number): T {
    return this.chunks[chunk]![index]!;
  }
}
