// The IOVA ranges known to be mapped. The planner cannot ask the kernel what
// is mapped (DmaSpace has no query for it), so batches record what they map
// here and the planner splits or refuses runs that would touch it.
//
// It tracks coverage only: touching intervals are merged, so it answers "is
// this IOVA mapped?", not "which MAP_DMA call mapped it?" (the plans do that).
import { PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE } from '../backend.js';

export interface IovaSpan {
  iova: bigint;
  size: bigint;
}

export class MappedSet {
  // Sorted, disjoint, non-touching half-open intervals [starts[i], ends[i]).
  private starts: bigint[] = [];
  private ends: bigint[] = [];

  get count(): number {
    return this.starts.length;
  }

  get bytes(): bigint {
    let total = 0n;
    for (let i = 0; i < this.starts.length; i++) total += (this.ends[i] as bigint) - (this.starts[i] as bigint);
    return total;
  }

  /** Index of the first interval that ends after `iova` (count if none). */
  indexAfter(iova: bigint, hint = 0): number {
    const { starts, ends } = this;
    // Planning walks IOVAs mostly upwards: try where the last lookup ended first.
    if (hint > 0 && hint <= starts.length && (ends[hint - 1] as bigint) <= iova
      && (hint === starts.length || (ends[hint] as bigint) > iova)) {
      return hint;
    }
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ends[mid] as bigint) <= iova) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  startAt(index: number): bigint {
    return this.starts[index] as bigint;
  }

  endAt(index: number): bigint {
    return this.ends[index] as bigint;
  }

  overlaps(iova: bigint, size: bigint): boolean {
    const i = this.indexAfter(iova);
    return i < this.starts.length && (this.starts[i] as bigint) < iova + size;
  }

  /** True if every byte of the span is mapped. */
  covers(iova: bigint, size: bigint): boolean {
    const i = this.indexAfter(iova);
    return i < this.starts.length && (this.starts[i] as bigint) <= iova && (this.ends[i] as bigint) >= iova + size;
  }

  add(iova: bigint, size: bigint): void {
    this.merge([iova], [iova + size]);
  }

  delete(iova: bigint, size: bigint): void {
    this.subtract([iova], [iova + size]);
  }

  /** Records every entry of a plan (map or unmap form) as mapped. */
  addPlan(entries: BigUint64Array, count = entries.length / PLAN_STRIDE): void {
    const [s, e] = sortedSpans(entries, count);
    this.merge(s, e);
  }

  deletePlan(entries: BigUint64Array, count = entries.length / PLAN_STRIDE): void {
    const [s, e] = sortedSpans(entries, count);
    this.subtract(s, e);
  }

  clear(): void {
    this.starts = [];
    this.ends = [];
  }

  spans(): IovaSpan[] {
    return this.starts.map((start, i) => ({ iova: start, size: (this.ends[i] as bigint) - start }));
  }

  // Linear merge of two sorted interval lists: a batch of n entries costs
  // O(n + count), not n binary-searched splices.
  private merge(addS: bigint[], addE: bigint[]): void {
    const outS: bigint[] = [];
    const outE: bigint[] = [];
    let i = 0;
    let j = 0;
    const push = (s: bigint, e: bigint): void => {
      const last = outE.length - 1;
      if (last >= 0 && (outE[last] as bigint) >= s) {
        if ((outE[last] as bigint) < e) outE[last] = e;
      } else {
        outS.push(s);
        outE.push(e);
      }
    };
    while (i < this.starts.length || j < addS.length) {
      if (j >= addS.length || (i < this.starts.length && (this.starts[i] as bigint) <= (addS[j] as bigint))) {
        push(this.starts[i] as bigint, this.ends[i] as bigint);
        i++;
      } else {
        push(addS[j] as bigint, addE[j] as bigint);
        j++;
      }
    }
    this.starts = outS;
    this.ends = outE;
  }

  private subtract(subS: bigint[], subE: bigint[]): void {
    const outS: bigint[] = [];
    const outE: bigint[] = [];
    let j = 0;
    for (let i = 0; i < this.starts.length; i++) {
      let s = this.starts[i] as bigint;
      const e = this.ends[i] as bigint;
      while (j < subS.length && (subE[j] as bigint) <= s) j++;
      let k = j;
      while (s < e && k < subS.length && (subS[k] as bigint) < e) {
        if ((subS[k] as bigint) > s) {
          outS.push(s);
          outE.push(subS[k] as bigint);
        }
        if ((subE[k] as bigint) > s) s = subE[k] as bigint;
        k++;
      }
      if (s < e) {
        outS.push(s);
        outE.push(e);
      }
    }
    this.starts = outS;
    this.ends = outE;
  }
}

function sortedSpans(entries: BigUint64Array, count: number): [bigint[], bigint[]] {
  if (!Number.isInteger(count) || count < 0 || count * PLAN_STRIDE > entries.length) {
    throw new RangeError(`plan count ${count} does not fit a ${entries.length}-word plan`);
  }
  const order = Array.from({ length: count }, (_, k) => k);
  let sorted = true;
  for (let k = 1; k < count && sorted; k++) {
    sorted = (entries[(k - 1) * PLAN_STRIDE + PLAN_IOVA] as bigint) <= (entries[k * PLAN_STRIDE + PLAN_IOVA] as bigint);
  }
  if (!sorted) {
    order.sort((a, b) => {
      const x = entries[a * PLAN_STRIDE + PLAN_IOVA] as bigint;
      const y = entries[b * PLAN_STRIDE + PLAN_IOVA] as bigint;
      return x < y ? -1 : x > y ? 1 : 0;
    });
  }
  const s: bigint[] = new Array(count);
  const e: bigint[] = new Array(count);
  for (let k = 0; k < count; k++) {
    const o = (order[k] as number) * PLAN_STRIDE;
    const iova = entries[o + PLAN_IOVA] as bigint;
    s[k] = iova;
    e[k] = iova + (entries[o + PLAN_SIZE] as bigint);
  }
  return [s, e];
}
