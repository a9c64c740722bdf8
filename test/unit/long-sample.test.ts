// test/long.ts: what npm test samples of the long campaigns, and that
// test:long (VFIO_TEST_LONG=1) gets all of it.
import { describe, expect, it } from 'vitest';
import { LONG, sampled, scaled } from '../long.js';

const seeds = Array.from({ length: 300 }, (_, k) => 1000 + k);

describe(`campaign sampling (${LONG ? 'test:long: everything' : 'npm test: samples'})`, () => {
  it('sampled: all under test:long, else an even spread with both ends, the same each time', () => {
    const s = sampled(seeds, 60);
    if (LONG) {
      expect(s).toEqual(seeds);
      return;
    }
    expect(s).toHaveLength(60);
    expect([s[0], s.at(-1)]).toEqual([1000, 1299]);
    expect(new Set(s).size).toBe(60);
    expect(s).toEqual([...s].sort((a, b) => a - b));
    // No stretch of the list is left out: gaps stay near 300 / 59.
    const gaps = s.slice(1).map((v, i) => v - s[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(Math.ceil(299 / 59));
    expect(sampled(seeds, 60)).toEqual(s);
  });

  it('small lists and counts', () => {
    expect(sampled([1, 2, 3], 10)).toEqual([1, 2, 3]);
    if (!LONG) {
      expect(sampled([1, 2, 3], 1)).toEqual([1]);
      expect(sampled([1, 2, 3], 0)).toEqual([]);
    }
  });

  it('scaled picks the full figure only under test:long', () => {
    expect(scaled(1000, 150)).toBe(LONG ? 1000 : 150);
  });
});
