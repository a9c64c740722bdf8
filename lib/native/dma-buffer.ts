// Backend DmaBuffer over the addon's buffer, and the option checks shared
// with the simulated backend's semantics (size rounded up to whole pages).
import { SZ_1G, SZ_2M, SZ_4K, type Backing, type DmaBuffer, type DmaBufferOptions } from '../backend.js';
import type { NativeAddon, NativeDmaBuffer } from './addon.js';

const U64_MAX = (1n << 64n) - 1n;

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

export function allocNativeBuffer(addon: NativeAddon, opts: DmaBufferOptions): DmaBuffer {
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
  const pageSize = backingPageSize(opts.backing, opts.hugePageSize);
  const prefault = opts.prefault ?? false;
  if (typeof prefault !== 'boolean') throw new TypeError('allocBuffer: prefault must be a boolean');
  const size = (requested + pageSize - 1n) / pageSize * pageSize;
  if (size > U64_MAX) throw new RangeError('allocBuffer: size too large');
  const hugePageSize = opts.backing === 'hugetlb' ? pageSize : 0n;
  return new NativeBackendDmaBuffer(addon.allocBuffer(size, opts.backing, hugePageSize, prefault));
}

export class NativeBackendDmaBuffer implements DmaBuffer {
  readonly #n: NativeDmaBuffer;
  #bytes: Uint8Array | undefined;

  constructor(n: NativeDmaBuffer) {
    this.#n = n;
  }

  get size(): bigint {
    return this.#n.size;
  }

  get backing(): Backing {
    return this.#n.backing as Backing;
  }

  get pageSize(): bigint {
    return this.#n.pageSize;
  }

  get vaddr(): bigint {
    return this.#n.vaddr;
  }

  /** Container mappings currently covering this buffer (close() refuses while > 0). */
  get mappings(): number {
    return this.#n.mappings;
  }

  get bytes(): Uint8Array {
    if (this.#bytes) return this.#bytes; // once closed, the same view, detached
    if (this.#n.closed) return new Uint8Array(0);
    this.#bytes = new Uint8Array(this.#n.bytes());
    return this.#bytes;
  }

  get closed(): boolean {
    return this.#n.closed;
  }

  close(): void {
    this.#n.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
