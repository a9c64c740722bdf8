// The planner's all-or-nothing batches against real Backends: SimBackend
// always, the native backend where VFIO_TEST_GROUP names an IOMMU group (the
// HIL lane's edu device). Faults are injected with the same wrapper as the unit
// tests; state is read back from the container itself (on TYPE1v2 an unmap of
// an unmapped span returns 0 bytes, of a whole mapping its size).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PLAN_IOVA, PLAN_SIZE, PLAN_STRIDE, SZ_2M, SZ_4K, type Backend, type Container, type DmaBuffer } from '../../lib/backend.js';
import { Errno, VfioError } from '../../lib/errors.js';
import { BatchError, MappedSet, buildPlan, buildUnmapPlan, mapBatch, unmapBatch, type MapRequest, type Plan } from '../../lib/plan/index.js';
import { SimBackend, SIM_DEFAULT_GROUP } from '../../lib/sim/index.js';
import { FaultyDmaSpace } from '../unit/plan-fault-space.js';

interface Target {
  label: string;
  group: number;
  /** `defer` runs after the test, after its container and group are closed. */
  backend(opts: { dmaEntryLimit?: number; memlockLimit?: bigint }, defer: (fn: () => void) => void): Backend;
  /** null if a memlock limit can be enforced on this backend, else why not. */
  memlockUnsupported: string | null;
}

function defineTransactional(t: Target): void {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    while (cleanups.length) {
      try {
        cleanups.pop()!();
      } catch {
        /* already closed */
      }
    }
  });

  function open(opts?: { dmaEntryLimit?: number; memlockLimit?: bigint }): { backend: Backend; c: Container; base: bigint } {
    const backend = t.backend(opts ?? {}, (fn) => cleanups.push(fn));
    const c = backend.openContainer();
    cleanups.push(() => c.close());
    const g = backend.openGroup(t.group);
    cleanups.push(() => g.close());
    g.setContainer(c);
    c.setIommu('type1v2');
    // 2 MiB-aligned room for 64 MiB inside one usable range, away from IOVA 0.
    const r = c.info().ranges.find((x) => x.last - x.start >= 0x800_0000n);
    if (!r) throw new Error('no usable IOVA range of 128 MiB');
    const base = ((r.start + SZ_2M - 1n) / SZ_2M + 1n) * SZ_2M;
    return { backend, c, base };
  }

  function buffer(backend: Backend, pages: number): DmaBuffer {
    const b = backend.allocBuffer({ size: BigInt(pages) * SZ_4K, backing: '4k', prefault: true });
    // Buffers close last: a container still mapping one must go first.
    cleanups.unshift(() => b.close());
    return b;
  }

  /** Six pages of buf at IOVAs 1 MiB apart: six entries under any strategy. */
  function scattered(buf: DmaBuffer, base: bigint): MapRequest[] {
    return Array.from({ length: 6 }, (_, k) => ({ vaddr: buf.vaddr + BigInt(k) * SZ_4K, iova: base + BigInt(k) * 0x10_0000n, size: SZ_4K }));
  }

  /** Unmaps each entry's span and says which were mapped (destructive: use at the end). */
  function mappedEntries(c: Container, plan: Plan): boolean[] {
    const out: boolean[] = [];
    for (let k = 0; k < plan.count; k++) {
      const o = k * PLAN_STRIDE;
      out.push(c.unmap(plan.entries[o + PLAN_IOVA] as bigint, plan.entries[o + PLAN_SIZE] as bigint) === plan.entries[o + PLAN_SIZE]);
    }
    return out;
  }

  describe(`plan batches on ${t.label}`, () => {
    it('maps a coalesced batch in one call per run and unmaps it the same way', () => {
      const { backend, c, base } = open();
      const buf = buffer(backend, 512);
      const reqs = Array.from({ length: 512 }, (_, k) => ({ vaddr: buf.vaddr + BigInt(k) * SZ_4K, iova: base + BigInt(k) * SZ_4K, size: SZ_4K }));
      const plan = buildPlan(reqs, 'coalesced', c.info());
      expect(plan.count).toBe(1);
      const tracker = new MappedSet();
      const r = mapBatch(c, plan, { tracker });
      expect([r.count, r.bytes, r.simulated]).toEqual([1, SZ_2M, backend.simulated]);
      // really mapped: mapping any page of it again is EEXIST
      expect(() => c.map({ vaddr: buf.vaddr, iova: base + 0x1000n, size: SZ_4K })).toThrow(VfioError);
      const u = unmapBatch(c, buildUnmapPlan(plan), { tracker });
      expect(u.unmapped).toBe(SZ_2M);
      expect(tracker.count).toBe(0);
      expect(c.unmap(base, SZ_2M)).toBe(0n);
    });

    for (const strategy of ['per-page', 'coalesced'] as const) {
      it(`${strategy}: a failure injected at every position unwinds the batch and keeps earlier mappings`, () => {
        const { backend, c, base } = open();
        const buf = buffer(backend, 8);
        const plan = buildPlan(scattered(buf, base), strategy, c.info());
        expect(plan.count).toBe(6);
        const earlier = base + 0x100_0000n;
        for (let n = 0; n < plan.count; n++) {
          c.map({ vaddr: buf.vaddr, iova: earlier, size: 2n * SZ_4K });
          const space = new FaultyDmaSpace(c, { mapAt: n, mode: n % 2 ? 'map' : 'runPlan' });
          let err: unknown;
          try {
            mapBatch(space, plan);
          } catch (e) {
            err = e;
          }
          expect(err, `fault at ${n}`).toBeInstanceOf(BatchError);
          expect([(err as BatchError).index, (err as BatchError).completed, (err as BatchError).leaked.length]).toEqual([n, n, 0]);
          expect(mappedEntries(c, plan), `fault at ${n}`).toEqual([false, false, false, false, false, false]);
          expect(c.unmap(earlier, 2n * SZ_4K), 'the earlier mapping survived').toBe(2n * SZ_4K);
        }
      });
    }

    it('a real kernel refusal mid-batch (EEXIST on entry 3) is unwound too', () => {
      const { backend, c, base } = open();
      const buf = buffer(backend, 8);
      const reqs = scattered(buf, base);
      // Mapped behind the planner's back, so only the kernel can refuse it.
      c.map({ vaddr: buf.vaddr + 7n * SZ_4K, iova: reqs[3]!.iova, size: SZ_4K });
      const plan = buildPlan(reqs, 'coalesced', c.info());
      let err: unknown;
      try {
        mapBatch(c, plan);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BatchError);
      expect([(err as BatchError).code, (err as BatchError).index, (err as BatchError).firstRequest]).toEqual(['EEXIST', 3, 3]);
      expect(mappedEntries(c, plan)).toEqual([false, false, false, true, false, false]); // entry 3's span is the earlier mapping
    });

    it('an unwind whose unmaps fail reports exactly what is still mapped', () => {
      const { backend, c, base } = open();
      const buf = buffer(backend, 8);
      const plan = buildPlan(scattered(buf, base), 'coalesced', c.info());
      // Unmap attempt 1 fails (EFAULT: not retried), so entry 1 stays mapped.
      const space = new FaultyDmaSpace(c, { mapAt: 4, unmapFails: (k) => k === 1 });
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
      let err: unknown;
      try {
        mapBatch(space, plan);
      } catch (e) {
        err = e;
      } finally {
        warn.mockRestore();
      }
      expect(err).toBeInstanceOf(BatchError);
      const e = err as BatchError;
      expect(e.unwindFailures.map((f) => f.index)).toEqual([1]);
      expect(e.leakedSpans()).toEqual([{ iova: plan.entries[PLAN_STRIDE + PLAN_IOVA], size: SZ_4K }]);
      expect(mappedEntries(c, plan)).toEqual([false, true, false, false, false, false]);
    });

    it('refuses a batch over the DMA entry limit before mapping anything', () => {
      const { backend, c, base } = open({ dmaEntryLimit: 4 });
      const avail = c.info().dmaAvail;
      expect(avail).toBe(4);
      const buf = buffer(backend, 8);
      const plan = buildPlan(scattered(buf, base), 'per-page', c.info());
      let err: unknown;
      try {
        mapBatch(c, plan);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(VfioError);
      expect([(err as VfioError).errno, (err as VfioError).args.over]).toEqual([Errno.ENOSPC, 2]);
      expect(mappedEntries(c, plan)).toEqual([false, false, false, false, false, false]);
      expect(c.info().dmaAvail).toBe(4);
    });

    it.skipIf(t.memlockUnsupported !== null)(`refuses a batch over RLIMIT_MEMLOCK before pinning (${t.memlockUnsupported ?? 'enforced'})`, () => {
      const { backend, c, base } = open({ memlockLimit: 0x10_0000n });
      const buf = buffer(backend, 1024);
      const before = c.memlock().locked;
      // One 4 MiB entry: more than the kernel pins before it checks, so checked here first.
      const plan = buildPlan([{ vaddr: buf.vaddr, iova: base, size: 2n * SZ_2M }], 'coalesced', c.info());
      let err: unknown;
      try {
        mapBatch(c, plan);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(VfioError);
      expect((err as VfioError).errno).toBe(Errno.ENOMEM);
      expect((err as VfioError).hint).toMatch(/refused before pinning/);
      expect(c.memlock().locked).toBe(before);
      expect(c.unmap(base, 2n * SZ_2M)).toBe(0n);
    });
  });
}

defineTransactional({
  label: 'SimBackend',
  group: SIM_DEFAULT_GROUP,
  backend: (opts) => new SimBackend({
    ...(opts.dmaEntryLimit !== undefined ? { dmaEntryLimit: opts.dmaEntryLimit } : {}),
    ...(opts.memlockLimit !== undefined ? { memlock: { limit: opts.memlockLimit, exempt: false } } : {}),
  }),
  memlockUnsupported: null,
});

const group = process.env['VFIO_TEST_GROUP'];
const skipNative = 'needs VFIO_TEST_GROUP (IOMMU group of a device bound to vfio-pci): runs in the HIL lane';
describe.skipIf(!group)(`native backend (${group ? `group ${group}` : skipNative})`, async () => {
  // vitest still runs a skipped suite's body to list its tests: touch nothing real then.
  if (!group) {
    it('transactional plan batches on the kernel', () => {});
    return;
  }
  const { NativeBackend } = await import('../../lib/native/index.js');
  const { readFileSync, writeFileSync } = await import('node:fs');
  const LIMIT = '/sys/module/vfio_iommu_type1/parameters/dma_entry_limit';
  const exempt = new NativeBackend().openContainer();
  const memlock = exempt.memlock();
  exempt.close();
  defineTransactional({
    label: 'NativeBackend',
    group: Number(group),
    backend: (opts, defer) => {
      if (opts.memlockLimit !== undefined) throw new Error('a process cannot lower its own RLIMIT_MEMLOCK here');
      if (opts.dmaEntryLimit !== undefined) {
        // Read when the container gets its IOMMU type: set it now, restore after the test.
        const saved = readFileSync(LIMIT, 'utf8').trim();
        writeFileSync(LIMIT, String(opts.dmaEntryLimit));
        defer(() => writeFileSync(LIMIT, saved));
      }
      return new NativeBackend();
    },
    memlockUnsupported: memlock.exempt ? 'this process holds CAP_IPC_LOCK, the limit is not enforced' : 'RLIMIT_MEMLOCK is this process\'s own',
  });
});
