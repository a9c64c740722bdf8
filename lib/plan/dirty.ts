// Dirty-page bitmaps: bit i (LSB first, u64 words) says the page at
// iova + i * pageSize may have been written by the device.
//
// Whole runs are set and scanned a 32-bit word at a time, never bit by bit
// (one objection to the kernel patch was a per-page bitmap_set). And one rule
// holds everywhere: when in doubt, dirty. A page half inside a dirty coarser
// page, a page no bitmap covers, a span that reaches past the bitmap, all
// count as dirty; reporting a page clean that was written loses data in a
// migration, reporting a clean page dirty only costs a copy.
import type { DirtyBitmap } from '../backend.js';
import { HI, LO, u32View } from './words.js';

/** A bitmap together with where it starts and how many pages it covers. */
export interface DirtyView {
  iova: bigint;
  pageSize: bigint;
  /** Pages covered (bits in use). */
  pages: number;
  bits: BigUint64Array;
}

export interface DirtySpan {
  iova: bigint;
  size: bigint;
}

/** u64 words a bitmap of `pages` bits needs (the kernel rounds to u64 too). */
export function bitmapWords(pages: number): number {
  return Math.ceil(pages / 64);
}

/** An all-clean bitmap covering [iova, iova + size), pages rounded up. */
export function emptyDirty(iova: bigint, size: bigint, pageSize: bigint): DirtyView {
  checkPageSize(pageSize);
  const pages = Number((size + pageSize - 1n) / pageSize);
  return { iova, pageSize, pages, bits: new BigUint64Array(bitmapWords(pages)) };
}

/** Wraps what dirtyGet / unmapWithDirty returned for [iova, iova + size). */
export function dirtyView(bitmap: DirtyBitmap, iova: bigint, size: bigint): DirtyView {
  checkPageSize(bitmap.pageSize);
  const pages = Number((size + bitmap.pageSize - 1n) / bitmap.pageSize);
  if (bitmap.bits.length < bitmapWords(pages)) {
    throw new RangeError(`bitmap of ${bitmap.bits.length} words is too short for ${pages} pages`);
  }
  return { iova, pageSize: bitmap.pageSize, pages, bits: bitmap.bits };
}

// ---- bit runs, a 32-bit word at a time ---------------------------------------

// Module-local copies: some loaders (vitest's) make each use of an import a property load.
const W_LO = LO;
const W_HI = HI;

// Index in a u32 view of the 32-bit word holding bits [32j, 32j + 32).
function half(j: number): number {
  return 2 * Math.floor(j / 2) + (j % 2 === 0 ? W_LO : W_HI);
}

function checkRun(bits: BigUint64Array, start: number, count: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > bits.length * 64) {
    throw new RangeError(`bit run ${start}+${count} is outside a ${bits.length * 64}-bit bitmap`);
  }
}

/** Sets bits [start, start + count). */
export function setBits(bits: BigUint64Array, start: number, count: number): void {
  checkRun(bits, start, count);
  if (count === 0) return;
  const view = u32View(bits);
  const end = start + count;
  let j = Math.floor(start / 32);
  const jEnd = Math.floor((end - 1) / 32);
  const headMask = (0xffffffff << (start % 32)) >>> 0;
  const tailMask = 0xffffffff >>> (31 - ((end - 1) % 32));
  if (j === jEnd) {
    view[half(j)] = ((view[half(j)] as number) | (headMask & tailMask)) >>> 0;
    return;
  }
  view[half(j)] = ((view[half(j)] as number) | headMask) >>> 0;
  for (j++; j < jEnd; j++) view[half(j)] = 0xffffffff;
  view[half(jEnd)] = ((view[half(jEnd)] as number) | tailMask) >>> 0;
}

/** First set bit in [from, end), or end if none. */
export function nextSetBit(bits: BigUint64Array, from: number, end: number): number {
  return scan(bits, from, end, 0);
}

/** First clear bit in [from, end), or end if none. */
export function nextClearBit(bits: BigUint64Array, from: number, end: number): number {
  return scan(bits, from, end, 0xffffffff);
}

// Finds the first bit that differs from `skip` (0: find a set bit; all ones: a clear one).
function scan(bits: BigUint64Array, from: number, end: number, skip: number): number {
  checkRun(bits, from, end - from);
  if (from >= end) return end;
  const view = u32View(bits);
  let j = Math.floor(from / 32);
  let word = (((view[half(j)] as number) ^ skip) & (0xffffffff << (from % 32))) >>> 0;
  const jEnd = Math.floor((end - 1) / 32);
  while (word === 0) {
    if (++j > jEnd) return end;
    word = ((view[half(j)] as number) ^ skip) >>> 0;
  }
  const bit = j * 32 + (31 - Math.clz32(word & -word));
  return bit < end ? bit : end;
}

/** True if any bit in [start, start + count) is set. */
export function anyBitSet(bits: BigUint64Array, start: number, count: number): boolean {
  return nextSetBit(bits, start, start + count) < start + count;
}

/** Set bits in [start, start + count). */
export function countBits(bits: BigUint64Array, start: number, count: number): number {
  let n = 0;
  const end = start + count;
  for (let s = nextSetBit(bits, start, end); s < end;) {
    const e = nextClearBit(bits, s, end);
    n += e - s;
    s = nextSetBit(bits, e, end);
  }
  return n;
}

/** Bits [start, start + count) as a new bitmap starting at bit 0, copied a word at a time. */
export function readBits(bits: BigUint64Array, start: number, count: number): BigUint64Array {
  checkRun(bits, start, count);
  const out = new BigUint64Array(bitmapWords(count));
  const src = u32View(bits);
  const dst = u32View(out);
  const shift = start % 32;
  const j0 = Math.floor(start / 32);
  const srcWords = bits.length * 2;
  const outWords = Math.ceil(count / 32);
  for (let k = 0; k < outWords; k++) {
    const lo = (src[half(j0 + k)] as number) >>> shift;
    const next = j0 + k + 1 < srcWords ? (src[half(j0 + k + 1)] as number) : 0;
    const hi = shift === 0 ? 0 : (next << (32 - shift)) >>> 0;
    dst[half(k)] = (lo | hi) >>> 0;
  }
  if (count % 32 !== 0) {
    const k = outWords - 1;
    dst[half(k)] = ((dst[half(k)] as number) & (0xffffffff >>> (32 - (count % 32)))) >>> 0;
  }
  return out;
}

// ---- pages and IOVAs ----------------------------------------------------------

/** Page indexes [first, end) of the view touched by [iova, iova + size), clipped to it. */
function touched(view: DirtyView, iova: bigint, size: bigint): [number, number] {
  const covEnd = view.iova + BigInt(view.pages) * view.pageSize;
  const s = iova > view.iova ? iova : view.iova;
  const e = iova + size < covEnd ? iova + size : covEnd;
  if (e <= s) return [0, 0];
  return [Number((s - view.iova) / view.pageSize), Number((e - view.iova + view.pageSize - 1n) / view.pageSize)];
}

/** Marks every page the span touches dirty (a page partly inside counts). */
export function markDirty(view: DirtyView, iova: bigint, size: bigint): void {
  const [first, end] = touched(view, iova, size);
  setBits(view.bits, first, end - first);
}

/**
 * May any byte of the span be dirty? True if a page it touches is dirty, and
 * true if the span reaches past what the bitmap covers (nothing is known there).
 */
export function mayBeDirty(view: DirtyView, iova: bigint, size: bigint): boolean {
  if (size <= 0n) return false;
  if (iova < view.iova || iova + size > view.iova + BigInt(view.pages) * view.pageSize) return true;
  const [first, end] = touched(view, iova, size);
  return anyBitSet(view.bits, first, end - first);
}

/** The dirty pages as maximal runs of IOVA. */
export function dirtySpans(view: DirtyView): DirtySpan[] {
  const spans: DirtySpan[] = [];
  for (let s = nextSetBit(view.bits, 0, view.pages); s < view.pages;) {
    const e = nextClearBit(view.bits, s, view.pages);
    spans.push({ iova: view.iova + BigInt(s) * view.pageSize, size: BigInt(e - s) * view.pageSize });
    s = nextSetBit(view.bits, e, view.pages);
  }
  return spans;
}

/** ORs `from` into `into`, whatever their page sizes; pages of `into` outside `from` keep their bits. */
export function mergeDirty(into: DirtyView, from: DirtyView): void {
  for (const span of dirtySpans(from)) markDirty(into, span.iova, span.size);
}

/**
 * The same dirt in pages of another size over [iova, iova + size). A target
 * page is clean only if every byte of it is covered by `from` and clean there:
 * partly covered or uncovered pages come out dirty.
 */
export function resampleDirty(from: DirtyView, iova: bigint, size: bigint, pageSize: bigint): DirtyView {
  const out = emptyDirty(iova, size, pageSize);
  const outEnd = iova + BigInt(out.pages) * pageSize;
  const fromEnd = from.iova + BigInt(from.pages) * from.pageSize;
  if (iova < from.iova) markDirty(out, iova, (from.iova < outEnd ? from.iova : outEnd) - iova);
  if (outEnd > fromEnd) {
    const s = fromEnd > iova ? fromEnd : iova;
    markDirty(out, s, outEnd - s);
  }
  mergeDirty(out, from);
  return out;
}

function checkPageSize(pageSize: bigint): void {
  if (typeof pageSize !== 'bigint' || pageSize <= 0n || (pageSize & (pageSize - 1n)) !== 0n) {
    throw new RangeError('dirty page size must be a power of two');
  }
}
