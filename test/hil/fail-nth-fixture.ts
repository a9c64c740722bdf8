// What the two fail-nth sweeps (through mapBatch and through unmapBatch)
// share: whether fault injection is there, the device's cdev, a buffer per
// shape for the whole file, and a probe of what is still mapped.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import type { Backend, Backing, DmaBuffer, DmaSpace } from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { failNthUnavailable, prepareFailNth, restoreFailNth, type FailNthSetup } from '../../lib/native/fail-nth.js';
import { onVfioHost, SKIP_REASON, testDevice } from './lane.js';
import { nativeBackend } from './native-backend.js';

/** Why the sweeps cannot run here, or null (CONFIG_FAULT_INJECTION + FAILSLAB: the lane's "built" kernel). */
export function failNthSkip(what: string): string | null {
  const why = onVfioHost ? failNthUnavailable() : SKIP_REASON;
  // Say it in the log too: the reporter shows a skipped file only as a count.
  if (onVfioHost && why !== null) console.log(`${what} skipped: ${why}`);
  return why;
}

// Far more than any path here has allocation sites; reaching it means the
// sweep never ends (an injection point that keeps moving), which is a failure.
export const MAX_POINTS = 3000;
export const IOVA = 0x1000_0000n; // 2 MiB aligned, clear of the reserved regions on q35

/** The edu device's cdev name (vfio0, ...), or null without VFIO_DEVICE_CDEV. */
export function cdevName(): string | null {
  const dir = `/sys/bus/pci/devices/${testDevice().address}/vfio-dev`;
  return existsSync(dir) ? readdirSync(dir).find((n) => /^vfio\d+$/.test(n)) ?? null : null;
}

/** Bytes of [iova, iova + size) this unmap found mapped (and unmapped): type1 reports 0, an IOAS ENOENT, when none. */
export function unmapProbe(space: DmaSpace, iova: bigint, size: bigint): bigint {
  try {
    return space.unmap(iova, size);
  } catch (err) {
    if (err instanceof VfioError && err.errno === Errno.ENOENT) return 0n;
    throw err;
  }
}

function hugetlbFree(): number {
  return Number(/^HugePages_Free:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
}

export interface ShapeBuffers {
  backend(): Backend;
  /** The shape's buffer, or undefined when it could not have one (no free hugetlb page). */
  buffer(label: string): DmaBuffer | undefined;
}

/** Opens the backend, arms nothing yet, and allocates a buffer per shape for the file (call at describe level). */
export function useShapeBuffers(shapes: readonly { label: string; backing: Backing; pages: number }[], after?: () => void): ShapeBuffers {
  let backend: Backend | undefined;
  let setup: FailNthSetup | undefined;
  const buffers = new Map<string, DmaBuffer>();
  beforeAll(async () => {
    backend = await nativeBackend();
    setup = prepareFailNth();
    for (const s of shapes) {
      // The lane reserves 16 huge pages; a host may have none (that shape is then skipped).
      if (s.backing === 'hugetlb' && hugetlbFree() < 1) continue;
      buffers.set(s.label, backend.allocBuffer({ size: BigInt(s.pages) * 4096n, backing: s.backing, prefault: true }));
    }
  });
  afterAll(() => {
    for (const b of buffers.values()) b.close();
    if (setup) restoreFailNth(setup);
    after?.();
  });
  return { backend: () => backend!, buffer: (label) => buffers.get(label) };
}
