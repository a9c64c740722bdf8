// Summaries of repeated timings. Medians, not means, are what the tables and
// the regression gate compare: one preempted repetition moves a mean a lot and
// a median not at all.

export interface Summary {
  n: number;
  min: number;
  median: number;
  p99: number;
  mean: number;
  max: number;
}

/** Nearest-rank percentile (q in [0, 1]) of an ascending array. */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`percentile must be within [0, 1], got ${q}`);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

export function medianSorted(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const mid = n >> 1;
  return n % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(samples: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(samples).sort();
  const n = sorted.length;
  if (n === 0) return { n, min: NaN, median: NaN, p99: NaN, mean: NaN, max: NaN };
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n,
    min: sorted[0]!,
    median: medianSorted(sorted),
    p99: percentileSorted(sorted, 0.99),
    mean: sum / n,
    max: sorted[n - 1]!,
  };
}

export function sum(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return s;
}
