// What only the simulated backend needs beyond the seam's argument checks
// (lib/seam/args.ts): the kernel's u64 arithmetic and the EBADF of a closed fd.
import { Errno, VfioError } from '../errors.js';

/**
 * u64 addition as the kernel does it: wraps modulo 2^64. asUintN, not a mask
 * with an imported U64_MAX: this runs on every simulated map, and under the
 * test runner an imported binding is a getter call.
 */
export function addU64(a: bigint, b: bigint): bigint {
  return BigInt.asUintN(64, a + b);
}

/** Using an object after close(): the fd is gone, as EBADF says. */
export function closedError(op: string): VfioError {
  return new VfioError(Errno.EBADF, op, {}, 'this object has been closed');
}
