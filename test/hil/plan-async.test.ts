// Why async plans exist, on the real type1 driver: pinning a big region of
// 4 KiB pages in one MAP_DMA holds the event loop for the whole pin when it
// runs on the JS thread, and not when it runs on libuv's pool. A 1 ms
// setInterval watches the loop; its longest gap is the stall. The lane's
// guest has 2 GiB, so the region is 512 MiB (131,072 pages), not 1 GiB.
// Printed for the README and the closing note; asserted only as a ratio
// measured in this run (the sync stall is the pin time, the async one is not).
import type { Backend, Container, DmaBuffer, Group } from '../../lib/backend.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlan, mapBatch, mapBatchAsync, unmapBatch, BatchError } from '../../lib/plan/index.js';
import { onVfioHost, SKIP_REASON, testDevice } from './lane.js';
import { nativeBackend } from './native-backend.js';

const SIZE = 512n << 20n;
const IOVA = 1n << 32n;

/** The longest gap between ticks of a 1 ms interval while `work` runs (ms). */
async function longestStall(work: () => Promise<unknown> | unknown): Promise<{ stallMs: number; wallMs: number }> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 20)); // the interval is running
  const t0 = performance.now();
  last = t0;
  await work();
  const wallMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 5)); // a tick after the end counts the last gap
  clearInterval(timer);
  return { stallMs: worst, wallMs };
}

describe.skipIf(!onVfioHost)(`async plans on the real kernel (${SKIP_REASON})`, () => {
  let backend: Backend;
  let container: Container;
  let group: Group;
  let buf: DmaBuffer;

  beforeAll(async () => {
    const dev = testDevice();
    backend = await nativeBackend();
    container = backend.openContainer();
    group = backend.openGroup(dev.group);
    group.setContainer(container);
    container.setIommu('type1v2');
    buf = backend.allocBuffer({ size: SIZE, backing: '4k', prefault: true });
  });

  afterAll(() => {
    container?.unmapAll();
    buf?.close();
    group?.close();
    container?.close();
  });

  it('the event loop keeps turning while 512 MiB of 4 KiB pages are pinned and mapped off it', async () => {
    const info = container.info();
    const plan = buildPlan([{ vaddr: buf.vaddr, iova: IOVA, size: SIZE }], 'coalesced', info);
    const sync = await longestStall(() => mapBatch(container, plan));
    unmapBatch(container, plan);
    let bytes = 0n;
    const async = await longestStall(async () => {
      bytes = (await mapBatchAsync(container, plan)).bytes;
    });
    expect(bytes).toBe(SIZE);
    expect(container.unmap(IOVA, SIZE)).toBe(SIZE);
    console.log(`[plan-async] ${plan.count} entries, 512 MiB of 4 KiB pages: sync map ${sync.wallMs.toFixed(1)} ms, `
      + `longest event-loop stall ${sync.stallMs.toFixed(1)} ms; async map ${async.wallMs.toFixed(1)} ms, longest stall ${async.stallMs.toFixed(1)} ms`);
    // The sync map holds the loop for the pin; the async one leaves it to the timer.
    expect(sync.stallMs).toBeGreaterThan(sync.wallMs * 0.8);
    expect(async.stallMs).toBeLessThan(sync.stallMs / 4);
  });

  it('an abort mid-pin unwinds: nothing stays mapped, the region maps again', async () => {
    const info = container.info();
    // One entry per 2 MiB, so the abort lands between entries.
    const plan = buildPlan([{ vaddr: buf.vaddr, iova: IOVA, size: SIZE }], 'coalesced', info, { maxEntrySize: 2n << 20n });
    const ac = new AbortController();
    const running = mapBatchAsync(container, plan, { signal: ac.signal });
    setTimeout(() => ac.abort(), 5);
    const e = await running.then(() => null, (x: unknown) => x);
    if (e !== null) {
      expect(e).toBeInstanceOf(BatchError);
      expect((e as BatchError).code).toBe('ECANCELED');
      expect((e as BatchError).leaked.length).toBe(0);
    }
    expect(container.unmap(IOVA, SIZE)).toBe(e === null ? SIZE : 0n);
    const again = mapBatch(container, plan);
    expect(again.bytes).toBe(SIZE);
    expect(container.unmap(IOVA, SIZE)).toBe(SIZE);
    console.log(`[plan-async] abort after 5 ms of ${plan.count} entries: ${e === null ? 'finished first' : `stopped at entry ${(e as BatchError).index}, unwound`}`);
  });
});
