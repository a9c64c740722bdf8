// Seeded random request mixes for the planner's property tests: contiguous
// runs (as one request or page by page), strided pages, scattered pages, runs
// whose vaddr or prot breaks midway, and runs straddling IOVA-range edges.
// No dependency: a 32-bit xorshift generator, seeded per test.
import { PLAN_FLAGS, PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, PLAN_VADDR, PROT_READ, PROT_RW, PROT_WRITE, SZ_4K } from '../../lib/backend.js';
import type { MapRequest, Plan } from '../../lib/plan/index.js';

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

export function int(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** Page bases near interesting places: low memory, the MSI hole's edges, the touching-ranges edge. */
const AREAS = [0x10_0000n, 0xfed0_0000n, 0xfef0_0000n, 0x10_0000_0000n - 0x40_0000n, 0x20_0000_0000n];

export function randomRequests(seed: number, maxPieces = 40): MapRequest[] {
  const r = rng(seed);
  const used = new Set<bigint>();
  const out: MapRequest[] = [];
  let vaddr = 0x7f00_0000_0000n + BigInt(int(r, 0, 1000)) * SZ_4K;
  const free = (iova: bigint, pages: number): boolean => {
    for (let k = 0n; k < BigInt(pages); k++) if (used.has(iova + k * SZ_4K)) return false;
    return true;
  };
  const take = (iova: bigint, pages: number): void => {
    for (let k = 0n; k < BigInt(pages); k++) used.add(iova + k * SZ_4K);
  };
  const usable = (iova: bigint, pages: number): boolean => {
    const end = iova + BigInt(pages) * SZ_4K;
    // stay out of the hole 0xfee00000..0xfeefffff
    return !(iova < 0xfef0_0000n && end > 0xfee0_0000n);
  };
  const pieces = int(r, 1, maxPieces);
  for (let p = 0; p < pieces; p++) {
    const kind = int(r, 0, 5);
    const pages = int(r, 1, 24);
    const area = AREAS[int(r, 0, AREAS.length - 1)] as bigint;
    const base = area + BigInt(int(r, 0, 2048)) * SZ_4K;
    const prot = [PROT_RW, PROT_RW, PROT_READ, PROT_WRITE][int(r, 0, 3)] as number;
    const stride = kind === 2 ? 2 : 1;
    if (!usable(base, pages * stride) || !free(base, pages * stride)) continue;
    if (kind === 0) {
      // contiguous, one request
      out.push({ vaddr, iova: base, size: BigInt(pages) * SZ_4K, prot });
      take(base, pages);
      vaddr += BigInt(pages) * SZ_4K;
    } else if (kind === 1 || kind === 2) {
      // page by page, contiguous (1) or every other IOVA page (2)
      for (let k = 0; k < pages; k++) {
        const iova = base + BigInt(k * stride) * SZ_4K;
        out.push({ vaddr, iova, size: SZ_4K, prot });
        take(iova, 1);
        vaddr += SZ_4K;
      }
    } else if (kind === 3) {
      // contiguous IOVA, vaddr jumps once midway
      const cut = int(r, 0, pages - 1);
      for (let k = 0; k < pages; k++) {
        if (k === cut) vaddr += 0x10_0000n;
        out.push({ vaddr, iova: base + BigInt(k) * SZ_4K, size: SZ_4K, prot });
        vaddr += SZ_4K;
      }
      take(base, pages);
    } else if (kind === 4) {
      // contiguous, prot changes midway
      const cut = int(r, 0, pages - 1);
      for (let k = 0; k < pages; k++) {
        out.push({ vaddr, iova: base + BigInt(k) * SZ_4K, size: SZ_4K, prot: k < cut ? prot : PROT_READ });
        vaddr += SZ_4K;
      }
      take(base, pages);
    } else {
      // scattered single pages
      for (let k = 0; k < pages; k++) {
        const iova = (AREAS[int(r, 0, AREAS.length - 1)] as bigint) + BigInt(int(r, 0, 4096)) * SZ_4K;
        if (!usable(iova, 1) || used.has(iova)) continue;
        out.push({ vaddr, iova, size: SZ_4K, prot });
        take(iova, 1);
        vaddr += SZ_4K;
      }
    }
  }
  // Half the time in IOVA order (the fast path), else as generated.
  if (r() < 0.5) out.sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
  return out;
}

export interface PageInfo {
  vaddr: bigint;
  prot: number;
}

/** IOVA page -> what should be mapped there, from requests. */
export function requestedPages(requests: readonly MapRequest[]): Map<bigint, PageInfo> {
  const out = new Map<bigint, PageInfo>();
  for (const q of requests) {
    for (let off = 0n; off < q.size; off += SZ_4K) out.set(q.iova + off, { vaddr: q.vaddr + off, prot: q.prot ?? PROT_RW });
  }
  return out;
}

export interface Entry {
  vaddr: bigint;
  iova: bigint;
  size: bigint;
  prot: number;
}

export function entriesOf(plan: Plan): Entry[] {
  const out: Entry[] = [];
  for (let k = 0; k < plan.count; k++) {
    const o = k * PLAN_STRIDE;
    out.push({
      vaddr: plan.entries[o + PLAN_VADDR] as bigint,
      iova: plan.entries[o + PLAN_IOVA] as bigint,
      size: plan.entries[o + PLAN_SIZE] as bigint,
      prot: Number(plan.entries[o + PLAN_FLAGS]),
    });
  }
  return out;
}

/** IOVA page -> what the plan maps there; throws if two entries map one page. */
export function plannedPages(plan: Plan): Map<bigint, PageInfo> {
  const out = new Map<bigint, PageInfo>();
  for (const e of entriesOf(plan)) {
    for (let off = 0n; off < e.size; off += SZ_4K) {
      if (out.has(e.iova + off)) throw new Error(`page 0x${(e.iova + off).toString(16)} planned twice`);
      out.set(e.iova + off, { vaddr: e.vaddr + off, prot: e.prot });
    }
  }
  return out;
}

export function toWords(requests: readonly MapRequest[]): BigUint64Array {
  const w = new BigUint64Array(requests.length * 4);
  requests.forEach((q, k) => {
    w[4 * k] = q.vaddr;
    w[4 * k + 1] = q.iova;
    w[4 * k + 2] = q.size;
    w[4 * k + 3] = BigInt(q.prot ?? PROT_RW);
  });
  return w;
}
