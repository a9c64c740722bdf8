import { describe, expect, it, vi } from 'vitest';
import { PROT_RW, SZ_2M, SZ_4K } from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { BatchError, MappedSet, buildPlan, buildUnmapPlan, mapBatch, unmapBatch, type MapRequest, type Plan } from '../../lib/plan/index.js';
import { caught } from './caught.js';
import { FakeDmaSpace, TEST_INFO } from './plan-fake-space.js';
import { FaultyDmaSpace } from './plan-fault-space.js';
import { plannedPages, randomRequests } from './plan-gen.js';

const V = 0x7f00_0000_0000n;
const pages = (iova: bigint, n: number, vaddr = V): MapRequest[] =>
  Array.from({ length: n }, (_, k) => ({ vaddr: vaddr + BigInt(k) * SZ_4K, iova: iova + BigInt(k) * SZ_4K, size: SZ_4K }));
// Six scattered pages: six entries whatever the strategy.
const scattered = (): MapRequest[] => Array.from({ length: 6 }, (_, k) => ({ vaddr: V + BigInt(k) * SZ_4K, iova: 0x100_0000n + BigInt(k) * 0x10_0000n, size: SZ_4K }));

describe('mapBatch / unmapBatch: the plain path', () => {
  it('maps a plan, records it, and unmaps it batched the same way', () => {
    const space = new FakeDmaSpace();
    const tracker = new MappedSet();
    const plan = buildPlan([...pages(0x10_0000n, 512), ...pages(0x40_0000n, 3, V + SZ_2M)], 'coalesced', space.info());
    const r = mapBatch(space, plan, { tracker });
    expect(r).toMatchObject({ op: 'map', strategy: 'coalesced', count: 2, bytes: SZ_2M + 3n * SZ_4K, simulated: true });
    expect(r.ns.length).toBe(2);
    expect(space.mapCalls).toBe(2);
    expect(space.pages()).toEqual(new Map([...plannedPages(plan)].map(([i, p]) => [i, p.vaddr])));
    expect(tracker.spans()).toEqual([{ iova: 0x10_0000n, size: SZ_2M }, { iova: 0x40_0000n, size: 3n * SZ_4K }]);

    const u = unmapBatch(space, buildUnmapPlan(plan), { tracker });
    expect(u.unmapped).toBe(plan.bytes);
    expect(space.mappings).toEqual([]);
    expect(tracker.count).toBe(0);
  });

  it('unmap plans merge IOVA-adjacent mappings but never cut one', () => {
    const space = new FakeDmaSpace();
    // Adjacent in IOVA, not in vaddr: two MAP_DMA calls, one UNMAP_DMA call.
    const plan = buildPlan([...pages(0x10_0000n, 4), ...pages(0x10_4000n, 4, V + 0x100_0000n)], 'coalesced', space.info());
    expect(plan.count).toBe(2);
    mapBatch(space, plan);
    const un = buildUnmapPlan(plan, 'coalesced');
    expect(un.count).toBe(1);
    expect([un.firstRequest[0], un.lastRequest[0]]).toEqual([0, 7]);
    expect(unmapBatch(space, un).unmapped).toBe(0x8000n);
    expect(space.unmapCalls).toBe(1);

    const perPage = buildPlan(pages(0x10_0000n, 8), 'per-page', space.info());
    mapBatch(space, perPage);
    expect(buildUnmapPlan(perPage).count).toBe(8);
    expect(buildUnmapPlan(perPage, 'kernel').count).toBe(1);
    expect(() => buildUnmapPlan(buildPlan(scattered(), 'coalesced', space.info()), 'kernel')).toThrow(/gaps/);
    unmapBatch(space, buildUnmapPlan(perPage, 'kernel'));
    expect(space.mappings).toEqual([]);
  });

  it('a later batch planned around the tracker leaves the earlier one alone', () => {
    const space = new FakeDmaSpace();
    const tracker = new MappedSet();
    mapBatch(space, buildPlan(pages(0x10_2000n, 2), 'coalesced', space.info()), { tracker });
    const plan = buildPlan(pages(0x10_0000n, 8), 'coalesced', space.info(), { existing: tracker, onExisting: 'skip' });
    mapBatch(space, plan, { tracker });
    expect(space.mappings.map((m) => [m.iova, m.size])).toEqual([[0x10_0000n, 0x2000n], [0x10_2000n, 0x2000n], [0x10_4000n, 0x4000n]]);
    expect(tracker.spans()).toEqual([{ iova: 0x10_0000n, size: 0x8000n }]);
  });
});

describe('limits are checked before pinning', () => {
  it('refuses a batch over RLIMIT_MEMLOCK up front with ENOMEM, saying by how much', () => {
    const space = new FakeDmaSpace({ memlock: { limit: 64n * 1024n * 1024n, locked: 60n * 1024n * 1024n } });
    const plan = buildPlan(pages(0x10_0000n, 2048), 'per-page', space.info()); // 8 MiB
    const e = caught(() => mapBatch(space, plan)) as VfioError;
    expect(e).toBeInstanceOf(VfioError);
    expect(e.errno).toBe(Errno.ENOMEM);
    expect(e.args.over).toBe(4n * 1024n * 1024n);
    expect(e.hint).toMatch(/refused before pinning anything.*4194304 bytes \(1024 pages of 4 KiB\) over/);
    expect(space.mapCalls).toBe(0);
  });

  it('refuses a batch with more entries than the container has left with ENOSPC', () => {
    const space = new FakeDmaSpace({ dmaEntryLimit: 100 });
    const e = caught(() => mapBatch(space, buildPlan(pages(0x10_0000n, 101), 'per-page', space.info()))) as VfioError;
    expect([e.code, e.args.entries, e.args.available, e.args.over]).toEqual(['ENOSPC', 101, 100, 1]);
    expect(e.hint).toMatch(/refused before pinning anything/);
    expect(space.mapCalls).toBe(0);
    // coalesced, the same pages need one entry
    expect(mapBatch(space, buildPlan(pages(0x10_0000n, 101), 'coalesced', space.info())).count).toBe(1);
  });

  it('counts what is already locked and used, and lets exactly-fitting batches through', () => {
    const space = new FakeDmaSpace({ memlock: { limit: 16n * SZ_4K }, dmaEntryLimit: 10 });
    mapBatch(space, buildPlan(pages(0x10_0000n, 8), 'coalesced', space.info()));
    const calls = space.mapCalls;
    const e = caught(() => mapBatch(space, buildPlan(pages(0x20_0000n, 9), 'coalesced', space.info()), { checkLimits: true })) as VfioError;
    expect([e.code, e.args.over, space.mapCalls]).toEqual(['ENOMEM', SZ_4K, calls]);
    expect(mapBatch(space, buildPlan(pages(0x20_0000n, 8), 'coalesced', space.info()), { checkLimits: true }).headroom)
      .toEqual({ memlockBytes: 8n * SZ_4K, dmaEntries: 9 });
  });

  it("'auto' leaves one entry of at most 512 pages to the kernel: no limit reads on the single-page path", () => {
    const space = new FakeDmaSpace({ memlock: { limit: 1n << 30n } });
    const info = space.info();
    const single = buildPlan(pages(0x10_0000n, 1), 'coalesced', info);
    const batch512 = buildPlan([{ vaddr: V, iova: 0x20_0000n, size: 512n * SZ_4K }], 'coalesced', info);
    const batch513 = buildPlan([{ vaddr: V, iova: 0x40_0000n, size: 513n * SZ_4K }], 'coalesced', info);
    const two = buildPlan([...pages(0x80_0000n, 1), ...pages(0x90_0000n, 1)], 'coalesced', info);
    // The limits check is the only caller of info() here (the fake's map() reads memlock itself).
    let reads = 0;
    space.info = () => {
      reads++;
      return info;
    };
    expect(mapBatch(space, single).headroom).toBeNull();
    expect(mapBatch(space, batch512).headroom).toBeNull();
    expect(reads).toBe(0);
    // one entry past the kernel's pinning batch, or two entries: checked
    expect(mapBatch(space, batch513).headroom).not.toBeNull();
    expect(mapBatch(space, two).headroom).not.toBeNull();
    // The first check reads the kernel; the second, far from every limit, is judged from the ledger (limits.ts).
    expect(reads).toBe(1);
    // and a small single entry over the limit still fails cleanly, in the kernel
    const tight = new FakeDmaSpace({ memlock: { limit: 0n } });
    const e = caught(() => mapBatch(tight, buildPlan(pages(0x10_0000n, 1), 'coalesced', tight.info()))) as BatchError;
    expect([e.code, e.index, e.completed]).toEqual(['ENOMEM', 0, 0]);
    expect(tight.mappings).toEqual([]);
  });

  it('skips the memlock check under CAP_IPC_LOCK or with no limit', () => {
    for (const memlock of [{ limit: SZ_4K, exempt: true }, { limit: null }]) {
      const space = new FakeDmaSpace({ memlock });
      expect(mapBatch(space, buildPlan(pages(0x10_0000n, 64), 'per-page', space.info())).count).toBe(64);
    }
  });

  it('without the check, the kernel fails mid-batch and the batch still unwinds', () => {
    const space = new FakeDmaSpace({ memlock: { limit: 4n * SZ_4K } });
    const e = caught(() => mapBatch(space, buildPlan(pages(0x10_0000n, 8), 'per-page', space.info()), { checkLimits: false })) as BatchError;
    expect(e).toBeInstanceOf(BatchError);
    expect([e.code, e.index, e.completed]).toEqual(['ENOMEM', 4, 4]);
    expect(space.mappings).toEqual([]);
  });
});

describe('all or nothing, under a failure at every position', () => {
  for (const mode of ['runPlan', 'map'] as const) {
    for (const strategy of ['per-page', 'coalesced'] as const) {
      it(`${strategy}, failures injected via ${mode}(): unwinds to the prior state and names the entry`, () => {
        const info = TEST_INFO;
        const reqs = randomRequests(7, 12);
        const plan = buildPlan(reqs, strategy, info);
        expect(plan.count).toBeGreaterThan(3);
        for (let n = 0; n < plan.count; n++) {
          const fake = new FakeDmaSpace();
          const space = new FaultyDmaSpace(fake, { mode });
          // Earlier mappings the batch must leave alone (made via map(), counted as attempts 0 and 1).
          space.map({ vaddr: V, iova: 0x8000_0000n, size: SZ_2M, prot: PROT_RW });
          space.map({ vaddr: V, iova: 0x9000_0000n, size: SZ_4K });
          const before = fake.snapshot();
          space.faults.mapAt = 2 + n;
          const e = caught(() => mapBatch(space, plan)) as BatchError;
          expect(e, `fail at ${n}`).toBeInstanceOf(BatchError);
          expect(e).toBeInstanceOf(VfioError);
          expect([e.errno, e.index, e.completed, e.leaked.length]).toEqual([Errno.EFAULT, n, n, 0]);
          expect([e.firstRequest, e.lastRequest]).toEqual([plan.firstRequest[n], plan.lastRequest[n]]);
          expect(e.iova).toBe(plan.entries[n * 4 + 1]);
          expect(e.message).toMatch(new RegExp(`entry=${n} of=${plan.count}`));
          expect(e.hint).toMatch(new RegExp(`the ${n} entries mapped before it were unmapped again`));
          expect(fake.snapshot(), `fail at ${n}`).toBe(before);
          expect(space.injected).toBe(1);
        }
        // Like fail_nth: one past the last position, nothing is hit and the batch maps.
        const fake = new FakeDmaSpace();
        const space = new FaultyDmaSpace(fake, { mode, mapAt: plan.count });
        mapBatch(space, plan);
        expect([space.injected, fake.mappings.length]).toEqual([0, plan.count]);
      });
    }
  }

  it('with no fault the same batch maps everything (the injector is not always failing)', () => {
    const plan = buildPlan(randomRequests(7, 12), 'per-page', TEST_INFO);
    const fake = new FakeDmaSpace();
    mapBatch(fake, plan);
    expect(fake.mappings.length).toBe(plan.count);
  });

  it('an unwind whose unmap fails is reported loudly, with exactly what is still mapped', () => {
    const plan = buildPlan(scattered(), 'coalesced', TEST_INFO);
    const fake = new FakeDmaSpace();
    // Map attempt 4 fails; then every unmap fails: the 4 mapped entries leak.
    const space = new FaultyDmaSpace(fake, { mapAt: 4, unmapFails: () => true });
    const tracker = new MappedSet();
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const e = caught(() => mapBatch(space, plan, { tracker })) as BatchError;
      expect(e).toBeInstanceOf(BatchError);
      expect(e.index).toBe(4);
      expect(e.leaked.length / 4).toBe(4);
      expect(e.leakedSpans()).toEqual(fake.mappings.map((m) => ({ iova: m.iova, size: m.size })));
      expect(e.unwindFailures.map((f) => f.index)).toEqual([0, 1, 2, 3]);
      expect(e.message).toMatch(/undoing it FAILED: 4 entries .* STILL MAPPED/);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/STILL MAPPED/), expect.objectContaining({ code: 'VFIO_DMA_LEAK' }));
      expect(tracker.spans()).toEqual(e.leakedSpans());
    } finally {
      warn.mockRestore();
    }
  });

  it('an unwind unmap failing at every position leaks exactly that entry, and says so', () => {
    const plan = buildPlan(scattered(), 'coalesced', TEST_INFO);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      for (let n = 1; n < plan.count; n++) {
        for (let m = 0; m < n; m++) {
          const fake = new FakeDmaSpace();
          const space = new FaultyDmaSpace(fake, { mapAt: n, unmapFails: (k) => k === m, mode: m % 2 ? 'map' : 'runPlan' });
          const e = caught(() => mapBatch(space, plan)) as BatchError;
          const leaked = { iova: plan.entries[m * 4 + 1], size: SZ_4K };
          expect(e.leakedSpans(), `map fails at ${n}, unmap at ${m}`).toEqual([leaked]);
          expect(fake.mappings.map((x) => ({ iova: x.iova, size: x.size }))).toEqual([leaked]);
        }
      }
      expect(warn).toHaveBeenCalledTimes((plan.count * (plan.count - 1)) / 2);
    } finally {
      warn.mockRestore();
    }
  });

  it('an unwind unmap that fails transiently (EINTR/EAGAIN) is retried once, and nothing leaks', () => {
    for (const mode of ['runPlan', 'map'] as const) {
      const plan = buildPlan(scattered(), 'coalesced', TEST_INFO);
      const fake = new FakeDmaSpace();
      const space = new FaultyDmaSpace(fake, { mapAt: 5, unmapFails: (k) => k === 2, mode, errno: Errno.EAGAIN });
      const e = caught(() => mapBatch(space, plan)) as BatchError;
      expect([e.index, e.leaked.length]).toEqual([5, 0]);
      expect(fake.mappings).toEqual([]);
      expect(space.injected).toBe(2);
    }
  });

  it('a failure that would only fail again is not retried', () => {
    const plan = buildPlan(scattered(), 'coalesced', TEST_INFO);
    const fake = new FakeDmaSpace();
    // EFAULT on unmap attempt 2: reported at once, the unwind moves on to entry 3
    const space = new FaultyDmaSpace(fake, { mapAt: 4, unmapFails: (k) => k === 2 });
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const e = caught(() => mapBatch(space, plan)) as BatchError;
      expect(e.unwindFailures).toEqual([{ index: 2, errno: Errno.EFAULT, code: 'EFAULT' }]);
      expect(space.unmapAttempts).toBe(4);
    } finally {
      warn.mockRestore();
    }
  });

  it('partial unwind failure: only the entries whose retried unmap failed again are reported', () => {
    const plan = buildPlan(scattered(), 'coalesced', TEST_INFO);
    const fake = new FakeDmaSpace();
    // attempts: 0 ok, 1 fails (EAGAIN), 2 (retry of entry 1) fails, then the rest succeed
    const space = new FaultyDmaSpace(fake, { mapAt: 3, unmapFails: (k) => k === 1 || k === 2, errno: Errno.EAGAIN });
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const e = caught(() => mapBatch(space, plan)) as BatchError;
      expect(e.unwindFailures.map((f) => f.index)).toEqual([1]);
      expect(e.leakedSpans()).toEqual([{ iova: plan.entries[1 * 4 + 1], size: SZ_4K }]);
      expect(fake.mappings.map((m) => m.iova)).toEqual([plan.entries[1 * 4 + 1]]);
    } finally {
      warn.mockRestore();
    }
  });

  it('unmapBatch carries on past failed entries and reports what is left', () => {
    const plan = buildPlan(scattered(), 'coalesced', TEST_INFO);
    const fake = new FakeDmaSpace();
    mapBatch(fake, plan);
    const tracker = new MappedSet();
    tracker.addPlan(plan.entries);
    const space = new FaultyDmaSpace(fake, { unmapFails: (k) => k === 2 || k === 4 });
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const e = caught(() => unmapBatch(space, plan, { tracker })) as BatchError;
      expect(e.op).toBe('UNMAP_DMA plan');
      expect([e.index, e.completed]).toEqual([2, 4]);
      const left = [2, 4].map((k) => ({ iova: plan.entries[k * 4 + 1], size: SZ_4K }));
      expect(e.leakedSpans()).toEqual(left);
      expect(fake.mappings.map((m) => ({ iova: m.iova, size: m.size }))).toEqual(left);
      expect(tracker.spans()).toEqual(left);
      expect(e.message).toMatch(/2 entries .* could not be unmapped and are STILL MAPPED; the other 4 entries were unmapped/);
    } finally {
      warn.mockRestore();
    }
  });

  it('a plan built by hand (no request coverage) still unwinds and reports the entry', () => {
    const entries = new BigUint64Array([V, 0x10_0000n, SZ_4K, 3n, V, 0x20_0000n, SZ_4K, 3n]);
    const plan = { strategy: 'coalesced', entries, count: 2, bytes: 2n * SZ_4K, pages: 2n, pageSize: SZ_4K } as unknown as Plan;
    const fake = new FakeDmaSpace();
    const e = caught(() => mapBatch(new FaultyDmaSpace(fake, { mapAt: 1 }), plan)) as BatchError;
    expect([e.index, e.firstRequest, e.lastRequest]).toEqual([1, -1, -1]);
    expect(e.hint).toMatch(/entry 1 of 2 failed; the 1 entries mapped before it were unmapped again/);
    expect(fake.mappings).toEqual([]);
    expect(() => mapBatch(fake, { ...plan, count: 3 })).toThrow(RangeError);
  });

  it('property: random plans, random failure position, prior state restored', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const plan: Plan = buildPlan(randomRequests(seed, 10), seed % 2 ? 'coalesced' : 'per-page', TEST_INFO);
      if (plan.count === 0) continue;
      const fake = new FakeDmaSpace();
      mapBatch(fake, buildPlan(pages(0x8000_0000n, 3), 'coalesced', TEST_INFO));
      const before = fake.snapshot();
      const at = seed % plan.count;
      const space = new FaultyDmaSpace(fake, { mapAt: at, mode: seed % 3 ? 'runPlan' : 'map' });
      const e = caught(() => mapBatch(space, plan)) as BatchError;
      expect(e.index, `seed ${seed}`).toBe(at);
      expect(fake.snapshot(), `seed ${seed}`).toBe(before);
    }
  });
});
