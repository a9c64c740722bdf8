// DMA buffers of the simulated backend: plain ArrayBuffers with made-up but
// properly aligned virtual addresses, and a registry that answers "what backs
// this vaddr?" so that the cost model and the IOMMU entry count can follow
// the backing like the kernel's pinning does.
import { SZ_4K, type Backing, type DmaBuffer, type DmaBufferOptions } from '../backend.js';
import { checkBufferOptions } from '../buffer-options.js';
import type { DmaPort } from './edu.js';
import { Errno, VfioError } from '../errors.js';

// Where sim buffers live: a user-space-looking range, far from IOVAs tests use.
const VADDR_BASE = 0x7f00_0000_0000n;
// Largest buffer a plain ArrayBuffer holds comfortably here.
const MAX_SIM_BUFFER = 1n << 32n;

function detach(buf: ArrayBuffer): void {
  const transfer = (buf as ArrayBuffer & { transfer?: () => ArrayBuffer }).transfer;
  if (typeof transfer === 'function') transfer.call(buf);
  else structuredClone(buf, { transfer: [buf] });
}

export class SimDmaBuffer implements DmaBuffer {
  readonly size: bigint;
  readonly backing: Backing;
  readonly pageSize: bigint;
  readonly vaddr: bigint;
  #bytes: Uint8Array;
  #closed = false;
  #pins = 0;
  // Disposed while mapped: released by unpin() when the last mapping goes.
  #releasePending = false;
  readonly #registry: BufferRegistry;

  /** @internal Only BufferRegistry.alloc constructs these. */
  constructor(registry: BufferRegistry, vaddr: bigint, size: bigint, backing: Backing, pageSize: bigint) {
    this.#registry = registry;
    this.vaddr = vaddr;
    this.size = size;
    this.backing = backing;
    this.pageSize = pageSize;
    this.#bytes = new Uint8Array(new ArrayBuffer(Number(size)));
  }

  get bytes(): Uint8Array {
    return this.#bytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Container mappings covering this buffer: close() refuses while there are any. */
  get mappings(): number {
    return this.#pins;
  }

  /** @internal A mapping now covers (pin) or no longer covers (unpin) this buffer. */
  pin(): void {
    this.#pins++;
  }

  /** @internal */
  unpin(): void {
    if (this.#pins > 0) this.#pins--;
    if (this.#pins === 0 && this.#releasePending) this.close();
  }

  close(): void {
    if (this.#closed) return;
    // Same rule as the native backend: memory under DMA stays alive while mapped.
    if (this.#pins > 0) {
      throw new VfioError(Errno.EBUSY, 'munmap', { vaddr: this.vaddr, size: this.size, mappings: this.#pins },
        'the buffer is still DMA-mapped: unmap it (or close the container) first');
    }
    this.#closed = true;
    this.#registry.release(this);
    const ab = this.#bytes.buffer as ArrayBuffer;
    detach(ab);
    this.#bytes = new Uint8Array(0);
  }

  /**
   * `using` disposes in reverse order, so a buffer declared after its
   * container goes first, maybe still mapped. Disposal must not throw there:
   * the buffer stays alive (the mapping keeps it, as on the kernel) and is
   * released when its last mapping goes. An explicit close() stays strict.
   */
  [Symbol.dispose](): void {
    if (this.#closed) return;
    if (this.#pins > 0) this.#releasePending = true;
    else this.close();
  }
}

export interface BackingSpan {
  vaddr: bigint;
  size: bigint;
  backing: Backing;
  /** Size of the pages backing this span. */
  pageSize: bigint;
  /** The sim buffer holding it, if any. */
  buffer: SimDmaBuffer | null;
}

export class BufferRegistry {
  #next = VADDR_BASE;
  // Sorted by vaddr (allocation is monotonic), live buffers only.
  #live: SimDmaBuffer[] = [];
  // Ranges of closed buffers, sorted, never overlapping.
  #closed: Array<{ start: bigint; end: bigint }> = [];

  alloc(opts: DmaBufferOptions): SimDmaBuffer {
    const { size, pageSize } = checkBufferOptions(opts);
    if (size > MAX_SIM_BUFFER) {
      throw new VfioError(Errno.ENOMEM, 'mmap', { size, backing: opts.backing },
        'the simulated backend keeps buffer memory in an ArrayBuffer: at most 4 GiB each');
    }
    const vaddr = (this.#next + pageSize - 1n) / pageSize * pageSize;
    // Leave a guard page so two buffers never look contiguous.
    this.#next = vaddr + size + SZ_4K;
    const buf = new SimDmaBuffer(this, vaddr, size, opts.backing, pageSize);
    this.#live.push(buf);
    return buf;
  }

  release(buf: SimDmaBuffer): void {
    const i = this.#indexOf(buf.vaddr);
    if (i >= 0 && this.#live[i] === buf) this.#live.splice(i, 1);
    // Addresses are never reused, so closed ones stay known as unmapped memory.
    this.#closed.push({ start: buf.vaddr, end: buf.vaddr + buf.size });
    this.#closed.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }

  /** Live buffers overlapping [vaddr, vaddr + size). */
  overlapping(vaddr: bigint, size: bigint): SimDmaBuffer[] {
    const out: SimDmaBuffer[] = [];
    const end = vaddr + size;
    for (let i = this.#firstEndingAfter(vaddr); i < this.#live.length && this.#live[i]!.vaddr < end; i++) {
      out.push(this.#live[i]!);
    }
    return out;
  }

  /**
   * How many bytes from `vaddr` on (up to `size`) are memory the "process"
   * has: live sim buffers only, or, with `anyVaddr`, anything but a closed one.
   */
  pinnablePrefix(vaddr: bigint, size: bigint, anyVaddr: boolean): bigint {
    const end = vaddr + size;
    if (anyVaddr) {
      const hole = this.#firstClosedFrom(vaddr);
      return hole !== undefined && hole.start < end ? (hole.start > vaddr ? hole.start - vaddr : 0n) : size;
    }
    let cur = vaddr;
    for (let i = this.#firstEndingAfter(vaddr); cur < end; i++) {
      const b = this.#live[i];
      if (!b || b.vaddr > cur) return cur - vaddr;
      cur = b.vaddr + b.size;
    }
    return size;
  }

  /** Whether [vaddr, vaddr + size) touches memory of a buffer that was closed (munmapped). */
  touchesClosed(vaddr: bigint, size: bigint): boolean {
    const r = this.#firstClosedFrom(vaddr);
    return r !== undefined && r.start < vaddr + size;
  }

  #firstClosedFrom(vaddr: bigint): { start: bigint; end: bigint } | undefined {
    let lo = 0;
    let hi = this.#closed.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#closed[mid]!.end > vaddr) hi = mid;
      else lo = mid + 1;
    }
    return this.#closed[lo];
  }

  /**
   * A device's view of memory: `toVaddr` is the IOMMU (IOVA -> vaddr, null
   * where the access faults); the bytes are those of a live sim buffer, and an
   * access that leaves it, or reaches a closed one, faults too.
   */
  dmaPort(toVaddr: (iova: bigint, length: bigint, write: boolean) => bigint | null): DmaPort {
    const reach = (iova: bigint, length: number, write: boolean): { bytes: Uint8Array; at: number } | null => {
      if (length === 0) return null;
      const vaddr = toVaddr(iova, BigInt(length), write);
      if (vaddr === null) return null;
      const spans = this.spans(vaddr, BigInt(length));
      const span = spans[0];
      if (spans.length !== 1 || !span?.buffer || span.buffer.closed) return null;
      return { bytes: span.buffer.bytes, at: Number(vaddr - span.buffer.vaddr) };
    };
    return {
      read: (iova, length) => {
        const t = reach(iova, length, false);
        return t ? t.bytes.slice(t.at, t.at + length) : null;
      },
      write: (iova, data) => {
        const t = reach(iova, data.length, true);
        if (!t) return false;
        t.bytes.set(data, t.at);
        return true;
      },
    };
  }

  /**
   * Splits [vaddr, vaddr + size) by what backs it. Memory the sim did not
   * allocate counts as 4 KiB pages.
   */
  spans(vaddr: bigint, size: bigint): BackingSpan[] {
    const out: BackingSpan[] = [];
    const end = vaddr + size;
    let cur = vaddr;
    let i = this.#firstEndingAfter(cur);
    while (cur < end) {
      const buf = this.#live[i];
      if (!buf || buf.vaddr >= end) {
        out.push({ vaddr: cur, size: end - cur, backing: '4k', pageSize: SZ_4K, buffer: null });
        break;
      }
      if (buf.vaddr > cur) {
        out.push({ vaddr: cur, size: buf.vaddr - cur, backing: '4k', pageSize: SZ_4K, buffer: null });
        cur = buf.vaddr;
      }
      const stop = end < buf.vaddr + buf.size ? end : buf.vaddr + buf.size;
      out.push({ vaddr: cur, size: stop - cur, backing: buf.backing, pageSize: buf.pageSize, buffer: buf });
      cur = stop;
      i++;
    }
    return out;
  }

  #firstEndingAfter(addr: bigint): number {
    let lo = 0;
    let hi = this.#live.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const b = this.#live[mid]!;
      if (b.vaddr + b.size > addr) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  #indexOf(vaddr: bigint): number {
    const i = this.#firstEndingAfter(vaddr);
    return this.#live[i]?.vaddr === vaddr ? i : -1;
  }
}

