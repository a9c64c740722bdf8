// warmUntilStable against synthetic timing curves: it must not stop on the
// way down, must stop once the curve is flat, and must give up (saying so)
// when the curve never settles or the time runs out.
import { describe, expect, it } from 'vitest';
import { warmUntilStable } from '../../lib/bench/warmup.js';

/** A sample function whose n-th call takes curve(n) ns. */
function curve(f: (n: number) => number): () => number {
  let n = 0;
  return () => f(n++);
}

describe('warmUntilStable', () => {
  it('keeps going while the timings fall, and stops once they are flat', () => {
    // Falls from 10 us to 1 us over 40,000 calls, flat after: past the 16,000-call minimum.
    const r = warmUntilStable(curve((n) => 1000 + 9000 * Math.max(0, 1 - n / 40_000)));
    expect(r.stable).toBe(true);
    expect(r.calls).toBeGreaterThan(40_000);
    expect(r.firstMedian).toBeGreaterThan(9000);
    expect(r.lastMedian).toBeLessThan(1100);
  });

  it('a plateau before the minimum does not end it early (V8 tiers up in steps)', () => {
    // Flat at 3 us for 8,000 calls, then a step down to 1 us.
    const r = warmUntilStable(curve((n) => (n < 8000 ? 3000 : 1000)));
    expect(r.stable).toBe(true);
    // Not at 16,000 either: the step is still inside the window compared, so it waits until it is behind.
    expect(r.calls).toBeGreaterThan(16_000);
    expect(r.lastMedian).toBe(1000);
  });

  it('flat from the start: stops at the minimum', () => {
    const r = warmUntilStable(curve(() => 500), { minCalls: 1000 });
    expect(r).toEqual({ calls: 1000, stable: true, firstMedian: 500, lastMedian: 500 });
  });

  it('slow calls that run out of time before the minimum: judged on the curve it has (flat = stable)', () => {
    // A real kernel under emulation: 1,000 calls fill the time budget. A fake clock: 3 ms a call.
    let ms = 0;
    const flat = warmUntilStable(curve(() => (ms += 3, 500_000)), { nowMs: () => ms, maxMs: 3000 });
    expect(flat).toMatchObject({ calls: 1000, stable: true });
    ms = 0;
    const falling = warmUntilStable(curve((n) => (ms += 3, 1e9 / (n + 1))), { nowMs: () => ms, maxMs: 3000 });
    expect(falling).toMatchObject({ calls: 1000, stable: false });
  });

  it('a curve that never settles ends at the call budget, not stable', () => {
    const r = warmUntilStable(curve((n) => 1e9 / (n + 1)), { minCalls: 1000, maxCalls: 20_000 });
    expect(r.stable).toBe(false);
    expect(r.calls).toBe(20_000);
  });

  it('ends at the time budget, not stable', () => {
    let t = 0;
    const r = warmUntilStable(curve((n) => 1e9 / (n + 1)), { maxMs: 50, nowMs: () => (t += 1) });
    expect(r.stable).toBe(false);
    expect(r.calls).toBeLessThan(16_000);
  });

  it('a rise (a loaded machine) counts as settled, a fall does not', () => {
    const rising = warmUntilStable(curve((n) => 1000 + n / 10), { minCalls: 1000 });
    expect(rising.stable).toBe(true);
    expect(rising.calls).toBe(1000);
  });
});

describe('the planner-overhead table says how warm its figures are', async () => {
  const { formatTable } = await import('../../lib/bench/format-table.js');
  const { syntheticReport } = await import('./bench.fixture.js');
  const table = (o: object) => {
    const r = syntheticReport();
    r.plannerOverhead = [{ ...r.plannerOverhead[0]!, ...o }];
    return formatTable(r);
  };

  it('warm: the calls spent, and the cold figure in its own column', () => {
    const t = table({ coldPlannedNs: 14_500, warmupCalls: 16_000, stable: true });
    expect(t).toMatch(/cold buildPlan\+mapBatch/);
    expect(t).toMatch(/14,500/);
    expect(t).toMatch(/Warm figures: measured after 16000 warm-up calls/);
  });

  it('--warmup 0: labelled cold', () => {
    expect(table({ warmupCalls: 0, stable: false })).toMatch(/Cold figures: --warmup 0 skipped the warm-up/);
  });

  it('a report from before the warm-up fields prints as it did', () => {
    const t = table({});
    expect(t).not.toMatch(/Warm figures|Cold figures|cold buildPlan/);
  });
});
