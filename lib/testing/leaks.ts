// What a test may leave behind, measured against a baseline: DMA mappings in
// the container (CAP_DMA_AVAIL entries used, and the bytes an unmap-all
// finds), pinned memory (MemlockStatus.locked: VmLck + VmPin on a real
// kernel, the simulator's own mm accounting on the sim) and open fds.
import type { Container } from '../backend.js';
import { newFds, openFds, type FdTable } from './fds.js';

export type LeakKind = 'mapping' | 'pinned' | 'fd';

export interface Leak {
  kind: LeakKind;
  /** What was left, in words, e.g. "2 DMA mappings (8192 bytes) left in the container". */
  detail: string;
}

export interface Baseline {
  dmaAvail: number | null;
  locked: bigint;
  fds: FdTable | null;
}

export function takeBaseline(container: Container): Baseline {
  return { dmaAvail: container.info().dmaAvail, locked: container.memlock().locked, fds: openFds() };
}

/**
 * Compares the process with `base`, then unmaps whatever the container still
 * holds so that one leaking test does not fail the ones after it. Pinned
 * memory is read before that unmap, so the pins of leaked mappings count.
 */
export function findLeaks(container: Container, base: Baseline): Leak[] {
  if (container.closed) {
    return [{ kind: 'mapping', detail: 'the test closed the device-under-test container; it cannot be checked or reused' }];
  }
  const leaks: Leak[] = [];
  const locked = container.memlock().locked;
  const avail = container.info().dmaAvail;
  // An unmap-all both cleans up and measures: on a kernel that does not
  // report CAP_DMA_AVAIL, the bytes it unmapped are the only signal.
  const bytes = container.unmapAll();
  const entries = base.dmaAvail !== null && avail !== null ? base.dmaAvail - avail : null;
  if ((entries !== null && entries > 0) || bytes > 0n) {
    const count = entries === null ? 'DMA mappings' : `${entries} DMA mapping${entries === 1 ? '' : 's'}`;
    leaks.push({ kind: 'mapping', detail: `${count} (${bytes} bytes) left in the container (now unmapped)` });
  }
  if (locked > base.locked) {
    leaks.push({ kind: 'pinned', detail: `${locked - base.locked} bytes of pinned memory (VmLck + VmPin) not released` });
  }
  const fds = base.fds === null ? null : openFds();
  if (base.fds !== null && fds !== null) {
    const added = newFds(base.fds, fds);
    if (added.length > 0) {
      leaks.push({ kind: 'fd', detail: `${added.length} file descriptor${added.length === 1 ? '' : 's'} left open: ${added.join(', ')}` });
    }
  }
  return leaks;
}

/** Thrown by checkClean(): names every leak, one per line. */
export class LeakError extends Error {
  constructor(readonly leaks: readonly Leak[]) {
    super(`the test left resources behind:\n${leaks.map((l) => `  ${l.kind}: ${l.detail}`).join('\n')}`);
    this.name = 'LeakError';
  }
}
