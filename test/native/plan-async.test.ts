// Plans off the event loop (native/plan_job.h) on the overhead stand-in, so
// that they run on any Linux host: the same result as runPlan, the event loop
// free while the entries run, EBUSY for every other call meanwhile, an abort
// that stops between entries, a close that waits for the entry under way, and
// buffers that cannot be closed under the plan. Real MAP_DMA: test/hil.
import { afterEach, describe, expect, it } from 'vitest';
import { PLAN_STRIDE, PROT_RW } from '../../lib/backend.js';
import { Errno } from '../../lib/errors.js';
import type { NativeDmaBuffer } from '../../lib/native/addon.js';
import { buildPlan, mapBatchAsync, unmapBatchAsync, BatchError } from '../../lib/plan/index.js';
import { addon, expectVfioError, openStandIn } from './helpers.js';

const PAGE = 4096n;
const opened: Array<{ close(): void }> = [];
// Spaces first (closing one releases the pins its books hold), then the buffers.
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
});

const standIn = () => openStandIn(opened);

function buffer(pages: number): NativeDmaBuffer {
  const b = addon.allocBuffer(BigInt(pages) * PAGE, '4k', 0n, false);
  opened.push(b);
  return b;
}

/** n one-page entries over b (wrapping around it), at IOVAs from 1 GiB up. */
function pagesPlan(b: NativeDmaBuffer, n: number): BigUint64Array {
  const pages = Number(b.size / PAGE);
  const p = new BigUint64Array(n * PLAN_STRIDE);
  for (let k = 0; k < n; k++) {
    p.set([b.vaddr + BigInt(k % pages) * PAGE, (1n << 30n) + BigInt(k) * PAGE, PAGE, BigInt(PROT_RW)], k * PLAN_STRIDE);
  }
  return p;
}

/** Turns of the event loop (setImmediate callbacks) while `p` is pending. */
async function turnsWhile<T>(p: Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let pending = true;
  const spin = () => {
    if (!pending) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  const value = await p;
  pending = false;
  return { value, turns };
}

describe('runPlanAsync', () => {
  it('gives runPlan\'s result, with the event loop turning while the entries run', async () => {
    const { space, raw } = standIn();
    const b = buffer(64);
    const plan = pagesPlan(b, 50_000);
    const { value: r, turns } = await turnsWhile(space.runPlanAsync('map', plan));
    expect(r).toMatchObject({ completed: 50_000, failedIndex: -1, errno: 0, unmapped: 0n, simulated: false });
    expect(r.ns.length).toBe(50_000);
    expect(r.ns.every((t) => t > 0)).toBe(true);
    expect(turns).toBeGreaterThan(0); // a sync runPlan gives the loop no turn at all
    expect(raw.trackedMappings).toBe(50_000);
    expect(b.mappings).toBe(50_000);
    const u = await space.runPlanAsync('unmap', plan);
    expect(u).toMatchObject({ completed: 50_000, failedIndex: -1, unmapped: 50_000n * PAGE });
    expect([raw.trackedMappings, b.mappings]).toEqual([0, 0]);
  });

  it('while it runs, every other call on the space is EBUSY; after it, they work again', async () => {
    const { space, raw } = standIn();
    const b = buffer(16);
    const running = space.runPlanAsync('map', pagesPlan(b, 20_000));
    const busy = 'a plan is running on this space (runPlanAsync): await it, or abort it';
    expect(expectVfioError(() => space.map({ vaddr: b.vaddr, iova: 0n, size: PAGE }), 'EBUSY').hint).toBe(busy);
    expectVfioError(() => space.unmap(0n, PAGE), 'EBUSY');
    expectVfioError(() => space.runPlan('map', pagesPlan(b, 1)), 'EBUSY', 'plan');
    expectVfioError(() => space.unmapAll(), 'EBUSY');
    expectVfioError(() => space.runPlanCycles(pagesPlan(b, 1), 1), 'EBUSY');
    await expect(space.runPlanAsync('map', pagesPlan(b, 1))).rejects.toMatchObject({ code: 'EBUSY' });
    expect((await running).completed).toBe(20_000);
    expect(space.unmapAll()).toBe(20_000n * PAGE);
    expect(raw.trackedMappings).toBe(0);
  });

  it('an abort stops it between entries: ECANCELED at the first entry not run, the ones before mapped', async () => {
    const { space, raw } = standIn();
    const b = buffer(16);
    const ac = new AbortController();
    const running = space.runPlanAsync('map', pagesPlan(b, 200_000), { signal: ac.signal });
    setImmediate(() => ac.abort());
    const r = await running;
    expect(r.errno).toBe(Errno.ECANCELED);
    expect(r.completed).toBeLessThan(200_000);
    expect(r.failedIndex).toBe(r.completed);
    expect(raw.trackedMappings).toBe(r.completed);
    space.unmapAll();
    // Aborted before it starts: nothing runs.
    const before = await space.runPlanAsync('map', pagesPlan(b, 4), { signal: AbortSignal.abort() });
    expect(before).toMatchObject({ completed: 0, failedIndex: 0, errno: Errno.ECANCELED });
    expect(raw.trackedMappings).toBe(0);
  });

  it('a buffer under the plan cannot be closed until it is done; closing the space stops the plan and waits', async () => {
    const { space, raw } = standIn();
    const b = buffer(16);
    const running = space.runPlanAsync('map', pagesPlan(b, 200_000));
    expectVfioError(() => b.close(), 'EBUSY');
    space.close(); // returns once the entry under way is done
    expect(space.closed).toBe(true);
    const r = await running;
    expect([Errno.ECANCELED, 0]).toContain(r.errno);
    // The closed space's books are empty and the buffer is free again.
    expect(raw.trackedMappings).toBe(0);
    expect(b.mappings).toBe(0);
  });

  it('refuses what runPlan refuses, as a rejected promise', async () => {
    const { space } = standIn();
    await expect(space.runPlanAsync('map', new BigUint64Array(5))).rejects.toThrow(RangeError);
    await expect(space.runPlanAsync('remap' as 'map', new BigUint64Array(4))).rejects.toThrow(TypeError);
    space.close();
    await expect(space.runPlanAsync('map', new BigUint64Array(4))).rejects.toMatchObject({ code: 'EBADF' });
  });
});

describe('mapBatchAsync', () => {
  it('maps a plan off the loop, and an abort unwinds everything it mapped (BatchError ECANCELED)', async () => {
    const { space, raw } = standIn();
    const b = buffer(64);
    const info = space.info();
    const ok = await mapBatchAsync(space, buildPlan([{ vaddr: b.vaddr, iova: 1n << 32n, size: b.size }], 'per-page', info));
    expect(ok).toMatchObject({ count: 64, simulated: false });
    expect(raw.trackedMappings).toBe(64);
    space.unmapAll();
    const requests = (n: number) => Array.from({ length: n }, (_, k) => ({ vaddr: b.vaddr + BigInt(k % 64) * PAGE, iova: (1n << 33n) + BigInt(k) * PAGE, size: PAGE }));
    // Aborted before it starts: nothing maps, and the error says why.
    const before = await mapBatchAsync(space, buildPlan(requests(4), 'per-page', info), { signal: AbortSignal.abort() }).catch((x: unknown) => x);
    expect(before).toBeInstanceOf(BatchError);
    expect((before as BatchError).code).toBe('ECANCELED');
    expect((before as BatchError).message).toMatch(/AbortSignal/);
    // Aborted while it runs (200,000 entries take far longer than a turn of the loop): unwound.
    const ac = new AbortController();
    const running = mapBatchAsync(space, buildPlan(requests(200_000), 'per-page', info), { signal: ac.signal });
    setImmediate(() => ac.abort());
    const e = await running.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BatchError);
    expect((e as BatchError).code).toBe('ECANCELED');
    expect((e as BatchError).completed).toBeGreaterThanOrEqual(0);
    expect((e as BatchError).leaked.length).toBe(0);
    expect(raw.trackedMappings).toBe(0);
  });

  it('unmapBatchAsync unmaps the plan; an abort says which entries are still mapped', async () => {
    const { space, raw } = standIn();
    const b = buffer(64);
    const info = space.info();
    const plan = buildPlan(Array.from({ length: 150_000 }, (_, k) => ({ vaddr: b.vaddr + BigInt(k % 64) * PAGE, iova: (1n << 33n) + BigInt(k) * PAGE, size: PAGE })),
      'per-page', info);
    await mapBatchAsync(space, plan);
    expect(raw.trackedMappings).toBe(150_000);
    const ac = new AbortController();
    const running = unmapBatchAsync(space, plan, { signal: ac.signal });
    setImmediate(() => ac.abort());
    const e = await running.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BatchError);
    const err = e as BatchError;
    expect(err.code).toBe('ECANCELED');
    expect(err.leaked.length / PLAN_STRIDE).toBe(150_000 - err.index);
    expect(raw.trackedMappings).toBe(150_000 - err.index);
    // What is left unmaps with a plan of its own.
    const rest = await unmapBatchAsync(space, { ...plan, entries: err.leaked, count: 150_000 - err.index });
    expect(rest.unmapped).toBe(BigInt(150_000 - err.index) * PAGE);
    expect([raw.trackedMappings, b.mappings]).toEqual([0, 0]);
  });
});
