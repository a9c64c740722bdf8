// Reading and writing u64 words of a BigUint64Array as page numbers held in
// plain doubles, so the planner's hot loop allocates no BigInt per entry.
//
// Exact: a u64 address divided by a page of at least 4 KiB is below 2^52,
// and sums of two such page numbers stay within 2^53, the doubles' exact range.
import { endianness } from 'node:os';

const LITTLE = endianness() === 'LE';
/** Index of the low / high 32-bit half of a u64 within a Uint32Array view. */
export const LO = LITTLE ? 0 : 1;
export const HI = LITTLE ? 1 : 0;

export const TWO32 = 0x1_0000_0000;

export function u32View(words: BigUint64Array): Uint32Array {
  return new Uint32Array(words.buffer, words.byteOffset, words.length * 2);
}

/** Page arithmetic for one page size (a power of two, 4 KiB .. 1 GiB, so a page mask fits an int32). */
export class PageUnits {
  readonly page: number;
  readonly pageBig: bigint;
  /** Page numbers per 2^32 bytes. */
  readonly perHi: number;
  /** One past the largest page number of the 64-bit space. */
  readonly limit: number;

  constructor(pageBig: bigint) {
    if (pageBig < 0x1000n || pageBig > 0x4000_0000n || (pageBig & (pageBig - 1n)) !== 0n) {
      throw new RangeError(`smallest IOMMU page size 0x${pageBig.toString(16)} must be a power of two from 4 KiB to 1 GiB`);
    }
    this.pageBig = pageBig;
    this.page = Number(pageBig);
    this.perHi = TWO32 / this.page;
    this.limit = this.perHi * TWO32;
  }

  /** Page number of an aligned value given as halves (the caller checked alignment). */
  fromHalves(hi: number, lo: number): number {
    return hi * this.perHi + lo / this.page;
  }

  fromBig(value: bigint): number {
    return Number(value / this.pageBig);
  }

  /** Page number rounded up (for a byte count or address not page aligned). */
  fromBigUp(value: bigint): number {
    return Number((value + this.pageBig - 1n) / this.pageBig);
  }

  toBig(pages: number): bigint {
    return BigInt(pages) * this.pageBig;
  }

  /** Stores `pages` pages as a u64 byte value at word index w of a u32 view. */
  store(view: Uint32Array, w: number, pages: number): void {
    const hi = Math.floor(pages / this.perHi);
    view[2 * w + HI] = hi;
    view[2 * w + LO] = (pages - hi * this.perHi) * this.page;
  }
}
