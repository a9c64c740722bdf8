// Backend DmaBuffer over the addon's buffer (options checked in lib/buffer-options.ts, as for the sim).
import type { Backing, DmaBuffer, DmaBufferOptions } from '../backend.js';
import { checkBufferOptions } from '../buffer-options.js';
import type { NativeAddon, NativeDmaBuffer } from './addon.js';

export function allocNativeBuffer(addon: NativeAddon, opts: DmaBufferOptions): DmaBuffer {
  const { backing, size, pageSize, prefault } = checkBufferOptions(opts);
  const hugePageSize = backing === 'hugetlb' ? pageSize : 0n;
  return new NativeBackendDmaBuffer(addon.allocBuffer(size, backing, hugePageSize, prefault));
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
