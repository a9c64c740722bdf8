// Argument checks of the simulated backend: the ones a C caller could not get
// wrong because the ioctl structs are fixed-width. Wrong type -> TypeError,
// does not fit in a u64 -> RangeError; everything the kernel itself would
// judge is left to the model so that it fails with the kernel's errno.
import { Errno, VfioError } from '../errors.js';

export const U64_MAX = (1n << 64n) - 1n;

export function toU64(value: unknown, name: string): bigint {
  if (typeof value !== 'bigint') throw new TypeError(`${name} must be a bigint`);
  if (value < 0n || value > U64_MAX) throw new RangeError(`${name} must fit in an unsigned 64-bit integer`);
  return value;
}

export function toU32(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${name} must be an integer`);
  if (value < 0 || value > 0xffff_ffff) throw new RangeError(`${name} must fit in an unsigned 32-bit integer`);
  return value;
}

/** u64 addition as the kernel does it: wraps modulo 2^64. */
export function addU64(a: bigint, b: bigint): bigint {
  return (a + b) & U64_MAX;
}

/** Using an object after close(): the fd is gone, as EBADF says. */
export function closedError(op: string): VfioError {
  return new VfioError(Errno.EBADF, op, {}, 'this object has been closed');
}
