// The dirty bitmap as vfio_iommu_type1 (Linux 6.12) fills it, quirks
// included. update_user_bitmap() marks every page of the mapping dirty (a
// vfio-pci group cannot report which were written), shifts the mapping's own
// bitmap in place to its bit offset in the caller's bitmap, ORs in the
// caller's word it is about to overwrite, and copies whole u64 words out.
// After a GET_BITMAP query only the first npages bits are cleared, so the
// bits the shift pushed past npages stay set and show up as dirty pages just
// past the mapping in later queries (seen on the HIL kernel: the second query
// of a 70-page mapping at bit offset 8 reports pages 78..85 dirty too). Never
// a page wrongly clean, sometimes a page wrongly dirty.
//
// Between queries the bits below npages are always clear, so a mapping keeps
// only its tail (the words holding bit npages and above: at most two, since
// the kernel allocates DIRTY_BITMAP_BYTES(npages) + one u64).

/** What of a type1 mapping (SimDma in type1.ts) the bitmap reads and keeps: this file needs nothing else from there. */
export interface DirtyDma {
  readonly iova: bigint;
  readonly size: bigint;
  /** The kernel's dma->bitmap at and above its last partial word, kept between queries. */
  dirtyTail: bigint;
}

const WORD_MASK = (1n << 64n) - 1n;

/** The kernel's dma->bitmap for this mapping, rebuilt from its kept tail. */
function materialize(dma: DirtyDma, npages: number): BigUint64Array {
  const words = Math.ceil(npages / 64) + 1;
  const b = new BigUint64Array(words);
  const tailWord = Math.floor(npages / 64);
  if (dma.dirtyTail !== 0n) {
    b[tailWord] = dma.dirtyTail & WORD_MASK;
    if (tailWord + 1 < words) b[tailWord + 1] = dma.dirtyTail >> 64n;
  }
  return b;
}

/** bitmap_set(b, 0, n). */
function setPrefix(b: BigUint64Array, n: number): void {
  const full = Math.floor(n / 64);
  for (let k = 0; k < full; k++) b[k] = WORD_MASK;
  const rest = n % 64;
  if (rest) b[full] = b[full]! | ((1n << BigInt(rest)) - 1n);
}

/**
 * update_user_bitmap(user, iommu, dma, base_iova, pgsize) with a vfio-pci
 * (non pinned-page-scope) group attached and the mapping IOMMU-mapped.
 * Returns the mapping's bitmap as the kernel leaves it, for clearAfterQuery.
 */
export function updateUserBitmap(user: BigUint64Array, dma: DirtyDma, base: bigint, pgsize: bigint): BigUint64Array {
  const npages = Number(dma.size / pgsize);
  const bitOffset = Number((dma.iova - base) / pgsize);
  const copyOffset = Math.floor(bitOffset / 64);
  const shift = bitOffset % 64;
  const b = materialize(dma, npages);
  setPrefix(b, npages);
  if (shift) {
    // bitmap_shift_left(b, b, shift, npages + shift), in place, top word down.
    const lim = Math.ceil((npages + shift) / 64);
    const s = BigInt(shift);
    const r = BigInt(64 - shift);
    for (let k = lim - 1; k >= 0; k--) {
      const lower = k > 0 ? b[k - 1]! >> r : 0n;
      b[k] = ((b[k]! << s) & WORD_MASK) | lower;
    }
    // bitmap_or(b, b, &leftover, shift): a whole word, the caller's current one.
    b[0] = b[0]! | (user[copyOffset] ?? 0n);
  }
  // copy_to_user(..., DIRTY_BITMAP_BYTES(npages + shift)): whole words.
  const words = Math.ceil((npages + shift) / 64);
  for (let k = 0; k < words && copyOffset + k < user.length; k++) user[copyOffset + k] = b[k]!;
  return b;
}

/** After a GET_BITMAP query: bitmap_clear(b, 0, npages), keep what is left (the tail). */
export function clearAfterQuery(dma: DirtyDma, b: BigUint64Array, pgsize: bigint): void {
  const npages = Number(dma.size / pgsize);
  const tailWord = Math.floor(npages / 64);
  const low = b[tailWord]! & ~((1n << BigInt(npages % 64)) - 1n) & WORD_MASK;
  const high = tailWord + 1 < b.length ? b[tailWord + 1]! : 0n;
  dma.dirtyTail = low | (high << 64n);
}
