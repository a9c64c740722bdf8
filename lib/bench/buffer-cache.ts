// One DMA buffer per backing, kept across the cells of a run and grown on
// demand, so repetitions reuse warm (prefaulted) memory.
import type { Backend, Backing, DmaBuffer } from '../backend.js';
import { SZ_2M } from '../backend.js';
import { PAGE } from './patterns.js';

export function alignUp(v: bigint, a: bigint): bigint {
  return ((v + a - 1n) / a) * a;
}

export class BufferCache {
  private readonly buffers = new Map<Backing, DmaBuffer>();
  constructor(private readonly backend: Backend) {}

  get(backing: Backing, size: bigint): DmaBuffer {
    const have = this.buffers.get(backing);
    if (have && have.size >= size) return have;
    have?.close();
    this.buffers.delete(backing);
    const rounded = backing === '4k' ? alignUp(size, PAGE) : alignUp(size, SZ_2M);
    const buf = this.backend.allocBuffer({ size: rounded, backing, prefault: true });
    this.buffers.set(backing, buf);
    return buf;
  }

  close(): void {
    for (const b of this.buffers.values()) b.close();
    this.buffers.clear();
  }
}
