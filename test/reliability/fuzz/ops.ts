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
  | { op: 'reattach' }
  // iommufd (IOMMU_IOAS_*) on one of the sequence's two IOASes (0 or 1).
  /** IOMMU_IOAS_MAP: at `iova` (FIXED_IOVA), or where the kernel chooses when iova is null. */
  | { op: 'fdMap'; ioas: number; va: Va; iova: bigint | null; size: bigint; prot: number }
  /** IOMMU_IOAS_UNMAP of [iova, iova + size): iova 0 + size U64_MAX is unmap-all. */
  | { op: 'fdUnmap'; ioas: number; iova: bigint; size: bigint }
  /** IOMMU_IOAS_COPY from IOAS `src` to IOAS `dst` (dstIova null: the kernel chooses). */
  | { op: 'fdCopy'; src: number; dst: number; srcIova: bigint; size: bigint; dstIova: bigint | null; prot: number }
  /** IOMMU_IOAS_ALLOW_IOVAS ([] lifts it). */
  | { op: 'fdAllow'; ioas: number; ranges: Array<{ start: bigint; last: bigint }> }
  /** IOMMU_IOAS_IOVA_RANGES: the alignment and the usable ranges. */
  | { op: 'fdRanges'; ioas: number }
  /** VFIO_DEVICE_ATTACH_IOMMUFD_PT of the sequence's device (a second attach replaces the first). */
  | { op: 'fdAttach'; ioas: number }
  /** VFIO_DEVICE_DETACH_IOMMUFD_PT. */
  | { op: 'fdDetach' }
  /** A plan run on an IOAS (runPlan: IOAS_MAP / IOAS_UNMAP per entry). */
  | { op: 'fdPlan'; ioas: number; kind: 'map' | 'unmap'; items: PlanItem[] };

/** A type1 sequence: its container's type and dma_entry_limit, then the operations. */
export interface Type1Sequence {
  type: 'type1' | 'type1v2';
  /** dma_entry_limit for its container (small ones reach ENOSPC). */
  entryLimit: number;
  ops: Op[];
}

/**
 * An iommufd sequence: one /dev/iommu, two fresh IOASes, and (device) the
 * test device's cdev attached to IOAS 0 at the start, so that maps pin.
 */
export interface FdSequence {
  type: 'iommufd';
  device: boolean;
  ops: Op[];
}

/** What one sequence runs on, then the operations. */
export type Sequence = Type1Sequence | FdSequence;

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

  sequence(maxOps = 40): Type1Sequence {
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

// iommufd sequences. IOVAs come from an arena at 0 (FD_BASE): the kernel's own
// choices (first fit from PAGE_SIZE) land in it too, among the fixed ones, so
// unmaps and copies meet both.
export const FD_BASE = 0n;
const U64_MAX = U64 - 1n;
/** Inside a 39-bit VT-d aperture's far side: outside it (reserved) once a device is attached. */
const HIGH_IOVA = 1n << 40n;

/** Generates iommufd sequences; remembers fixed mappings (per IOAS) so that unmaps and copies often hit them. */
export class FdGenerator {
  readonly #rng: Rng;
  #recent: Array<{ ioas: number; iova: bigint; size: bigint }> = [];

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  sequence(maxOps: number, device: boolean): FdSequence {
    const r = this.#rng;
    this.#recent = [];
    const n = r.between(1, maxOps);
    const ops: Op[] = [];
    for (let i = 0; i < n; i++) ops.push(this.op(device));
    return { type: 'iommufd', device, ops };
  }

  op(device: boolean): Op {
    const r = this.#rng;
    const kind = r.weighted([
      [24, 'map'], [12, 'mapAuto'], [16, 'unmap'], [3, 'unmapAll'], [10, 'copy'], [6, 'allow'], [4, 'ranges'],
      [6, 'plan'], [device ? 2 : 0, 'attach'], [device ? 1 : 0, 'detach'],
    ] as const);
    const ioas = r.chance(0.75) ? 0 : 1;
    switch (kind) {
      case 'map': {
        const it = this.item();
        this.#remember(ioas, it.iova, it.size);
        return { op: 'fdMap', ioas, ...it };
      }
      case 'mapAuto':
        return { op: 'fdMap', ioas, ...this.item(), iova: null };
      case 'unmap':
        return { op: 'fdUnmap', ioas, ...this.range(ioas) };
      case 'unmapAll':
        return { op: 'fdUnmap', ioas, iova: 0n, size: U64_MAX };
      case 'copy':
        return this.copy();
      case 'allow':
        return { op: 'fdAllow', ioas, ranges: this.allowed() };
      case 'ranges':
        return { op: 'fdRanges', ioas };
      case 'plan': {
        const planKind = r.chance(0.6) ? 'map' : 'unmap';
        const items: PlanItem[] = [];
        for (let i = r.between(0, 4); i > 0; i--) {
          if (planKind === 'map') {
            const it = this.item();
            this.#remember(ioas, it.iova, it.size);
            items.push(it);
          } else {
            items.push({ va: { kind: 'buf', page: 0 }, ...this.range(ioas), prot: 0 });
          }
        }
        return { op: 'fdPlan', ioas, kind: planKind, items };
      }
      case 'attach':
        return { op: 'fdAttach', ioas };
      case 'detach':
        return { op: 'fdDetach' };
    }
  }

  /** A mapping request in the arena: mostly good, sometimes bad in one way. */
  item(): PlanItem {
    const r = this.#rng;
    const pages = r.between(1, MAX_PAGES);
    let size = BigInt(pages) * PAGE;
    let iova = FD_BASE + BigInt(r.below(SLOTS)) * PAGE;
    let va: Va = { kind: 'buf', page: r.between(0, BUFFER_PAGES - pages) };
    let prot = r.pick([PROT_RW, PROT_RW, PROT_READ, PROT_WRITE]);
    const fault = r.weighted([
      [78, 'none'], [2, 'va-odd'], [2, 'va-unmapped'], [1, 'va-wrap'], [2, 'iova-odd'], [2, 'size-odd'], [1, 'size-0'],
      [1, 'size-max'], [2, 'iova-wrap'], [1, 'iova-max'], [2, 'iova-msi'], [2, 'iova-high'], [2, 'prot-0'],
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
      case 'size-max':
        size = U64_MAX;
        break;
      case 'iova-wrap':
        iova = U64 - PAGE;
        if (size < 2n * PAGE) size = 2n * PAGE;
        break;
      case 'iova-max':
        iova = U64_MAX;
        break;
      case 'iova-msi':
        iova = MSI_IOVA;
        break;
      case 'iova-high':
        iova = HIGH_IOVA;
        break;
      case 'prot-0':
        prot = 0;
        break;
      case 'none':
        break;
    }
    return { va, iova, size, prot };
  }

  /** An unmap or copy-source range: a remembered mapping, part of one, a span of several, or arbitrary; or bad. */
  range(ioas: number): { iova: bigint; size: bigint } {
    const r = this.#rng;
    const mine = this.#recent.filter((m) => m.ioas === ioas);
    const known = mine.length > 0 ? r.pick(mine) : null;
    const shape = r.weighted([
      [known ? 30 : 0, 'exact'], [known ? 8 : 0, 'inside'], [known ? 8 : 0, 'head'], [10, 'span'], [10, 'random'],
      [2, 'odd'], [2, 'zero'], [1, 'wrap'], [1, 'to-2^64'], [1, 'max-length'], [1, 'max-iova'],
    ] as const);
    switch (shape) {
      case 'exact':
        return { iova: known!.iova, size: known!.size };
      case 'inside': {
        const off = BigInt(r.below(Number(known!.size / PAGE))) * PAGE;
        return { iova: known!.iova + off, size: PAGE * BigInt(r.between(1, 4)) };
      }
      case 'head':
        return { iova: known!.iova, size: PAGE * BigInt(r.between(1, MAX_PAGES)) };
      case 'span':
        return { iova: FD_BASE, size: BigInt(SLOTS + 2 * MAX_PAGES) * PAGE };
      case 'random':
        return { iova: FD_BASE + BigInt(r.below(SLOTS)) * PAGE, size: PAGE * BigInt(r.between(1, 16)) };
      case 'odd':
        return { iova: FD_BASE + 0x800n, size: PAGE };
      case 'zero':
        return { iova: FD_BASE + PAGE, size: 0n };
      case 'wrap':
        return { iova: U64 - PAGE, size: 2n * PAGE };
      case 'to-2^64':
        return { iova: U64 - PAGE, size: PAGE };
      case 'max-length':
        return { iova: PAGE, size: U64_MAX };
      case 'max-iova':
        return { iova: U64_MAX, size: PAGE };
    }
  }

  copy(): Op {
    const r = this.#rng;
    const src = r.chance(0.7) ? 0 : 1;
    const dst = r.chance(0.7) ? 1 - src : src;
    let { iova: srcIova, size } = this.range(src);
    let dstIova: bigint | null = r.chance(0.5) ? null : FD_BASE + BigInt(r.below(SLOTS)) * PAGE;
    let prot = r.pick([PROT_RW, PROT_RW, PROT_READ, PROT_WRITE]);
    const fault = r.weighted([[90, 'none'], [2, 'dst-odd'], [2, 'dst-max'], [2, 'prot-0'], [2, 'dst-msi'], [1, 'src-max']] as const);
    switch (fault) {
      case 'dst-odd':
        dstIova = FD_BASE + 0x800n;
        break;
      case 'dst-max':
        dstIova = U64_MAX;
        break;
      case 'prot-0':
        prot = 0;
        break;
      case 'dst-msi':
        dstIova = MSI_IOVA;
        break;
      case 'src-max':
        srcIova = U64_MAX;
        size = PAGE;
        break;
      case 'none':
        break;
    }
    if (dstIova !== null) this.#remember(dst, dstIova, size);
    return { op: 'fdCopy', src, dst, srcIova, size, dstIova, prot };
  }

  /** ALLOW_IOVAS ranges: in the arena (one, two adjacent, two apart), none, or bad ones. */
  allowed(): Array<{ start: bigint; last: bigint }> {
    const r = this.#rng;
    const at = (slot: number) => FD_BASE + BigInt(slot) * PAGE;
    const a = r.below(SLOTS);
    const b = a + r.between(1, 24);
    const shape = r.weighted([
      [3, 'none'], [6, 'one'], [3, 'adjacent'], [2, 'apart'], [1, 'overlap'], [1, 'empty'], [1, 'odd'], [1, 'msi'],
      [1, 'high'], [1, 'from-0'],
    ] as const);
    switch (shape) {
      case 'none':
        return [];
      case 'one':
        return [{ start: at(a), last: at(b) - 1n }];
      case 'adjacent': {
        // Two ranges that touch: the kernel's span iterator joins them (interval_tree_span_iter_next_gap).
        const m = a + r.between(1, b - a);
        return [{ start: at(m), last: at(b + 1) - 1n }, { start: at(a), last: at(m) - 1n }];
      }
      case 'apart':
        return [{ start: at(a), last: at(a + 1) - 1n }, { start: at(b + 2), last: at(b + 10) - 1n }];
      case 'overlap':
        return [{ start: at(a), last: at(b) - 1n }, { start: at(b - 1), last: at(b + 4) - 1n }];
      case 'empty':
        return [{ start: at(a), last: at(a) }];
      case 'odd':
        return [{ start: at(a) + 0x800n, last: at(b) + 0x7ffn }];
      case 'msi':
        return [{ start: MSI_IOVA, last: MSI_IOVA + 0xf_ffffn }];
      case 'high':
        return [{ start: HIGH_IOVA, last: HIGH_IOVA + 0xf_ffffn }];
      case 'from-0':
        return [{ start: 0n, last: at(b) - 1n }];
    }
  }

  #remember(ioas: number, iova: bigint, size: bigint): void {
    if (this.#recent.length >= 8) this.#recent.shift();
    this.#recent.push({ ioas, iova, size });
  }
}

/**
 * Generates `count` iommufd sequences from one seed; `device` says whether
 * they attach the test device (always, never, or half of them).
 */
export function generateFdSequences(rng: Rng, count: number, device: boolean | 'mixed', maxOps = 40): FdSequence[] {
  const g = new FdGenerator(rng);
  const out: FdSequence[] = [];
  for (let i = 0; i < count; i++) out.push(g.sequence(maxOps, device === 'mixed' ? i % 4 !== 3 : device));
  return out;
}
