// What callers ask to have mapped, in the one bulk form the planner reads.
// Objects are converted once; a BigUint64Array is taken as it is, so a million
// page requests need no per-entry allocation.
import { PROT_RW, type DmaMapping } from '../backend.js';
import { u32View } from './words.js';

/** One request: what DmaSpace.map() takes (prot PROT_READ | PROT_WRITE, both when omitted). */
export type MapRequest = DmaMapping;

/** Words per request in the bulk form: vaddr, iova, size, prot. */
export const REQUEST_STRIDE = 4;

// The message is put together only when it is thrown: a template string per
// field and request was most of what converting a request cost.
function u64(value: unknown, i: number, field: string): bigint {
  if (typeof value !== 'bigint') throw new TypeError(`request ${i}: ${field} must be a bigint, got ${typeof value}`);
  // One asUintN, not two comparisons: a BigInt comparison is a runtime call (~300 instructions each, callgrind).
  if (BigInt.asUintN(64, value) !== value) throw new RangeError(`request ${i}: ${field} does not fit in 64 bits: ${value}`);
  return value;
}

const PROT_RW_WORD = BigInt(PROT_RW);

// Objects are converted into one reused buffer: the planner reads the words
// only while it runs, and a fresh typed array per call (a few of them, for a
// single page) costs more in garbage collection than planning the page does.
// Its u32 view is kept with it, and it is handed out whole (never a subarray,
// which would be one more allocation per call): the caller knows the count.
let scratch = new BigUint64Array(64 * REQUEST_STRIDE);
let scratchView = u32View(scratch);
let converting = false;

/**
 * Checks the shape of the input and returns it as (vaddr, iova, size, prot)
 * words: the first requestCount(requests) requests of the result are the
 * input, and any words after them are to be ignored. Converted objects land
 * in a buffer reused by the next call: read the result before calling again.
 */
export function requestWords(requests: readonly MapRequest[] | BigUint64Array): BigUint64Array {
  if (requests instanceof BigUint64Array) {
    if (requests.length % REQUEST_STRIDE !== 0) {
      throw new RangeError(`request array length ${requests.length} is not a multiple of ${REQUEST_STRIDE}`);
    }
    return requests;
  }
  if (!Array.isArray(requests)) throw new TypeError('requests must be an array of MapRequest or a BigUint64Array');
  const need = requests.length * REQUEST_STRIDE;
  // A getter on a request could plan from inside this loop: that call gets its own buffer.
  if (converting) return convert(requests, new BigUint64Array(need));
  if (scratch.length < need) {
    scratch = new BigUint64Array(Math.max(need, scratch.length * 2));
    scratchView = u32View(scratch);
  }
  converting = true;
  try {
    return convert(requests, scratch);
  } finally {
    converting = false;
  }
}

/**
 * Requests in the input (requestWords' result may hold more words than that).
 * Read before requestWords, so a getter that grows the array cannot change it.
 * Input requestWords refuses counts as 0.
 */
export function requestCount(requests: readonly MapRequest[] | BigUint64Array): number {
  if (requests instanceof BigUint64Array) return Math.floor(requests.length / REQUEST_STRIDE);
  return Array.isArray(requests) ? requests.length : 0;
}

/** The words as u32 halves: the kept view for the reused buffer, a new one otherwise. */
export function requestHalves(words: BigUint64Array): Uint32Array {
  return words === scratch ? scratchView : u32View(words);
}

function convert(requests: readonly MapRequest[], words: BigUint64Array): BigUint64Array {
  const n = requests.length;
  for (let i = 0; i < n; i++) {
    const r = requests[i] as MapRequest | undefined;
    if (r === null || typeof r !== 'object') throw new TypeError(`request ${i} is not an object`);
    const prot = r.prot ?? PROT_RW;
    if (!Number.isInteger(prot)) throw new TypeError(`request ${i}: prot must be an integer`);
    // Checked before the u32 conversion below, which would turn 2^32 + 3 into 3.
    if (prot < 0 || prot > 0xffff_ffff) throw new RangeError(`request ${i}: prot ${prot} does not fit in 32 bits`);
    const o = i * REQUEST_STRIDE;
    words[o] = u64(r.vaddr, i, 'vaddr');
    words[o + 1] = u64(r.iova, i, 'iova');
    words[o + 2] = u64(r.size, i, 'size');
    words[o + 3] = prot === PROT_RW ? PROT_RW_WORD : BigInt(prot >>> 0);
  }
  return words;
}
