// A plan the shared block holds (<= 16 entries) is not checked entry by entry
// in JS: the addon checks its flags before running anything
// (lib/native/space.ts runPlan). A refusal must still be the seam's own,
// word for word, with nothing run; and an unmap plan's flags are not read.
import { afterEach, describe, expect, it } from 'vitest';
import { openStandIn } from './helpers.js';

const PAGE = 4096n;
// The stand-in never touches the memory: any page-aligned address does.
const V = 0x7f00_0000_0000n;
const opened: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
});

describe('runPlan of a plan the block holds', () => {
  it("bad flags: the seam's refusal, word for word, and nothing run", () => {
    const { space, raw } = openStandIn(opened);
    const plan = BigUint64Array.of(V, 1n << 32n, PAGE, 3n, V + PAGE, (1n << 32n) + PAGE, PAGE, 4n);
    expect(() => space.runPlan('map', plan)).toThrow(new RangeError('runPlan: plan entry 1: flags may only hold PROT_READ | PROT_WRITE'));
    expect(raw.trackedMappings).toBe(0);
    expect(space.runPlan('unmap', plan).failedIndex).toBe(-1);
  });

  it('good flags: every entry runs, timed', () => {
    const { space, raw } = openStandIn(opened);
    const plan = BigUint64Array.of(V, 1n << 32n, PAGE, 3n, V + PAGE, (1n << 32n) + PAGE, PAGE, 1n);
    const r = space.runPlan('map', plan);
    expect([r.completed, r.failedIndex, raw.trackedMappings]).toEqual([2, -1, 2]);
    expect(Array.from(r.ns, (n) => n > 0)).toEqual([true, true]);
  });
});
