import { describe, expect, it } from 'vitest';
import { SZ_2M, SZ_4K } from '../../lib/backend.js';
import { dirty } from '../../lib/plan/index.js';
import { int, rng } from './plan-gen.js';

const { setBits, nextSetBit, nextClearBit, anyBitSet, countBits, readBits, emptyDirty, dirtyView, markDirty, mayBeDirty, dirtySpans, mergeDirty, resampleDirty, bitmapWords } = dirty;

// The oracle: one bit at a time, in the test only.
const bit = (bits: BigUint64Array, i: number): boolean => ((bits[i >> 6]! >> BigInt(i & 63)) & 1n) === 1n;
const setBit = (bits: BigUint64Array, i: number): void => {
  bits[i >> 6] = bits[i >> 6]! | (1n << BigInt(i & 63));
};

// Starts and lengths around u64 (and u32) word boundaries.
const EDGES = [0, 1, 31, 32, 33, 62, 63, 64, 65, 95, 96, 127, 128, 129, 191, 192, 255];

describe('bit runs, word at a time', () => {
  it('setBits matches the bit-by-bit oracle at every word boundary and misaligned start', () => {
    for (const start of EDGES) {
      for (const count of EDGES) {
        if (start + count > 320) continue;
        const got = new BigUint64Array(5);
        const want = new BigUint64Array(5);
        setBits(got, start, count);
        for (let i = start; i < start + count; i++) setBit(want, i);
        expect(got, `start ${start} count ${count}`).toEqual(want);
      }
    }
  });

  it('setBits keeps bits already set around the run', () => {
    const bits = new BigUint64Array([0x8000_0000_0000_0001n, 0x1n]);
    setBits(bits, 62, 1);
    setBits(bits, 64, 0);
    expect(bits).toEqual(new BigUint64Array([0xc000_0000_0000_0001n, 0x1n]));
    expect(() => setBits(bits, 100, 29)).toThrow(RangeError);
    expect(() => setBits(bits, -1, 2)).toThrow(RangeError);
  });

  it('nextSetBit / nextClearBit / anyBitSet / countBits agree with the oracle on random bitmaps', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const r = rng(seed);
      const bits = new BigUint64Array(4);
      const density = r();
      for (let i = 0; i < 256; i++) if (r() < density * 0.3) setBit(bits, i);
      if (seed % 5 === 0) setBits(bits, int(r, 0, 100), int(r, 0, 150));
      for (let t = 0; t < 40; t++) {
        const from = int(r, 0, 256);
        const end = int(r, from, 256);
        let s = from;
        while (s < end && !bit(bits, s)) s++;
        let c = from;
        while (c < end && bit(bits, c)) c++;
        let n = 0;
        for (let i = from; i < end; i++) if (bit(bits, i)) n++;
        expect(nextSetBit(bits, from, end), `seed ${seed}`).toBe(s);
        expect(nextClearBit(bits, from, end)).toBe(c);
        expect(anyBitSet(bits, from, end - from)).toBe(n > 0);
        expect(countBits(bits, from, end - from)).toBe(n);
      }
    }
  });

  it('readBits extracts a run shifted to bit 0, for misaligned starts', () => {
    const r = rng(99);
    const bits = new BigUint64Array(4);
    for (let i = 0; i < 256; i++) if (r() < 0.5) setBit(bits, i);
    for (const start of EDGES) {
      for (const count of [1, 31, 32, 33, 63, 64, 65, 100]) {
        if (start + count > 256) continue;
        const got = readBits(bits, start, count);
        expect(got.length).toBe(bitmapWords(count));
        for (let i = 0; i < got.length * 64; i++) expect(bit(got, i), `start ${start} count ${count} bit ${i}`).toBe(i < count && bit(bits, start + i));
      }
    }
  });
});

describe('dirty pages: never reported clean when they may be dirty', () => {
  const base = 0x10_0000n;

  it('markDirty sets a whole run, a page partly touched included', () => {
    const v = emptyDirty(base, 256n * SZ_4K, SZ_4K);
    markDirty(v, base + 63n * SZ_4K + 0x800n, SZ_4K); // half in page 63, half in page 64
    expect(dirtySpans(v)).toEqual([{ iova: base + 63n * SZ_4K, size: 2n * SZ_4K }]);
    markDirty(v, base - SZ_4K, 2n * SZ_4K); // starts before the bitmap: clipped
    expect(countBits(v.bits, 0, 256)).toBe(3);
  });

  it('mayBeDirty: a touched dirty page, or anything past the bitmap, is dirty', () => {
    const v = emptyDirty(base, 128n * SZ_4K, SZ_4K);
    markDirty(v, base + 64n * SZ_4K, SZ_4K);
    expect(mayBeDirty(v, base, 64n * SZ_4K)).toBe(false);
    expect(mayBeDirty(v, base + 63n * SZ_4K + 0xfffn, 2n)).toBe(true); // last byte of 63, first of 64
    expect(mayBeDirty(v, base + 65n * SZ_4K, 63n * SZ_4K)).toBe(false);
    expect(mayBeDirty(v, base + 65n * SZ_4K, 64n * SZ_4K)).toBe(true); // one page past the end: unknown
    expect(mayBeDirty(v, base - SZ_4K, SZ_4K)).toBe(true);
  });

  it('4 KiB -> 2 MiB: one dirty small page makes its huge page dirty', () => {
    const small = emptyDirty(base, 4n * SZ_2M, SZ_4K); // base is 1 MiB: not 2 MiB aligned
    markDirty(small, base + 600n * SZ_4K, SZ_4K);
    const huge = resampleDirty(small, 0n, 6n * SZ_2M, SZ_2M);
    // [0, 2M) is half uncovered (starts before base): dirty; 2M..4M holds page 600 (base + 0x258000 = 0x358000): dirty;
    // 4M..8M covered and clean; 8M..10M partly covered (ends at base + 8M = 9M): dirty; 10M..12M uncovered: dirty
    expect(dirtySpans(huge).map((s) => [s.iova / SZ_2M, s.size / SZ_2M])).toEqual([[0n, 2n], [4n, 2n]]);
  });

  it('2 MiB -> 4 KiB: a dirty huge page makes all 512 small pages dirty', () => {
    const huge = emptyDirty(0n, 4n * SZ_2M, SZ_2M);
    markDirty(huge, SZ_2M, SZ_4K);
    const small = resampleDirty(huge, 0n, 4n * SZ_2M, SZ_4K);
    expect(dirtySpans(small)).toEqual([{ iova: SZ_2M, size: SZ_2M }]);
    expect(countBits(small.bits, 0, small.pages)).toBe(512);
  });

  it('misaligned resample: a target page straddling a dirty source page is dirty', () => {
    const src = emptyDirty(0x3000n, 8n * 0x2000n, 0x2000n); // 8 KiB pages from 0x3000
    markDirty(src, 0x5000n, 0x2000n); // source page 1 = 0x5000..0x6fff
    const out = resampleDirty(src, 0x4000n, 0x4000n, SZ_4K); // pages 0x4000, 0x5000, 0x6000, 0x7000
    expect(dirtySpans(out)).toEqual([{ iova: 0x5000n, size: 0x2000n }]);
    const coarse = resampleDirty(src, 0x4000n, 0x8000n, 0x4000n); // 0x4000..7fff and 0x8000..bfff
    expect(dirtySpans(coarse)).toEqual([{ iova: 0x4000n, size: 0x4000n }]);
  });

  it('mergeDirty ORs bitmaps of different page sizes and never clears', () => {
    const into = emptyDirty(0n, SZ_2M, SZ_4K);
    markDirty(into, 0n, SZ_4K);
    const other = emptyDirty(0n, 4n * 0x1_0000n, 0x1_0000n); // 64 KiB pages
    markDirty(other, 0x2_0000n, 0x1_0000n);
    mergeDirty(into, other);
    expect(dirtySpans(into)).toEqual([{ iova: 0n, size: SZ_4K }, { iova: 0x2_0000n, size: 0x1_0000n }]);
  });

  it('property: resampling never loses a dirty byte', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed);
      const srcPage = 1n << BigInt(int(r, 12, 16));
      const dstPage = 1n << BigInt(int(r, 12, 21));
      const srcBase = BigInt(int(r, 0, 64)) * SZ_4K;
      const src = emptyDirty(srcBase, BigInt(int(r, 1, 200)) * srcPage, srcPage);
      for (let k = 0; k < 10; k++) markDirty(src, srcBase + BigInt(int(r, 0, src.pages - 1)) * srcPage, srcPage);
      const dstBase = BigInt(int(r, 0, 64)) * SZ_4K;
      const out = resampleDirty(src, dstBase, BigInt(int(r, 1, 100)) * dstPage, dstPage);
      // every dirty source byte inside the target is in a dirty target page
      for (const s of dirtySpans(src)) {
        for (let b = s.iova; b < s.iova + s.size; b += SZ_4K) {
          if (b < out.iova || b >= out.iova + BigInt(out.pages) * dstPage) continue;
          expect(mayBeDirty(out, b, 1n), `seed ${seed}`).toBe(true);
        }
      }
      // every target page reported clean is fully covered by clean source pages
      for (let p = 0; p < out.pages; p++) {
        const a = out.iova + BigInt(p) * dstPage;
        if (!anyBitSet(out.bits, p, 1)) expect(mayBeDirty(src, a, dstPage), `seed ${seed} page ${p}`).toBe(false);
      }
    }
  });

  it('dirtyView wraps a backend bitmap and checks its length', () => {
    const bits = new BigUint64Array(2);
    bits[1] = 1n;
    const v = dirtyView({ pageSize: SZ_4K, bits }, 0x1000_0000n, 128n * SZ_4K);
    expect(dirtySpans(v)).toEqual([{ iova: 0x1000_0000n + 64n * SZ_4K, size: SZ_4K }]);
    expect(() => dirtyView({ pageSize: SZ_4K, bits }, 0n, 129n * SZ_4K)).toThrow(RangeError);
  });
});
