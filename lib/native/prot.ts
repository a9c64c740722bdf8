// The prot argument of every native map call (type1 MAP_DMA, IOAS map/copy),
// checked once in JS so a bad value is a TypeError/RangeError, never a flag
// the kernel would read differently.
import { PROT_RW } from '../backend.js';

export function checkProt(prot: unknown, op: string): number {
  const p = prot ?? PROT_RW;
  if (typeof p !== 'number' || !Number.isInteger(p)) throw new TypeError(`${op}: prot must be an integer`);
  if (p < 0 || (p & ~PROT_RW) !== 0) throw new RangeError(`${op}: prot may only hold PROT_READ | PROT_WRITE`);
  return p;
}
