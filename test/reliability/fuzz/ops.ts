// The operations the differential fuzzer issues, in a form that means the same
// on every backend: IOVAs and sizes are plain numbers, but a virtual address
// names a page of the sequence's buffer (each backend has its own buffer at its
// own address) or one of a few addresses that are bad everywhere.
import { PROT_READ, PROT_RW, PROT_WRITE } from '../../../lib/backend.js';
import type { Rng } from './rng.js';

export type Va =
  /** Page `page` of the fuzz buffer. */
  | { kind: 'buf'; page: number }
  /** Half a page into page `page`: misaligned. */
  | { kind: 'bufOdd'; page: number }
  /** 0x1000: below mmap_min_addr, so never mapped in any process: nothing to pin. */
  | { kind: 'unmapped' }
  /** 2^64 - 4 KiB: vaddr + size wraps. */
  | { kind: 'wrap' };

export interface PlanItem {
  va: Va;
  iova: bigint;
  size: bigint;
  prot: number;
}

/** Calls with arguments of the wrong type or out of the u64 range: TypeError / RangeError before any ioctl. */
export type Misuse =
  | 'map-null' | 'map-number-iova' | 'map-negative-size' | 'map-2^64-iova' | 'map-prot-4' | 'map-prot-float'
  | 'unmap-string-size' | 'unmap-number-iova' | 'dirty-zero-pgsize' | 'dirty-negative-iova'
  | 'plan-uint32' | 'plan-ragged' | 'plan-bad-op' | 'plan-flags-8';

export type Op =
  | { op: 'map'; va: Va; iova: bigint; size: bigint; prot: number }
  | { op: 'unmap'; iova: bigint; size: bigint }
  | { op: 'unmapAll' }
  | { op: 'unmapWithDirty'; iova: bigint; size: bigint; pgsize: bigint }
  | { op: 'dirtyStart' }
  | { op: 'dirtyStop' }
  | { op: 'dirtyGet'; iova: bigint; size: bigint; pgsize: bigint }
  | { op: 'runPlan'; kind: 'map' | 'unmap'; items: PlanItem[] }
  | { op: 'misuse'; what: Misuse }
  /** The group leaves the container (UNSET_CONTAINER): the last group takes the IOMMU and every mapping with it. */
  | { op: 'detach' }
  /** The group joins again and the container gets its IOMMU type again (a fresh type1 instance). */
  | { op: 'reattach' };

/** What one sequence runs on: its container's type and dma_entry_limit, then the operations. */
export interface Sequence {
  type: 'type1' | 'type1v2';
  /** dma_entry_limit for its container (small ones reach ENOSPC). */
  entryLimit: number;
  ops: Op[];
}

export const PAGE = 0x1000n;
/** Pages in the fuzz buffer (4 KiB backing). */
export const BUFFER_PAGES = 64;
/** IOVAs are drawn from SLOTS pages starting here, so that mappings collide often. */
export const IOVA_BASE = 0x10_0000n;
export const SLOTS = 48;
export const MAX_PAGES = 8;
export const DEFAULT_ENTRY_LIMIT = 65535;
export const SMALL_ENTRY_LIMIT = 5;

const U64 = 1n << 64n;
/** Inside the IOVA space of any IOMMU but the x86 MSI window every VT-d / AMD-Vi reserves. */
const MSI_IOVA = 0xfee0_0000n;
/** Beyond the widest IOVA space an x86 IOMMU offers (57 bits). */
const FAR_IOVA = 1n << 62n;

const MISUSES: readonly Misuse[] = [
  'map-null', 'map-number-iova', 'map-negative-size', 'map-2^64-iova', 'map-prot-4', 'map-prot-float',
  'unmap-string-size', 'unmap-number-iova', 'dirty-zero-pgsize', 'dirty-negative-iova',
  'plan-uint32', 'plan-ragged', 'plan-bad-op', 'plan-flags-8',
];

/** Generates sequences; remembers what it asked to map so that unmaps often hit (or bisect) mappings. */
export class Generator {
  readonly #rng: Rng;
  #recent: Array<{ iova: bigint; size: bigint }> = [];

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  sequence(maxOps = 40): Sequence {
    const r = this.#rng;
    this.#recent = [];
    const n = r.between(1, maxOps);
    const ops: Op[] = [];
    for (let i = 0; i < n; i++) ops.push(this.op());
    return {
      type: r.chance(0.75) ? 'type1v2' : 'type1',
      entryLimit: r.chance(0.25) ? SMALL_ENTRY_LIMIT : DEFAULT_ENTRY_LIMIT,
      ops,
    };
  }

  op(): Op {
    const r = this.#rng;
    const kind = r.weighted([
      [30, 'map'], [16, 'unmap'], [3, 'unmapAll'], [5, 'unmapWithDirty'], [4, 'dirtyStart'], [2, 'dirtyStop'],
      [7, 'dirtyGet'], [10, 'runPlan'], [4, 'misuse'], [1, 'detach'], [2, 'reattach'],
    ] as const);
    switch (kind) {
      case 'map': {
        const it = this.item();
        this.#remember(it.iova, it.size);
        return { op: 'map', ...it };
      }
      case 'unmap':
        return { op: 'unmap', ...this.range() };
      case 'unmapAll':
        return { op: 'unmapAll' };
      case 'unmapWithDirty':
        return { op: 'unmapWithDirty', ...this.range(), pgsize: this.pgsize() };
      case 'dirtyStart':
        return { op: 'dirtyStart' };
      case 'dirtyStop':
        return { op: 'dirtyStop' };
      case 'dirtyGet':
        return { op: 'dirtyGet', ...this.range(), pgsize: this.pgsize() };
      case 'runPlan': {
        const planKind = r.chance(0.6) ? 'map' : 'unmap';
        const items: PlanItem[] = [];
        for (let i = r.between(0, 4); i > 0; i--) {
          if (planKind === 'map') {
            const it = this.item();
            this.#remember(it.iova, it.size);
            items.push(it);
          } else {
            items.push({ va: { kind: 'buf', page: 0 }, ...this.range(), prot: 0 });
          }
        }
        return { op: 'runPlan', kind: planKind, items };
      }
      case 'misuse':
        return { op: 'misuse', what: r.pick(MISUSES) };
      case 'detach':
        return { op: 'detach' };
      case 'reattach':
        return { op: 'reattach' };
    }
  }

  /** A mapping request: mostly good, sometimes bad in one way. */
  item(): PlanItem {
    const r = this.#rng;
    const pages = r.between(1, MAX_PAGES);
    let size = BigInt(pages) * PAGE;
    let iova = IOVA_BASE + BigInt(r.below(SLOTS)) * PAGE;
    let va: Va = { kind: 'buf', page: r.between(0, BUFFER_PAGES - pages) };
    let prot = r.pick([PROT_RW, PROT_RW, PROT_READ, PROT_WRITE]);
    const fault = r.weighted([
      [80, 'none'], [2, 'va-odd'], [3, 'va-unmapped'], [1, 'va-wrap'], [2, 'iova-odd'], [2, 'size-odd'], [2, 'size-0'],
      [2, 'iova-wrap'], [2, 'iova-msi'], [2, 'iova-far'], [2, 'prot-0'],
    ] as const);
    switch (fault) {
      case 'va-odd':
        va = { kind: 'bufOdd', page: (va as { page: number }).page };
        break;
      case 'va-unmapped':
        va = { kind: 'unmapped' };
        break;
      case 'va-wrap':
        va = { kind: 'wrap' };
        break;
      case 'iova-odd':
        iova += 0x800n;
        break;
      case 'size-odd':
        size -= 0x800n;
        break;
      case 'size-0':
        size = 0n;
        break;
      case 'iova-wrap':
        // At least two pages, so the range really wraps (EINVAL). One page
        // would end exactly at 2^64, which a 64-bit aperture (AMD-Vi) accepts
        // and Linux 6.12 can then never take down: vfio_find_dma_first_node()
        // goes the wrong way at that node, so later unmaps of other mappings
        // miss too, depending on the tree's shape (README: "A kernel bug
        // AMD-Vi exposes"; test/unit/sim-top-page.test.ts).
        iova = U64 - PAGE;
        if (size < 2n * PAGE) size = 2n * PAGE;
        break;
      case 'iova-msi':
        iova = MSI_IOVA;
        break;
      case 'iova-far':
        iova = FAR_IOVA;
        break;
      case 'prot-0':
        prot = 0;
        break;
      case 'none':
        break;
    }
    return { va, iova, size, prot };
  }

  /** An unmap / dirty range: a remembered mapping, part of one, a span of several, or arbitrary. */
  range(): { iova: bigint; size: bigint } {
    const r = this.#rng;
    const known = this.#recent.length > 0 ? r.pick(this.#recent) : null;
    const shape = r.weighted([
      [known ? 30 : 0, 'exact'], [known ? 8 : 0, 'inside'], [known ? 8 : 0, 'head'], [10, 'span'], [8, 'random'],
      [2, 'odd'], [2, 'zero'], [2, 'wrap'], [1, 'to-2^64'],
    ] as const);
    switch (shape) {
      case 'exact':
        return { iova: known!.iova, size: known!.size };
      case 'inside': {
        // Starts inside a mapping (bisects it when it is bigger than a page).
        const off = BigInt(r.below(Number(known!.size / PAGE))) * PAGE;
        return { iova: known!.iova + off, size: PAGE * BigInt(r.between(1, 4)) };
      }
      case 'head':
        return { iova: known!.iova, size: PAGE * BigInt(r.between(1, MAX_PAGES)) };
      case 'span':
        return { iova: IOVA_BASE, size: BigInt(SLOTS + MAX_PAGES) * PAGE };
      case 'random':
        return { iova: IOVA_BASE + BigInt(r.below(SLOTS)) * PAGE, size: PAGE * BigInt(r.between(1, 16)) };
      case 'odd':
        return { iova: IOVA_BASE + 0x800n, size: PAGE };
      case 'zero':
        return { iova: IOVA_BASE, size: 0n };
      case 'wrap':
        return { iova: U64 - PAGE, size: 2n * PAGE };
      case 'to-2^64':
        return { iova: U64 - PAGE, size: PAGE };
    }
  }

  pgsize(): bigint {
    return this.#rng.weighted([[10, PAGE], [1, 2n * PAGE], [1, 0n], [1, 0x20_0000n]] as const);
  }

  #remember(iova: bigint, size: bigint): void {
    if (this.#recent.length >= 8) this.#recent.shift();
    this.#recent.push({ iova, size });
  }
}

/** Generates `count` sequences from one seed: the same seed always gives the same list. */
export function generateSequences(rng: Rng, count: number, maxOps = 40): Sequence[] {
  const g = new Generator(rng);
  const out: Sequence[] = [];
  for (let i = 0; i < count; i++) out.push(g.sequence(maxOps));
  return out;
}
