// IntervalList against a naive array model, over random inserts and removals.
import { describe, expect, it } from 'vitest';
import { IntervalList } from '../../lib/sim/interval-list.js';

interface Iv { iova: bigint; size: bigint; end: bigint }

const iv = (iova: bigint, size: bigint): Iv => ({ iova, size, end: iova + size });

function naiveOverlap(all: Iv[], start: bigint, size: bigint): Iv | undefined {
  return all.filter((d) => !(start + size <= d.iova) && !(start >= d.iova + d.size))
    .sort((a, b) => (a.iova < b.iova ? -1 : 1))[0];
}

describe('IntervalList', () => {
  it('agrees with a naive model over 5000 random operations', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const list = new IntervalList<Iv>();
    const model: Iv[] = [];
    for (let step = 0; step < 5000; step++) {
      const start = BigInt(rand(4000)) * 0x1000n;
      const size = BigInt(1 + rand(8)) * 0x1000n;
      if (rand(3) > 0) {
        if (!naiveOverlap(model, start, size)) {
          const it = iv(start, size);
          list.insert(it);
          model.push(it);
        }
      } else {
        const victim = naiveOverlap(model, start, size);
        if (victim) {
          list.remove(victim);
          model.splice(model.indexOf(victim), 1);
        }
      }
      const probe = BigInt(rand(4100)) * 0x1000n;
      expect(list.findOverlap(probe, 0x3000n)).toBe(naiveOverlap(model, probe, 0x3000n));
    }
    expect(list.count).toBe(model.length);
    expect(list.all()).toEqual([...model].sort((a, b) => (a.iova < b.iova ? -1 : 1)));
  });

  it('finds a mapping strictly around an address with size 0, as vfio_find_dma does', () => {
    const list = new IntervalList<Iv>();
    const it = iv(0x10000n, 0x4000n);
    list.insert(it);
    expect(list.findOverlap(0x10000n, 0n)).toBeUndefined();
    expect(list.findOverlap(0x10fffn, 0n)).toBe(it);
    expect(list.findOverlap(0x14000n, 0n)).toBeUndefined();
  });

  it('treats a range ending exactly at 2^64 as matching nothing (u64 wrap)', () => {
    const list = new IntervalList<Iv>();
    list.insert(iv(0xffff_ffff_ffff_0000n, 0x1000n));
    expect(list.findOverlap(0xffff_ffff_fff0_0000n, 0x10_0000n)).toBeUndefined();
  });

  it('rejects removing what it does not hold', () => {
    const list = new IntervalList<Iv>();
    list.insert(iv(0n, 0x1000n));
    expect(() => list.remove(iv(0n, 0x1000n))).toThrow(/not present/);
  });
});
