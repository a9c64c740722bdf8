// What only the simulated backend needs beyond the seam's argument checks
// (lib/seam/args.ts): the kernel's u64 arithmetic and the EBADF of a closed fd.
import { Errno, VfioError } from '../errors.js';
import { U64_MAX } from '../seam/args.js';

/** u64 addition as the kernel does it: wraps modulo 2^64. */
export function addU64(a: bigint, b: bigint): bigint {
  return (a + b) & U64_MAX;
}

/** Using an object after close(): the fd is gone, as EBADF says. */
export function closedError(op: string): VfioError {
  return new VfioError(Errno.EBADF, op, {}, 'this object has been closed');
}
