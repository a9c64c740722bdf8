// The objects a bad-input table works on: a container with a group attached
// and TYPE1v2 set, a buffer, one known mapping to collide with, and the
// checks that prove the table left nothing mapped or pinned behind.
import { expect } from 'vitest';
import type { Backend, Container, DmaBuffer, Group } from '../../../lib/backend.js';

export const PAGE = 0x1000n;
/** Every IOVA the tables use lies in [REGION, REGION + REGION_SIZE). */
export const REGION = 0x10_0000n;
export const REGION_SIZE = 64n * PAGE;
/** The mapping the overlap cases collide with: two pages at the start of the region. */
export const EXISTING = { iova: REGION, size: 2n * PAGE };
/** A free, aligned IOVA inside the region. */
export const FREE_IOVA = REGION + 16n * PAGE;

export interface World {
  backend: Backend;
  container: Container;
  group: Group;
  buffer: DmaBuffer;
  /** Bytes locked before the container mapped anything. */
  lockedBefore: bigint;
  dmaAvailBefore: number | null;
  close(): void;
}

export function openWorld(backend: Backend, groupId: number, type: 'type1' | 'type1v2' = 'type1v2'): World {
  const container = backend.openContainer();
  const group = backend.openGroup(groupId);
  group.setContainer(container);
  container.setIommu(type);
  const buffer = backend.allocBuffer({ size: REGION_SIZE, backing: '4k', prefault: true });
  const lockedBefore = container.memlock().locked;
  const dmaAvailBefore = container.info().dmaAvail;
  container.map({ vaddr: buffer.vaddr, iova: EXISTING.iova, size: EXISTING.size });
  return {
    backend, container, group, buffer, lockedBefore, dmaAvailBefore,
    close() {
      container.close();
      group.close();
      buffer.close();
    },
  };
}

/**
 * Nothing but EXISTING is mapped or pinned: locked memory and DMA entries are
 * where one mapping leaves them, the whole region maps in one call once
 * EXISTING is gone (no EEXIST anywhere in it), and unmapping it gives back
 * exactly its size.
 */
export function expectOnlyExisting(w: World): void {
  const c = w.container;
  expect(c.memlock().locked - w.lockedBefore).toBe(EXISTING.size);
  if (w.dmaAvailBefore !== null) expect(c.info().dmaAvail).toBe(w.dmaAvailBefore - 1);
  expect(c.unmap(EXISTING.iova, EXISTING.size)).toBe(EXISTING.size);
  c.map({ vaddr: w.buffer.vaddr, iova: REGION, size: REGION_SIZE });
  expect(c.unmapAll()).toBe(REGION_SIZE);
  expect(c.memlock().locked).toBe(w.lockedBefore);
  if (w.dmaAvailBefore !== null) expect(c.info().dmaAvail).toBe(w.dmaAvailBefore);
  c.map({ vaddr: w.buffer.vaddr, iova: EXISTING.iova, size: EXISTING.size });
}
