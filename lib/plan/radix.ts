// Sorting order for up to millions of 64-bit keys, given as u32 halves, by LSD
// radix on 16-bit digits: linear time, no comparator calls, no BigInt. Used to
// check unsorted plans for overlaps (a native TypedArray sort of a million
// doubles costs over 100 ms; this a few tens).

/** Indexes 0..n-1 ordered by key (hi:lo) ascending, stable. */
export function radixOrder(hi: Uint32Array, lo: Uint32Array): Uint32Array {
  const n = lo.length;
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let spare = new Uint32Array(n);
  const counts = new Uint32Array(65536);
  for (const [keys, shift] of [[lo, 0], [lo, 16], [hi, 0], [hi, 16]] as const) {
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const d = ((keys[i] as number) >>> shift) & 0xffff;
      counts[d] = (counts[d] as number) + 1;
    }
    // A digit every key shares (typically the high ones) orders nothing: skip its pass.
    if (n === 0 || counts[((keys[0] as number) >>> shift) & 0xffff] === n) continue;
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = counts[d] as number;
      counts[d] = sum;
      sum += c;
    }
    for (let k = 0; k < n; k++) {
      const i = order[k] as number;
      const d = ((keys[i] as number) >>> shift) & 0xffff;
      spare[counts[d] as number] = i;
      counts[d] = (counts[d] as number) + 1;
    }
    [order, spare] = [spare, order];
  }
  return order;
}
