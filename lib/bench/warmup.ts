// Warming JS-timed code until its timings stop falling. A fixed warm-up count
// (the bench's default 3) leaves V8 still interpreting or on its baseline
// tiers: the planner's single-page path read ~10x its warm cost that way,
// and only `--reps 200` or `--warmup 50` came near the warm figure. Figures
// that come from the executor (C++ CLOCK_MONOTONIC, or the sim's cost model)
// do not need this; figures timed from JS with hrtime do.

export interface WarmOptions {
  /** Calls per round; a round's median is one point of the curve. */
  round: number;
  /**
   * Calls always made first. V8 tiers up in steps with plateaus between them,
   * and any local test of flatness is fooled by a plateau: the planner's
   * single-page path measured ~3.4 us after 1,000 calls, ~2.5 after 5,000 and
   * ~1.2-1.5 from 20,000 on (sim, 2-core VM).
   */
  minCalls: number;
  /**
   * Then settled when the median of the second half of the round medians is
   * within this fraction of the quarter before it: a slow fall still shows
   * over a doubling of the calls.
   */
  tolerance: number;
  /** Give up (and say so) after this many calls or this much time. */
  maxCalls: number;
  maxMs: number;
  nowMs?: () => number;
}

export const DEFAULT_WARM: WarmOptions = {
  round: 100,
  minCalls: 16_000,
  tolerance: 0.1,
  maxCalls: 200_000,
  maxMs: 3_000,
};

export interface WarmResult {
  /** Calls made while warming. */
  calls: number;
  /** Whether the medians settled before the budget ran out. */
  stable: boolean;
  /** Median of the first round (what a cold run would have measured). */
  firstMedian: number;
  /** Median of the second half of the round medians. */
  lastMedian: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Calls `sample` (one timed call, returning its time in ns) in rounds until
 * the curve of round medians settles. Rising counts as settled: on a loaded
 * machine a window can read high, and only a fall says the JIT still has
 * work to do.
 */
export function warmUntilStable(sample: () => number, opts: Partial<WarmOptions> = {}): WarmResult {
  const o = { ...DEFAULT_WARM, ...opts };
  const nowMs = o.nowMs ?? (() => performance.now());
  const start = nowMs();
  const medians: number[] = [];
  const buf: number[] = new Array(o.round);
  let calls = 0;
  for (;;) {
    for (let i = 0; i < o.round; i++) buf[i] = sample();
    calls += o.round;
    medians.push(median(buf));
    const n = medians.length;
    const last = median(medians.slice(n >> 1));
    // Out of budget before minCalls (each call slow: a real kernel under
    // emulation) the curve is judged all the same: "still falling" must be
    // something measured, not the budget running out.
    const outOfBudget = calls >= o.maxCalls || nowMs() - start >= o.maxMs;
    if ((calls >= o.minCalls || outOfBudget) && n >= 4) {
      const before = median(medians.slice(n >> 2, n >> 1));
      if (last >= before * (1 - o.tolerance)) return { calls, stable: true, firstMedian: medians[0]!, lastMedian: last };
    }
    if (outOfBudget) return { calls, stable: false, firstMedian: medians[0]!, lastMedian: last };
  }
}
