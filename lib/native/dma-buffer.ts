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
  // Disposed while mapped: to be released once the last mapping goes.
  #releasePending = false;

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
    this.#settle();
    if (this.#bytes) return this.#bytes; // once closed, the same view, detached
    if (this.#n.closed) return new Uint8Array(0);
    this.#bytes = new Uint8Array(this.#n.bytes());
    return this.#bytes;
  }

  get closed(): boolean {
    this.#settle();
    return this.#n.closed;
  }

  close(): void {
    this.#n.close();
  }

  /**
   * `using` disposes in reverse order, so a buffer declared after its
   * container goes first, maybe still mapped: disposal must not throw there.
   * The addon already keeps mapped memory alive (each mapping holds a
   * reference to the buffer) and drops that hold with the last mapping, so
   * all disposal has to do is give up our claim: the memory is released by
   * the collector once unmapped, or at once when this wrapper is next looked
   * at (#settle). An explicit close() stays strict (EBUSY while mapped).
   */
  [Symbol.dispose](): void {
    if (this.#n.closed) return;
    if (this.#n.mappings > 0) this.#releasePending = true;
    else this.close();
  }

  /** A disposal deferred by a mapping completes once the mappings are gone. */
  #settle(): void {
    if (this.#releasePending && !this.#n.closed && this.#n.mappings === 0) {
      this.#releasePending = false;
      this.#n.close();
    }
  }
}
