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
  if (size !== requested) warnRounded(requested, size, opts.backing);
  return { backing: opts.backing, size, pageSize, prefault };
}

export const SIZE_ROUNDED_WARNING = 'VFIO_SIZE_ROUNDED';
// Once per request shape: a loop allocating the same odd size would otherwise flood stderr.
const warned = new Set<string>();

/**
 * A buffer is whole pages: asking for 1000 bytes pins (and charges to
 * RLIMIT_MEMLOCK) 4096, or 2 MiB on a huge-page backing. Say so, through
 * Node's warning channel (a library must not write to stderr itself; an
 * application can listen, or silence it with --no-warnings).
 */
function warnRounded(requested: bigint, size: bigint, backing: Backing): void {
  const key = `${requested}/${backing}`;
  if (warned.has(key)) return;
  warned.add(key);
  process.emitWarning(
    `allocBuffer: size ${requested} rounded up to ${size} bytes (whole ${backing} pages); buffer.size says what was allocated`,
    { type: 'VfioWarning', code: SIZE_ROUNDED_WARNING },
  );
}
