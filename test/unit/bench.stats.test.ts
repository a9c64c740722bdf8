import { describe, expect, it } from 'vitest';
import { medianSorted, percentileSorted, summarize } from '../../lib/bench/stats.js';

describe('bench statistics', () => {
  it('summarizes min, median, p99, mean and max, whatever the order', () => {
    expect(summarize([5, 1, 3, 2, 4])).toEqual({ n: 5, min: 1, median: 3, p99: 5, mean: 3, max: 5 });
  });

  it('takes the mean of the two middle samples for an even count', () => {
    expect(medianSorted([1, 2, 10, 20])).toBe(6);
  });

  it('uses nearest-rank percentiles, so p99 of 100 samples is the 99th', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentileSorted(sorted, 0.99)).toBe(99);
    expect(percentileSorted(sorted, 1)).toBe(100);
    expect(percentileSorted(sorted, 0)).toBe(1);
    expect(summarize(sorted).p99).toBe(99);
  });

  it('a single outlier moves the mean but not the median', () => {
    const s = summarize([100, 101, 99, 100, 100000]);
    expect(s.median).toBe(100);
    expect(s.mean).toBeGreaterThan(20000);
  });

  it('gives NaN for no samples and refuses out-of-range percentiles', () => {
    expect(summarize([]).median).toBeNaN();
    expect(() => percentileSorted([1], 1.5)).toThrow(RangeError);
  });
});
