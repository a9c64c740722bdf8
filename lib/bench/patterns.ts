// The memory layouts a benchmark cell maps. Each turns a buffer (vaddr) and an
// IOVA base into the list of requests a caller would hand the planner: what is
// measured is how each strategy copes with that list, so the lists mimic real
// callers rather than the planner's best case.
import type { DmaMapping } from '../backend.js';
import type { PatternName } from './schema.js';

export const PAGE = 4096n;

export interface PatternInput {
  vaddr: bigint;
  iova: bigint;
  /** Bytes of buffer the pattern may use. */
  size: bigint;
  /** Deterministic randomness, so two runs map the same scatter. */
  random: () => number;
}

export type Pattern = (input: PatternInput) => DmaMapping[];

function pages(vaddr: bigint, iova: bigint, from: bigint, to: bigint, step = 1n): DmaMapping[] {
  const out: DmaMapping[] = [];
  for (let off = from; off < to; off += PAGE * step) out.push({ vaddr: vaddr + off, iova: iova + off, size: PAGE });
  return out;
}

/** A run of pages handed over one by one: the pin_pages caller in the kernel thread. */
const contiguous: Pattern = ({ vaddr, iova, size }) => pages(vaddr, iova, 0n, size);

/**
 * A pre-pinned pool: the buffer carved into 2 MiB segments (a mempool's
 * chunks) mapped once at start-up. Segments are adjacent, so they coalesce.
 */
const pool: Pattern = ({ vaddr, iova, size }) => {
  const seg = 0x20_0000n;
  const out: DmaMapping[] = [];
  for (let off = 0n; off < size; off += seg) {
    const len = size - off < seg ? size - off : seg;
    out.push({ vaddr: vaddr + off, iova: iova + off, size: len });
  }
  return out;
};

/** Every other page: I/O buffers with gaps; nothing to coalesce, so it shows the planner's overhead. */
const strided: Pattern = ({ vaddr, iova, size }) => pages(vaddr, iova, 0n, size, 2n);

/** Half the pages, chosen at random and handed over in random order. */
const scatter: Pattern = ({ vaddr, iova, size, random }) => {
  const all = pages(vaddr, iova, 0n, size);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, Math.max(1, all.length >> 1));
};

/**
 * A guest's RAM as a VMM maps it, scaled to `size`: low RAM up to 640 KiB, the
 * legacy VGA/BIOS hole to 1 MiB, RAM up to 3/4, a PCI hole to 7/8, then RAM.
 * IOVA = guest-physical address; requests arrive page by page, as a memory
 * listener that tracks dirty pages would send them.
 */
const vmMap: Pattern = ({ vaddr, iova, size }) => {
  const mib = 0x10_0000n;
  if (size < 4n * mib) return pages(vaddr, iova, 0n, size);
  const align = (v: bigint) => v - (v % mib);
  return [
    ...pages(vaddr, iova, 0n, 0xa_0000n),
    ...pages(vaddr, iova, mib, align((size * 3n) / 4n)),
    ...pages(vaddr, iova, align((size * 7n) / 8n), size),
  ];
};

export const PATTERNS: Record<PatternName, Pattern> = { contiguous, pool, strided, scatter, 'vm-map': vmMap };

/** mulberry32: tiny, seedable, good enough to shuffle page lists. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function bytesCovered(requests: readonly DmaMapping[]): bigint {
  let total = 0n;
  for (const r of requests) total += r.size;
  return total;
}
