// Unmap plans, batched the same way as map plans. A TYPE1v2 unmap must cover
// whole mappings, never bisect one, so an unmap entry can only be the union of
// IOVA-adjacent mapped entries, never a piece of one.
import { PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, PLAN_VADDR } from '../backend.js';
import type { Plan, Strategy } from './build.js';
import { HI, LO, PageUnits, u32View } from './words.js';
import { NotContiguousError } from './not-contiguous.js';

/**
 * The unmap plan for what `mapped` mapped:
 *   per-page   one UNMAP_DMA per mapped entry (per page if it was mapped per page)
 *   coalesced  entries that follow each other in the plan and in IOVA merged into one call
 *   kernel     one call for the whole region (RangeError unless it is contiguous)
 * Defaults to the strategy the map plan used.
 */
export function buildUnmapPlan(mapped: Plan, strategy: Strategy = mapped.strategy): Plan {
  if (strategy === 'per-page') {
    return { ...mapped, strategy, entries: mapped.entries.slice(0, mapped.count * PLAN_STRIDE), skipped: 0n };
  }
  const units = new PageUnits(mapped.pageSize);
  const src = u32View(mapped.entries);
  const words = new BigUint64Array(Math.max(1, mapped.count) * PLAN_STRIDE);
  const dst = u32View(words);
  const first = new Uint32Array(mapped.count);
  const last = new Uint32Array(mapped.count);
  let count = 0;
  let runIova = 0;
  let runEnd = -1;
  for (let k = 0; k < mapped.count; k++) {
    const b = 2 * k * PLAN_STRIDE;
    const iova = units.fromHalves(src[b + 2 * PLAN_IOVA + HI] as number, src[b + 2 * PLAN_IOVA + LO] as number);
    const size = units.fromHalves(src[b + 2 * PLAN_SIZE + HI] as number, src[b + 2 * PLAN_SIZE + LO] as number);
    if (iova === runEnd) {
      runEnd += size;
      last[count - 1] = mapped.lastRequest[k] as number;
      continue;
    }
    if (count > 0) units.store(dst, (count - 1) * PLAN_STRIDE + PLAN_SIZE, runEnd - runIova);
    runIova = iova;
    runEnd = iova + size;
    const w = count * PLAN_STRIDE;
    // vaddr kept for whoever reads the plan; the kernel ignores it on unmap.
    dst[2 * (w + PLAN_VADDR) + LO] = src[b + 2 * PLAN_VADDR + LO] as number;
    dst[2 * (w + PLAN_VADDR) + HI] = src[b + 2 * PLAN_VADDR + HI] as number;
    units.store(dst, w + PLAN_IOVA, iova);
    first[count] = mapped.firstRequest[k] as number;
    last[count] = mapped.lastRequest[k] as number;
    count++;
  }
  if (count > 0) units.store(dst, (count - 1) * PLAN_STRIDE + PLAN_SIZE, runEnd - runIova);
  if (strategy === 'kernel' && count > 1) {
    throw new NotContiguousError(`'kernel' unmaps one contiguous region in one call, but the mapping has ${count} separate IOVA runs; `
      + "one call spanning them would also unmap whatever lies in the gaps. Use 'coalesced'");
  }
  return {
    strategy,
    entries: words.slice(0, count * PLAN_STRIDE),
    count,
    bytes: mapped.bytes,
    pages: mapped.pages,
    pageSize: mapped.pageSize,
    firstRequest: first.slice(0, count),
    lastRequest: last.slice(0, count),
    requests: mapped.requests,
    skipped: 0n,
  };
}
