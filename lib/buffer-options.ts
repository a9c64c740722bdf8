// DmaBufferOptions checked once, for both backends: what a backing means in
// page size, and how a requested size rounds up to whole pages. A backend only
// decides where the memory comes from.
import { SZ_1G, SZ_2M, SZ_4K, type Backing, type DmaBufferOptions } from './backend.js';
import { U64_MAX } from './seam/args.js';


/** Size of the CPU pages behind a buffer of this backing. */
export function backingPageSize(backing: Backing, hugePageSize?: bigint): bigint {
  switch (backing) {
    case '4k':
      return SZ_4K;
    case 'thp':
      return SZ_2M;
    case 'hugetlb': {
      const hp = hugePageSize ?? SZ_2M;
      if (typeof hp !== 'bigint') throw new TypeError('allocBuffer: hugePageSize must be a bigint');
      if (hp !== SZ_2M && hp !== SZ_1G) throw new RangeError('allocBuffer: hugePageSize must be 2 MiB or 1 GiB');
      return hp;
    }
    default:
      throw new TypeError(`allocBuffer: unknown backing ${String(backing)}`);
  }
}

export interface CheckedBufferOptions {
  backing: Backing;
  /** Rounded up to whole pages of the backing. */
  size: bigint;
  pageSize: bigint;
  prefault: boolean;
}

export function checkBufferOptions(opts: DmaBufferOptions): CheckedBufferOptions {
  if (opts === null || typeof opts !== 'object') throw new TypeError('allocBuffer: options object required');
  let requested: bigint;
  if (typeof opts.size === 'number') {
    if (!Number.isSafeInteger(opts.size)) throw new RangeError('allocBuffer: size must be a safe integer');
    requested = BigInt(opts.size);
  } else if (typeof opts.size === 'bigint') {
    requested = opts.size;
  } else {
    throw new TypeError('allocBuffer: size must be a bigint or a number');
  }
  if (requested <= 0n || requested > U64_MAX) throw new RangeError('allocBuffer: size must be > 0 and fit in 64 bits');
  const prefault = opts.prefault ?? false;
  if (typeof prefault !== 'boolean') throw new TypeError('allocBuffer: prefault must be a boolean');
  const pageSize = backingPageSize(opts.backing, opts.hugePageSize);
  const size = (requested + pageSize - 1n) / pageSize * pageSize;
  if (size > U64_MAX) throw new RangeError('allocBuffer: size rounded up to whole pages does not fit in 64 bits');
  return { backing: opts.backing, size, pageSize, prefault };
}
