// The native space checks a plan's shape in JS and leaves each entry's flags
// to the addon, which checks them all before running any
// (lib/native/space.ts runPlan). A refusal must still be the seam's own,
// word for word, with nothing run, whatever the plan's size (in the shared
// block, <= 16 entries, or passed as it is), sync or async, and before any
// other refusal (a closed space, a plan in flight), as the seam's checkPlan
// orders them on every backend. An unmap plan's flags are not read.
import { afterEach, describe, expect, it } from 'vitest';
import { openStandIn } from './helpers.js';

const PAGE = 4096n;
// The stand-in never touches the memory: any page-aligned address does.
const V = 0x7f00_0000_0000n;
const IOVA = 1n << 32n;
const opened: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
});

/** n one-page entries with flags 3, but entry `bad` (if any) with flags 4. */
function plan(n: number, bad = -1): BigUint64Array {
  const p = new BigUint64Array(n * 4);
  for (let k = 0; k < n; k++) p.set([V + BigInt(k) * PAGE, IOVA + BigInt(k) * PAGE, PAGE, k === bad ? 4n : 3n], k * 4);
  return p;
}

const refusal = (k: number) => new RangeError(`runPlan: plan entry ${k}: flags may only hold PROT_READ | PROT_WRITE`);

describe.each([
  ['the block holds', 2, 1],
  ['passed as it is', 40, 37],
])('runPlan of a plan %s', (_, n, bad) => {
  it("bad flags: the seam's refusal, word for word, and nothing run", () => {
    const { space, raw } = openStandIn(opened);
    expect(() => space.runPlan('map', plan(n, bad))).toThrow(refusal(bad));
    expect(raw.trackedMappings).toBe(0);
    expect(space.runPlan('unmap', plan(n, bad)).failedIndex).toBe(-1);
  });

  it('good flags: every entry runs, timed', () => {
    const { space, raw } = openStandIn(opened);
    const r = space.runPlan('map', plan(n));
    expect([r.completed, r.failedIndex, raw.trackedMappings]).toEqual([n, -1, n]);
    expect(r.ns.length).toBe(n);
    expect(Array.from(r.ns).every((x) => x > 0)).toBe(true);
  });

  it('bad flags on a closed space: the flags are refused first', () => {
    const { space } = openStandIn(opened);
    space.close();
    expect(() => space.runPlan('map', plan(n, bad))).toThrow(refusal(bad));
  });

  it('async: bad flags rejected with the same refusal, nothing run; then while a plan is in flight', async () => {
    const { space, raw } = openStandIn(opened);
    await expect(space.runPlanAsync('map', plan(n, bad))).rejects.toThrow(refusal(bad));
    expect(raw.trackedMappings).toBe(0);
    const aborted = AbortSignal.abort();
    await expect(space.runPlanAsync('map', plan(n, bad), { signal: aborted })).rejects.toThrow(refusal(bad));
    const inFlight = space.runPlanAsync('map', plan(n));
    expect(() => space.runPlan('map', plan(n, bad))).toThrow(refusal(bad));
    await expect(space.runPlanAsync('map', plan(n, bad))).rejects.toThrow(refusal(bad));
    expect((await inFlight).completed).toBe(n);
  });
});
