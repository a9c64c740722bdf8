// The planner: turns requests into the fewest MAP_DMA entries that map exactly
// the requested pages.
//
// One loop serves every strategy and every input shape. A request is consumed
// into the current run while it continues it; otherwise the run is flushed and
// a new one starts. A single page is a run of one, so there is no separate
// path to regress (the objection to the kernel patch). The strategies differ
// only in how far a run may grow (its limit):
//   per-page   one page            (the unpatched kernel loop)
//   coalesced  up to an IOVA-range end, a known mapping, or maxEntrySize
//   kernel     the whole region in one call; anything else is refused
//
// The loop works in page numbers held in doubles (see words.ts): a million
// entries plan in tens of milliseconds instead of hundreds with BigInt.
import { PLAN_FLAGS, PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, PLAN_VADDR, PROT_RW, type IommuInfo, type IovaRange } from '../backend.js';
import { Errno, VfioError } from '../errors.js';
import { MappedSet } from './mapped-set.js';
import { minPageSize, pageSizeList } from './page-sizes.js';
import { radixOrder } from './radix.js';
import { REQUEST_STRIDE, requestCount, requestHalves, requestWords, type MapRequest } from './requests.js';
import { HI, LO, PageUnits, u32View } from './words.js';
import { NotContiguousError } from './not-contiguous.js';

export type Strategy = 'per-page' | 'coalesced' | 'kernel';
export const STRATEGIES: readonly Strategy[] = ['per-page', 'coalesced', 'kernel'];

export interface Plan {
  strategy: Strategy;
  /**
   * PLAN_STRIDE words per entry (vaddr, iova, size, flags); exactly count entries. It may be a view into a
   * larger ArrayBuffer (which also holds firstRequest and lastRequest): use it, not its .buffer.
   */
  entries: BigUint64Array;
  count: number;
  /** Bytes the plan maps (what it will pin and charge to RLIMIT_MEMLOCK). */
  bytes: bigint;
  /** bytes in pages of pageSize. */
  pages: bigint;
  /** The smallest IOMMU page size, the granule of every entry. */
  pageSize: bigint;
  /** Entry k covers requests firstRequest[k] ..= lastRequest[k] (indexes into the input). */
  firstRequest: Uint32Array;
  lastRequest: Uint32Array;
  /** Number of requests planned. */
  requests: number;
  /** Bytes left out because a known mapping already covered them (onExisting: 'skip'). */
  skipped: bigint;
}

export interface PlanOptions {
  /**
   * Largest entry to issue ('coalesced' only); runs are cut at multiples of it. A multiple of the page size; cut down
   * to a multiple of the largest IOMMU page size it holds, so no cut splits a page the geometry allows.
   * Without it, the largest span one maximal dirty bitmap covers when the IOMMU reports dirty tracking.
   */
  maxEntrySize?: bigint;
  /** Mappings known to exist; runs never cross them. */
  existing?: MappedSet;
  /** Requested pages already in `existing`: refuse the plan (EEXIST, default) or leave them out. */
  onExisting?: 'error' | 'skip';
}

const REFUSED = 'refused while planning, before anything was mapped';

// Module-local copies of imported constants for the hot loops: some module
// loaders (vitest's) turn every use of an imported name into a property load.
const STRIDE = PLAN_STRIDE;
const F_VADDR = PLAN_VADDR;
const F_IOVA = PLAN_IOVA;
const F_SIZE = PLAN_SIZE;
const F_FLAGS = PLAN_FLAGS;
const REQ_WORDS = REQUEST_STRIDE;
const W_LO = LO;
const W_HI = HI;
const PROT_ALL = PROT_RW;

export function buildPlan(
  requests: readonly MapRequest[] | BigUint64Array,
  strategy: Strategy,
  info: IommuInfo,
  opts: PlanOptions = {},
): Plan {
  if (strategy !== 'coalesced' && strategy !== 'per-page' && strategy !== 'kernel') {
    throw new TypeError(`unknown strategy ${String(strategy)}`);
  }
  const n = requestCount(requests);
  const words = requestWords(requests);
  const geo = geometryOf(info);
  const units = geo.units;
  const ranges = geo.ranges;
  if (opts.existing !== undefined && !(opts.existing instanceof MappedSet)) throw new TypeError('opts.existing must be a MappedSet');
  const existing = opts.existing && opts.existing.count > 0 ? opts.existing : undefined;
  const skipExisting = opts.onExisting === 'skip';
  const maxEntry = maxEntryPages(strategy, opts.maxEntrySize, geo);

  // Per-page plans have at least n entries. Coalesced and kernel ones have at
  // most n (plus splits) and often far fewer: start in the kept storage, like a
  // single page (so that both take the same code after the loop), and if that
  // proves too small, go straight to n rather than doubling up to it.
  const out = new PlanWriter(strategy === 'per-page' ? n : 0, n, units);
  planRuns(out, words, n, info, ranges, existing, skipExisting, maxEntry);
  const skipped = out.skipped;

  if (out.pages !== geo.lastPages) {
    geo.lastPages = out.pages;
    geo.lastPagesBig = BigInt(out.pages);
    geo.lastBytesBig = geo.lastPagesBig * units.pageBig;
  }
  const plan: Plan = {
    strategy,
    entries: out.entries(),
    count: out.count,
    bytes: geo.lastBytesBig,
    pages: geo.lastPagesBig,
    pageSize: units.pageBig,
    firstRequest: out.firstRequests(),
    lastRequest: out.lastRequests(),
    requests: n,
    skipped: skipped === 0 ? 0n : units.toBig(skipped),
  };
  out.release();
  if (!out.ascending) refuseOverlaps(plan, units);
  if (strategy === 'kernel' && plan.count > 1) {
    const k = plan.firstRequest[1] as number;
    throw new NotContiguousError(`'kernel' maps one contiguous region in one call, but these requests need ${plan.count} calls `
      + `(the region breaks at request ${k}: IOVA or vaddr not contiguous, prot differs, or an IOVA-range end or known mapping is in the way); use 'coalesced'`);
  }
  return plan;
}

// The planning loop, a function of its own: V8 compiles a long-running loop
// on its own (on-stack replacement) and may go on entering that code on later
// calls. Code after the loop in the same function then deoptimized on every
// call that took a branch the first big plans never took (each single page
// after the bench's big cells: ~5 us a call). What follows the loop is in
// buildPlan, compiled and deoptimized the ordinary way.
function planRuns(out: PlanWriter, words: BigUint64Array, n: number, info: IommuInfo, ranges: Float64Array,
  existing: MappedSet | undefined, skipExisting: boolean, maxEntry: number): void {
  const units = out.units;
  const page = units.page;
  const space = units.limit;
  const input = requestHalves(words);
  // Locals, not module bindings or fields, in the hot loop.
  const lo = W_LO;
  const hi = W_HI;
  const perHi = units.perHi;
  const perByte = 1 / page; // exact: page is a power of two
  const lowMask = page - 1;
  let rangeIndex = 0;
  let existingHint = 0;
  let skipped = 0;
  let ascending = true;
  let prevEnd = 0;

  // The open run, in pages: IOVA [runIova, runEnd), vaddr from runVaddr to runVend.
  let open = false;
  let runIova = 0;
  let runEnd = 0;
  let runVaddr = 0;
  let runVend = 0;
  let runProt = 0;
  let runLimit = 0;
  let runFirst = 0;
  let runLast = 0;

  for (let i = 0; i < n; i++) {
    const b = i * 2 * REQ_WORDS;
    const vlo = input[b + lo] as number;
    const ilo = input[b + 2 + lo] as number;
    const slo = input[b + 4 + lo] as number;
    const prot = input[b + 6 + lo] as number;
    // Page numbers: exact once every low half is known to be a multiple of the page.
    const vaddr = (input[b + hi] as number) * perHi + vlo * perByte;
    const iova = (input[b + 2 + hi] as number) * perHi + ilo * perByte;
    const size = (input[b + 4 + hi] as number) * perHi + slo * perByte;
    const end = iova + size;
    if (((vlo | ilo | slo) & lowMask) !== 0 || size === 0) {
      throw new RangeError(`request ${i}: vaddr, iova and size must be non-zero multiples of the IOMMU page size 0x${units.pageBig.toString(16)} `
        + `(vaddr 0x${(words[4 * i] as bigint).toString(16)}, iova 0x${(words[4 * i + 1] as bigint).toString(16)}, size 0x${(words[4 * i + 2] as bigint).toString(16)})`);
    }
    if (end > space || vaddr + size > space) throw new RangeError(`request ${i}: iova or vaddr + size wraps past 2^64`);
    if (prot === 0 || (prot & ~PROT_ALL) !== 0 || (input[b + 6 + hi] as number) !== 0) {
      throw new RangeError(`request ${i}: prot ${words[4 * i + 3]} must be PROT_READ, PROT_WRITE or both`);
    }
    // Requests that only go up cannot overlap; anything else is checked after.
    if (iova < prevEnd) ascending = false;
    prevEnd = end;

    let cur = iova;
    let curVaddr = vaddr;
    while (cur < end) {
      // Cheapest and most selective test first: IOVA adjacency; then vaddr; then prot.
      if (open && cur === runEnd && curVaddr === runVend && prot === runProt && cur < runLimit) {
        const stop = end < runLimit ? end : runLimit;
        runVend += stop - cur;
        curVaddr = runVend;
        cur = runEnd = stop;
        runLast = i;
        continue;
      }
      if (open) {
        out.push(runVaddr, runIova, runEnd - runIova, runProt, runFirst, runLast);
        open = false;
      }

      // A new run starts at cur: find how far it may grow.
      rangeIndex = rangeContaining(ranges, cur, rangeIndex);
      if (rangeIndex < 0) {
        throw new RangeError(`request ${i}: IOVA 0x${units.toBig(cur).toString(16)} is outside the usable IOVA ranges (${describeRanges(info)})`);
      }
      let limit = ranges[2 * rangeIndex + 1] as number;
      if (existing) {
        const curBig = units.toBig(cur);
        existingHint = existing.indexAfter(curBig, existingHint);
        if (existingHint < existing.count) {
          const mappedStart = existing.startAt(existingHint);
          if (mappedStart < units.toBig(cur + 1)) {
            const mappedEnd = existing.endAt(existingHint);
            if (!skipExisting) {
              throw new VfioError(Errno.EEXIST, 'MAP_DMA plan', { request: i, iova: curBig },
                `IOVA 0x${curBig.toString(16)} is already mapped (0x${mappedStart.toString(16)}..0x${(mappedEnd - 1n).toString(16)}); ${REFUSED}`);
            }
            const mappedEndPage = units.fromBigUp(mappedEnd);
            const next = mappedEndPage < end ? mappedEndPage : end;
            skipped += next - cur;
            curVaddr += next - cur;
            cur = next;
            continue;
          }
          const startPage = units.fromBig(mappedStart);
          if (startPage < limit) limit = startPage;
        }
      }
      // Cut at multiples of maxEntry, so later pieces keep their superpage alignment.
      if (limit - cur > maxEntry) limit = nextMultiple(cur, maxEntry);

      open = true;
      runIova = cur;
      runVaddr = curVaddr;
      runProt = prot;
      runLimit = limit;
      runFirst = runLast = i;
      const stop = end < limit ? end : limit;
      runVend = curVaddr + (stop - cur);
      curVaddr = runVend;
      cur = runEnd = stop;
    }
  }
  if (open) out.push(runVaddr, runIova, runEnd - runIova, runProt, runFirst, runLast);
  out.skipped = skipped;
  out.ascending = ascending;
}

/** The smallest multiple of m above p (doubles: `%` on them is a slow fmod call). */
function nextMultiple(p: number, m: number): number {
  let q = Math.floor(p / m);
  if (q * m > p) q--; // the division rounded up
  return (q + 1) * m;
}

function maxEntryPages(strategy: Strategy, maxEntrySize: bigint | undefined, geo: Geometry): number {
  if (strategy === 'per-page') return 1;
  const units = geo.units;
  // The size field is 64 bits: no entry may cover 2^64 bytes, so cut at 2^63.
  let max = units.limit / 2;
  if (strategy !== 'coalesced') return max;
  if (maxEntrySize === undefined) return geo.maxEntryPages;
  if (geo.maxDirtyPages < max) max = geo.maxDirtyPages;
  if (typeof maxEntrySize !== 'bigint') throw new TypeError('maxEntrySize must be a bigint');
  if (maxEntrySize <= 0n || maxEntrySize % units.pageBig !== 0n) {
    throw new RangeError(`maxEntrySize 0x${maxEntrySize.toString(16)} is not a positive multiple of the page size 0x${units.pageBig.toString(16)}`);
  }
  const pages = units.fromBig(maxEntrySize);
  if (pages < max) max = pages;
  return alignToPages(max, geo.sizes);
}

/**
 * A cap on entry size, cut down to a multiple of the largest IOMMU page size it holds: runs are cut at multiples of
 * it, so the cuts fall on that page's boundaries and no IOMMU page the geometry allows is split in two. With VT-d's
 * 4 KiB | 2 MiB | 1 GiB a 3 MiB cap becomes 2 MiB and 6 MiB stays; with AMD-Vi's every-power-of-two bitmap any cap
 * becomes the largest power of two it holds (6 MiB: 4 MiB).
 */
function alignToPages(max: number, sizes: Float64Array): number {
  let largest = 1;
  for (let k = 0; k < sizes.length; k++) {
    const p = sizes[k] as number;
    if (p <= max) largest = p;
  }
  return Math.floor(max / largest) * largest;
}

/** What buildPlan works out from an IommuInfo before its loop. */
interface Geometry {
  units: PageUnits;
  /** usableRanges(); only read. */
  ranges: Float64Array;
  /** Largest entry dirty tracking allows, in pages (Infinity without it). */
  maxDirtyPages: number;
  /** The IOMMU page sizes, in pages, ascending. */
  sizes: Float64Array;
  /** The coalesced strategy's entry cap when no maxEntrySize is given (2^63 bytes or the dirty cap), page aligned. */
  maxEntryPages: number;
  // The values it was worked out from.
  pageSizes: bigint;
  starts: bigint[];
  lasts: bigint[];
  migPageSizes: bigint;
  migMaxBitmap: bigint;
  /** The last plan's page count and its BigInts (immutable, so shared): repeated single pages make none. */
  lastPages: number;
  lastPagesBig: bigint;
  lastBytesBig: bigint;
}

// Callers plan again and again against the same IommuInfo; working it out
// (BigInt divisions, a typed array) cost more than planning one page. The last
// one is kept and reused while every value it came from is equal (compared,
// not trusted by identity: an IommuInfo is a plain object anyone may change).
let lastGeometry: Geometry | null = null;

function geometryOf(info: IommuInfo): Geometry {
  const g = lastGeometry;
  if (g !== null && g.pageSizes === info.pageSizes && sameRanges(g, info.ranges)) {
    const mig = info.migration;
    if (mig ? g.migPageSizes === mig.pageSizes && g.migMaxBitmap === mig.maxDirtyBitmapSize : g.migPageSizes === -1n) return g;
  }
  const units = new PageUnits(minPageSize(info.pageSizes));
  const ranges = usableRanges(info, units);
  // With dirty tracking, an unmap that returns the dirty bitmap may cover at
  // most one maximal bitmap, and unmaps cannot split a mapping: so no mapping
  // may be larger than that bitmap describes.
  let maxDirtyPages = Infinity;
  const mig = info.migration;
  if (mig && mig.pageSizes > 0n && mig.maxDirtyBitmapSize > 0n) {
    const pages = units.fromBig(mig.maxDirtyBitmapSize * 8n * (mig.pageSizes & -mig.pageSizes));
    if (pages >= 1) maxDirtyPages = pages;
  }
  const sizes = Float64Array.from(pageSizeList(info.pageSizes), (size) => units.fromBig(size));
  const cap = maxDirtyPages < units.limit / 2 ? maxDirtyPages : units.limit / 2;
  lastGeometry = {
    units, ranges, maxDirtyPages, sizes, maxEntryPages: alignToPages(cap, sizes), pageSizes: info.pageSizes,
    starts: info.ranges.map((r) => r.start), lasts: info.ranges.map((r) => r.last),
    migPageSizes: mig ? mig.pageSizes : -1n, migMaxBitmap: mig ? mig.maxDirtyBitmapSize : -1n,
    lastPages: 0, lastPagesBig: 0n, lastBytesBig: 0n,
  };
  return lastGeometry;
}

function sameRanges(g: Geometry, ranges: readonly IovaRange[]): boolean {
  if (ranges.length !== g.starts.length) return false;
  for (let k = 0; k < ranges.length; k++) {
    const r = ranges[k] as IovaRange;
    if (r.start !== g.starts[k] || r.last !== g.lasts[k]) return false;
  }
  return true;
}

/**
 * The reported ranges as page numbers [first, end) pairs, pages only partly
 * inside a range left out. Entries must fit inside one range: the kernel checks
 * each mapping against each range on its own, so it refuses a mapping that
 * spans two touching ranges as surely as one that crosses a hole.
 */
function usableRanges(info: IommuInfo, units: PageUnits): Float64Array {
  if (info.ranges.length === 0) throw new RangeError('IommuInfo has no usable IOVA ranges');
  const pairs = new Float64Array(info.ranges.length * 2);
  let prev = -1n;
  for (let k = 0; k < info.ranges.length; k++) {
    const r = info.ranges[k] as IovaRange;
    if (r.start > r.last || r.start <= prev) throw new RangeError('IommuInfo ranges must be sorted, disjoint and inclusive {start, last}');
    prev = r.last;
    pairs[2 * k] = units.fromBigUp(r.start);
    pairs[2 * k + 1] = units.fromBig(r.last + 1n);
  }
  return pairs;
}

/** Index of the range containing page `p`, trying `hint` first; -1 if none. */
function rangeContaining(pairs: Float64Array, p: number, hint: number): number {
  if ((pairs[2 * hint] as number) <= p && p < (pairs[2 * hint + 1] as number)) return hint;
  let lo = 0;
  let hi = pairs.length / 2;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((pairs[2 * mid + 1] as number) <= p) lo = mid + 1;
    else hi = mid;
  }
  return lo < pairs.length / 2 && (pairs[2 * lo] as number) <= p ? lo : -1;
}

function describeRanges(info: IommuInfo): string {
  const shown = info.ranges.slice(0, 4).map((r) => `0x${r.start.toString(16)}..0x${r.last.toString(16)}`);
  return shown.join(', ') + (info.ranges.length > 4 ? `, and ${info.ranges.length - 4} more` : '');
}

// Two requests for the same IOVA would make the second MAP_DMA fail with
// EEXIST halfway through the batch; refuse the plan instead. Only unsorted
// input gets here: its entries are put in IOVA order (radix, linear) and each
// must end before the next begins.
function refuseOverlaps(plan: Plan, units: PageUnits): void {
  const view = u32View(plan.entries);
  const n = plan.count;
  const startHi = new Uint32Array(n);
  const startLo = new Uint32Array(n);
  const starts = new Float64Array(n);
  const ends = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const b = 2 * k * STRIDE;
    const start = units.fromHalves(view[b + 2 * F_IOVA + W_HI] as number, view[b + 2 * F_IOVA + W_LO] as number);
    starts[k] = start;
    ends[k] = start + units.fromHalves(view[b + 2 * F_SIZE + W_HI] as number, view[b + 2 * F_SIZE + W_LO] as number);
    // Keyed by page number, not byte address: fewer significant bits, so the
    // radix sort can skip more of its passes.
    const hi = Math.floor(start / 0x1_0000_0000);
    startHi[k] = hi;
    startLo[k] = start - hi * 0x1_0000_0000;
  }
  const order = radixOrder(startHi, startLo);
  for (let k = 1; k < n; k++) {
    const a = order[k - 1] as number;
    const b = order[k] as number;
    if ((ends[a] as number) > (starts[b] as number)) {
      const at = plan.entries[b * STRIDE + F_IOVA] as bigint;
      throw new RangeError(`requests ${plan.lastRequest[a]} and ${plan.firstRequest[b]} overlap at IOVA 0x${at.toString(16)}; ${REFUSED}`);
    }
  }
}

/** Where a plan is written: one ArrayBuffer holds the entries and both request arrays. */
interface Storage {
  words: BigUint64Array;
  view: Uint32Array;
  first: Uint32Array;
  last: Uint32Array;
}

function newStorage(c: number): Storage {
  const buf = new ArrayBuffer(c * (PLAN_STRIDE * 8 + 8));
  return {
    words: new BigUint64Array(buf, 0, c * PLAN_STRIDE),
    view: new Uint32Array(buf, 0, c * PLAN_STRIDE * 2),
    first: new Uint32Array(buf, c * PLAN_STRIDE * 8, c),
    last: new Uint32Array(buf, c * PLAN_STRIDE * 8 + c * 4, c),
  };
}

// Plans of a few entries (a single page above all) are written into one kept
// storage and copied out exactly sized: an ArrayBuffer and four views made per
// plan cost more than planning the page, and so does the garbage collector's
// sweep of them. Small copies are plain typed arrays V8 keeps on its heap.
// A plan that throws half-way keeps the spare: the next one makes another.
const SPARE_ENTRIES = 64;
let spare: Storage | null = null;

/** Growable plan output, written through a u32 view: no BigInt per entry. */
class PlanWriter {
  count = 0;
  pages = 0;
  /** Pages left out as already mapped (onExisting: 'skip'). */
  skipped = 0;
  /** No request started below the end of the one before it (then none overlap). */
  ascending = true;
  private words: BigUint64Array;
  private view: Uint32Array;
  private first: Uint32Array;
  private last: Uint32Array;
  /** The spare storage while writing into it (the result is then a copy), else null. */
  private borrowed: Storage | null;

  constructor(capacity: number, private readonly expected: number, readonly units: PageUnits) {
    let st: Storage;
    if (capacity <= SPARE_ENTRIES) {
      st = spare ?? newStorage(SPARE_ENTRIES);
      spare = null;
      this.borrowed = st;
    } else {
      st = newStorage(capacity);
      this.borrowed = null;
    }
    this.words = st.words;
    this.view = st.view;
    this.first = st.first;
    this.last = st.last;
  }

  push(vaddr: number, iova: number, size: number, prot: number, first: number, last: number): void {
    if (this.count === this.first.length) this.grow();
    const w = this.count * STRIDE;
    const u = this.units;
    u.store(this.view, w + F_VADDR, vaddr);
    u.store(this.view, w + F_IOVA, iova);
    u.store(this.view, w + F_SIZE, size);
    this.view[2 * (w + F_FLAGS) + W_LO] = prot;
    this.view[2 * (w + F_FLAGS) + W_HI] = 0;
    this.pages += size;
    this.first[this.count] = first;
    this.last[this.count] = last;
    this.count++;
  }

  // Exactly count entries: the addon walks the whole array. Copy only when
  // the spare capacity is worth giving back (or the storage is the kept one).
  entries(): BigUint64Array {
    const used = this.count * PLAN_STRIDE;
    if (this.borrowed !== null) return copyWords(this.words, used);
    if (used === this.words.length) return this.words;
    return used * 4 < this.words.length * 3 ? this.words.slice(0, used) : this.words.subarray(0, used);
  }

  firstRequests(): Uint32Array {
    if (this.borrowed !== null) return copyU32(this.first, this.count);
    return this.count === this.first.length ? this.first : this.first.subarray(0, this.count);
  }

  lastRequests(): Uint32Array {
    if (this.borrowed !== null) return copyU32(this.last, this.count);
    return this.count === this.last.length ? this.last : this.last.subarray(0, this.count);
  }

  /** Gives the kept storage back, once entries() and the request arrays were taken. */
  release(): void {
    if (this.borrowed !== null) spare = this.borrowed;
    this.borrowed = null;
  }

  private grow(): void {
    const { words, first, last } = this;
    const st = newStorage(Math.max(first.length * 2, this.expected));
    st.words.set(words);
    st.first.set(first);
    st.last.set(last);
    this.words = st.words;
    this.view = st.view;
    this.first = st.first;
    this.last = st.last;
    this.release();
  }
}

// Copies out of the kept storage (at most SPARE_ENTRIES entries). An element
// loop into a new array: cheaper than slice() at these sizes.
function copyWords(src: BigUint64Array, n: number): BigUint64Array {
  const out = new BigUint64Array(n);
  for (let k = 0; k < n; k++) out[k] = src[k] as bigint;
  return out;
}

function copyU32(src: Uint32Array, n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let k = 0; k < n; k++) out[k] = src[k] as number;
  return out;
}
