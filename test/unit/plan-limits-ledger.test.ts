// The limits check reads the kernel (memlock: a /proc parse; DMA entries:
// GET_INFO) once, then judges batches far from every limit from a ledger that
// the batches themselves keep up to date; it reads again only when a plan comes
// within a quarter of a limit, so every refusal is decided on a fresh reading.
import { describe, expect, it } from 'vitest';
import { SZ_4K } from '../../lib/backend.js';
import { VfioError } from '../../lib/errors.js';
import { buildPlan, checkLimits, mapBatch, mapBatchAsync, unmapBatch, type MapRequest } from '../../lib/plan/index.js';
import { caught } from './caught.js';
import { FakeDmaSpace } from './plan-fake-space.js';

const V = 0x7f00_0000_0000n;
const run = (iova: bigint, pages: number, vaddr = V): MapRequest[] => [{ vaddr, iova, size: BigInt(pages) * SZ_4K }];
/** Two separate runs: a two-entry plan, which 'auto' always checks. */
const pair = (iova: bigint, pages: number): MapRequest[] => [...run(iova, pages), ...run(iova + 0x1000_0000n, pages, V + 0x1000_0000n)];

/** Counts the kernel reads the limits check makes. */
function counted(space: FakeDmaSpace) {
  const reads = { memlock: 0, info: 0 };
  const memlock = space.memlock.bind(space);
  const info = space.info.bind(space);
  space.memlock = () => (reads.memlock++, memlock());
  space.info = () => (reads.info++, info());
  return reads;
}

describe('the limits ledger', () => {
  it('reads the kernel once, then judges batches far from every limit without reading', () => {
    const space = new FakeDmaSpace({ memlock: { limit: 1000n * SZ_4K }, dmaEntryLimit: 1000 });
    const info = space.info();
    const reads = counted(space);
    for (let k = 0; k < 10; k++) mapBatch(space, buildPlan(pair(BigInt(k) * 0x10_0000n, 10), 'coalesced', info));
    expect(reads).toEqual({ memlock: 1, info: 1 });
    // 10 batches of 2 x 10 pages: the ledger says what the kernel says.
    expect(checkLimits(space, buildPlan(pair(0x200_0000n, 1), 'coalesced', info))).toEqual({ memlockBytes: 800n * SZ_4K, dmaEntries: 980 });
    expect(space.memlock().locked).toBe(200n * SZ_4K);
  });

  it('reads again when a plan comes within a quarter of RLIMIT_MEMLOCK, and refuses on that fresh reading', () => {
    const space = new FakeDmaSpace({ memlock: { limit: 100n * SZ_4K } });
    const info = space.info();
    const reads = counted(space);
    mapBatch(space, buildPlan(pair(0x10_0000n, 30), 'coalesced', info)); // 60 pages: read (first)
    expect(reads.memlock).toBe(1);
    mapBatch(space, buildPlan(pair(0x100_0000n, 5), 'coalesced', info)); // 70 of 100: still clear of 75
    expect(reads.memlock).toBe(1);
    // Memory locked behind the planner's back since (a direct map of 20 pages): the ledger still says 70.
    space.map({ vaddr: V + 0x2000_0000n, iova: 0x4000_0000n, size: 20n * SZ_4K });
    const calls = space.mapCalls;
    // 2 x 3 pages: 76 by the ledger, past three quarters, so the kernel is read: 90 locked, 10 left: refused.
    const e = caught(() => mapBatch(space, buildPlan(pair(0x300_0000n, 6), 'coalesced', info))) as VfioError;
    expect(reads.memlock).toBe(2);
    expect([e.code, e.args.locked, e.args.over]).toEqual(['ENOMEM', 90n * SZ_4K, 2n * SZ_4K]);
    expect(e.hint).toMatch(/refused before pinning anything/);
    expect(space.mapCalls).toBe(calls);
  });

  it('counts what unmapBatch gave back, so room freed by the planner needs no reading', () => {
    const space = new FakeDmaSpace({ memlock: { limit: 100n * SZ_4K } });
    const info = space.info();
    const reads = counted(space);
    const big = buildPlan(pair(0x10_0000n, 35), 'coalesced', info);
    mapBatch(space, big); // 70
    unmapBatch(space, big); // 0
    mapBatch(space, buildPlan(pair(0x100_0000n, 35), 'coalesced', info)); // 70 again, judged by the ledger
    expect(reads.memlock).toBe(1);
    expect(checkLimits(space, buildPlan(pair(0x300_0000n, 1), 'coalesced', info)).memlockBytes).toBe(30n * SZ_4K);
  });

  it('keeps a quarter of the DMA entries the last reading found, and reads again past that', () => {
    const space = new FakeDmaSpace({ dmaEntryLimit: 40 });
    const info = space.info();
    const reads = counted(space);
    const perPage = (iova: bigint, n: number) => buildPlan(run(iova, n), 'per-page', info);
    mapBatch(space, perPage(0x10_0000n, 20)); // 20 of 40 left
    mapBatch(space, perPage(0x100_0000n, 10)); // 10 left: exactly a quarter of 40, no read
    expect(reads.info).toBe(1);
    const e = caught(() => mapBatch(space, perPage(0x200_0000n, 11))) as VfioError;
    expect(reads.info).toBe(2);
    expect([e.code, e.args.available, e.args.over]).toEqual(['ENOSPC', 10, 1]);
  });

  it('under CAP_IPC_LOCK (exempt) memlock never brings a batch close', () => {
    const space = new FakeDmaSpace({ memlock: { limit: 10n * SZ_4K, exempt: true } });
    const info = space.info();
    const reads = counted(space);
    for (let k = 0; k < 5; k++) mapBatch(space, buildPlan(pair(BigInt(k) * 0x10_0000n, 20), 'coalesced', info));
    expect(reads.memlock).toBe(1);
    expect(space.memlock().locked).toBe(200n * SZ_4K);
  });
});

describe('the limits check of mapBatchAsync', () => {
  /** A space whose memlock has an async twin, as the native one's (its /proc read on libuv's pool). */
  function withAsyncMemlock(space: FakeDmaSpace) {
    const reads = counted(space);
    const asyncReads = { n: 0 };
    space.memlockAsync = async () => {
      asyncReads.n++;
      await new Promise((r) => setImmediate(r));
      return space.memlock.call(space);
    };
    return { reads, asyncReads };
  }

  it('reads memlock through memlockAsync, never memlock() on the loop, when the ledger is cold', async () => {
    const space = new FakeDmaSpace({ memlock: { limit: 1000n * SZ_4K } });
    const info = space.info();
    const memlock = space.memlock.bind(space);
    let syncReads = 0;
    space.memlockAsync = async () => memlock();
    space.memlock = () => (syncReads++, memlock());
    const r = await mapBatchAsync(space, buildPlan(pair(0x10_0000n, 10), 'coalesced', info));
    expect(syncReads).toBe(0);
    expect(r.headroom?.memlockBytes).toBe(1000n * SZ_4K);
    // The ledger it filled is the one the sync check then judges by: no further read.
    expect(checkLimits(space, buildPlan(pair(0x100_0000n, 1), 'coalesced', info)).memlockBytes).toBe(980n * SZ_4K);
    expect(syncReads).toBe(0);
  });

  it('refuses on a fresh reading as checkLimits does, before anything is mapped', async () => {
    const space = new FakeDmaSpace({ memlock: { limit: 100n * SZ_4K } });
    const info = space.info();
    const { asyncReads } = withAsyncMemlock(space);
    await mapBatchAsync(space, buildPlan(pair(0x10_0000n, 30), 'coalesced', info)); // 60 of 100: read once
    expect(asyncReads.n).toBe(1);
    space.map({ vaddr: V + 0x2000_0000n, iova: 0x4000_0000n, size: 20n * SZ_4K }); // behind the ledger's back
    const calls = space.mapCalls;
    // 2 x 11 pages: 82 by the ledger, past three quarters: read again, 80 locked, 20 left: refused, 2 over.
    const e = await mapBatchAsync(space, buildPlan(pair(0x300_0000n, 11), 'coalesced', info)).then(() => null, (x: unknown) => x) as VfioError;
    expect(asyncReads.n).toBe(2);
    expect([e.code, e.args.locked, e.args.over]).toEqual(['ENOMEM', 80n * SZ_4K, 2n * SZ_4K]);
    expect(space.mapCalls).toBe(calls);
  });

  it('skips the check for one entry of at most 512 pages, as mapBatch does', async () => {
    const space = new FakeDmaSpace({ memlock: { limit: 1000n * SZ_4K } });
    const { reads, asyncReads } = withAsyncMemlock(space);
    const r = await mapBatchAsync(space, buildPlan(run(0x10_0000n, 1), 'coalesced', space.info()));
    expect([r.headroom, asyncReads.n, reads.memlock]).toEqual([null, 0, 0]);
  });
});
