// The addon in worker threads: per-environment state (no shared statics), a
// worker's objects torn down with its environment whether it exits or is
// terminated, and native objects that cannot cross a thread boundary. Runs
// wherever the addon loads (no VFIO needed); the VFIO half (a worker's pinned
// pages, two processes on one group) is in vfio.test.ts, run in the HIL lane.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeAvailability } from '../../lib/native/load.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const child = fileURLToPath(new URL('./children/workers-concurrent.cjs', import.meta.url));
const why = nativeAvailability().reason;

describe.skipIf(why !== undefined)(`the addon in worker threads${why ? ` (skipped: ${why})` : ''}`, () => {
  it('four workers at once: their own buffers, all unmapped when they exit or are terminated; a posted buffer arrives inert', () => {
    const r = JSON.parse(execFileSync(process.execPath, [child, root], { encoding: 'utf8', timeout: 60_000 }));
    expect(r.buffers).toBe(12);
    expect(r.distinct).toBe(12);
    expect(r.leftMapped).toBe(0);
    // Terminated workers exit with 1, the others with 0.
    expect(r.codes).toEqual([1, 1, 0, 0]);
    // Structured clone drops the native handle: a plain object, no methods; the
    // worker's own addon refuses it (type tag check), and the memory was copied, not moved.
    expect(r.cross).toEqual({ keys: [], hasMethods: false, refused: 'TypeError', copiedFirstByte: 7, mainStillHas: true });
  });
});
