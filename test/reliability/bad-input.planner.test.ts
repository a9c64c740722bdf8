// Bad input to the layers above the seam: the planner (buildPlan, unmap plans,
// batches), the IOVA allocator, the alignment advisor, MappedSet and the dirty
// bitmap helpers. Each refusal is a TypeError / RangeError (nothing was asked
// of the kernel yet) or a VfioError; a refused batch leaves nothing mapped.
import { describe, expect, it } from 'vitest';
import { PLAN_STRIDE, type Container, type DmaSpace, type IommuInfo } from '../../lib/backend.js';
import {
  IovaAllocator, MappedSet, adviseAlignment, buildPlan, buildUnmapPlan, checkLimits, dirty, mapBatch, unmapBatch,
  type MapRequest, type Plan,
} from '../../lib/plan/index.js';
import { SIM_DEFAULT_GROUP, SimBackend } from '../../lib/sim/index.js';
import { runTable, type Case } from './bad-input/table.js';

const PAGE = 0x1000n;
const U64 = 1n << 64n;
type Loose = (...args: unknown[]) => unknown;

function simSpace(limit = 64n << 20n): { c: Container; vaddr: bigint; close(): void } {
  const backend = new SimBackend({ memlock: { limit, exempt: false } });
  const c = backend.openContainer();
  const g = backend.openGroup(SIM_DEFAULT_GROUP);
  g.setContainer(c);
  c.setIommu('type1v2');
  const buf = backend.allocBuffer({ size: 256n * PAGE, backing: '4k' });
  return { c, vaddr: buf.vaddr, close: () => { c.close(); g.close(); buf.close(); } };
}

describe('bad input: planner', () => {
  it('buildPlan: shapes, types, geometry, overlaps, strategies', () => {
    const s = simSpace();
    const info = s.c.info();
    const ok: MapRequest = { vaddr: s.vaddr, iova: 0x10_0000n, size: PAGE };
    const plan = (reqs: unknown, ...rest: unknown[]) => () =>
      (buildPlan as Loose)(reqs, ...(rest.length ? rest : ['coalesced']), ...(rest.length < 2 ? [info] : []));
    const req = (patch: Record<string, unknown>) => plan([{ ...ok, ...patch }]);
    const cases: Case[] = [
      { name: 'requests undefined', call: plan(undefined), expect: 'TypeError' },
      { name: 'requests null', call: plan(null), expect: 'TypeError' },
      { name: 'requests a string', call: plan('map'), expect: 'TypeError' },
      { name: 'requests [null]', call: plan([null]), expect: 'TypeError' },
      { name: 'requests a Uint32Array', call: plan(new Uint32Array(4)), expect: 'TypeError' },
      { name: 'requests a BigUint64Array of 3 words', call: plan(new BigUint64Array(3)), expect: 'RangeError' },
      { name: 'strategy "fast"', call: plan([ok], 'fast'), expect: 'TypeError' },
      { name: 'strategy undefined', call: plan([ok], undefined), expect: 'TypeError' },
      { name: 'info null', call: plan([ok], 'coalesced', null), expect: 'TypeError' },
      { name: 'info with no ranges', call: plan([ok], 'coalesced', { ...info, ranges: [] }), expect: 'RangeError' },
      { name: 'info with unsorted ranges', call: plan([ok], 'coalesced', { ...info, ranges: [...info.ranges].reverse() }), expect: 'RangeError' },
      { name: 'info pageSizes 0', call: plan([ok], 'coalesced', { ...info, pageSizes: 0n }), expect: 'RangeError' },
      { name: 'maxEntrySize a number', call: plan([ok], 'coalesced', info, { maxEntrySize: 4096 }), expect: 'TypeError' },
      { name: 'maxEntrySize 0', call: plan([ok], 'coalesced', info, { maxEntrySize: 0n }), expect: 'RangeError' },
      { name: 'maxEntrySize half a page', call: plan([ok], 'coalesced', info, { maxEntrySize: 0x800n }), expect: 'RangeError' },
      { name: 'existing not a MappedSet', call: plan([ok], 'coalesced', info, { existing: {} }), expect: 'TypeError' },
    ];
    for (const f of ['vaddr', 'iova', 'size'] as const) {
      cases.push({ name: `request ${f} a number`, call: req({ [f]: 4096 }), expect: 'TypeError' });
      cases.push({ name: `request ${f} undefined`, call: req({ [f]: undefined }), expect: 'TypeError' });
      cases.push({ name: `request ${f} -1n`, call: req({ [f]: -1n }), expect: 'RangeError' });
      cases.push({ name: `request ${f} 2^64`, call: req({ [f]: U64 }), expect: 'RangeError' });
      cases.push({ name: `request ${f} unaligned`, call: req({ [f]: ok[f] + 0x800n }), expect: 'RangeError' });
    }
    cases.push(
      { name: 'request size 0', call: req({ size: 0n }), expect: 'RangeError' },
      { name: 'request prot "rw"', call: req({ prot: 'rw' }), expect: 'TypeError' },
      { name: 'request prot 0', call: req({ prot: 0 }), expect: 'RangeError' },
      { name: 'request prot 4', call: req({ prot: 4 }), expect: 'RangeError' },
      { name: 'request prot -1', call: req({ prot: -1 }), expect: 'RangeError' },
      { name: 'request prot 2^32 + 3', call: req({ prot: 2 ** 32 + 3 }), expect: 'RangeError' },
      { name: 'iova + size wraps 2^64', call: req({ iova: U64 - PAGE, size: 2n * PAGE }), expect: 'RangeError' },
      { name: 'vaddr + size wraps 2^64', call: req({ vaddr: U64 - PAGE, size: 2n * PAGE }), expect: 'RangeError' },
      { name: 'iova in the MSI window', call: req({ iova: 0xfee0_0000n }), expect: 'RangeError' },
      { name: 'iova beyond the aperture', call: req({ iova: 1n << 62n }), expect: 'RangeError' },
      { name: 'two requests for the same IOVA', call: plan([ok, { ...ok, vaddr: ok.vaddr + PAGE }]), expect: 'RangeError' },
      { name: 'overlapping requests, unsorted', call: plan([{ ...ok, iova: ok.iova + PAGE, size: 2n * PAGE }, { ...ok, size: 2n * PAGE }]), expect: 'RangeError' },
      { name: "'kernel' with two separate runs", call: plan([ok, { ...ok, iova: ok.iova + 4n * PAGE }], 'kernel'), expect: 'RangeError' },
    );
    const existing = new MappedSet();
    existing.add(ok.iova, PAGE);
    cases.push({ name: 'a request already mapped (existing)', call: plan([ok], 'coalesced', info, { existing }), expect: 'VfioError:EEXIST' });
    try {
      runTable('buildPlan', 'planner', cases);
    } finally {
      s.close();
    }
  });

  it('mapBatch / unmapBatch / checkLimits: bad plans are refused, failed batches leave nothing mapped', () => {
    // RLIMIT_MEMLOCK 512 KiB, less than the 1 MiB buffer: a plan for all of it runs into the limit before any hole.
    const s = simSpace(512n << 10n);
    const info = s.c.info();
    const good = buildPlan([{ vaddr: s.vaddr, iova: 0x10_0000n, size: 4n * PAGE }], 'per-page', info);
    const locked = s.c.memlock().locked;
    s.c.map({ vaddr: s.vaddr, iova: 0x10_2000n, size: PAGE }); // entry 2 of `good` collides with it
    const tooBig = buildPlan([{ vaddr: s.vaddr, iova: 0x100_0000n, size: 256n * PAGE }], 'kernel', info);
    const withCount = (p: Plan, count: number): Plan => ({ ...p, count });
    const cases: Case[] = [
      { name: 'mapBatch(null space)', call: () => (mapBatch as Loose)(null, good), expect: 'TypeError' },
      { name: 'mapBatch(plan null)', call: () => (mapBatch as Loose)(s.c, null), expect: 'TypeError' },
      { name: 'mapBatch(plan {})', call: () => (mapBatch as Loose)(s.c, {}), expect: 'TypeError' },
      { name: 'mapBatch(plan with Array entries)', call: () => mapBatch(s.c, { ...good, entries: [] as unknown as BigUint64Array }), expect: 'TypeError' },
      { name: 'mapBatch(count larger than entries)', call: () => mapBatch(s.c, withCount(good, good.count + 1)), expect: 'RangeError' },
      { name: 'mapBatch(count -1)', call: () => mapBatch(s.c, withCount(good, -1)), expect: 'RangeError' },
      { name: 'mapBatch entry 2 collides: EEXIST, entries 0-1 unwound', call: () => mapBatch(s.c, good), expect: 'VfioError:EEXIST' },
      { name: 'mapBatch past RLIMIT_MEMLOCK (512 KiB): ENOMEM before pinning', call: () => mapBatch(s.c, tooBig), expect: 'VfioError:ENOMEM' },
      { name: 'mapBatch past RLIMIT_MEMLOCK, limits check off: ENOMEM from the kernel', call: () => mapBatch(s.c, tooBig, { checkLimits: false }), expect: 'VfioError:ENOMEM' },
      { name: 'unmapBatch(plan null)', call: () => (unmapBatch as Loose)(s.c, null), expect: 'TypeError' },
      { name: 'checkLimits(null space)', call: () => (checkLimits as Loose)(null, good), expect: 'TypeError' },
      { name: 'buildUnmapPlan(null)', call: () => (buildUnmapPlan as Loose)(null), expect: 'TypeError' },
    ];
    try {
      runTable('batches', 'planner', cases);
      // Only the page mapped by hand is still there: the failed batches unwound completely.
      expect(s.c.memlock().locked - locked).toBe(PAGE);
      expect(s.c.unmapAll()).toBe(PAGE);
    } finally {
      s.close();
    }
  });

  it('IovaAllocator, adviseAlignment, MappedSet and dirty bitmaps', () => {
    const info: IommuInfo = { pageSizes: 0x4020_1000n, ranges: [{ start: 0n, last: (1n << 39n) - 1n }], dmaAvail: 65535, migration: null };
    const a = new IovaAllocator(info);
    const at = a.alloc(4n * PAGE);
    const ms = new MappedSet();
    ms.add(0x10_0000n, PAGE);
    const bits = new BigUint64Array(1);
    const m = (fn: unknown, self: unknown, ...args: unknown[]) => () => (fn as Loose).apply(self, args);
    const cases: Case[] = [
      { name: 'new IovaAllocator(null)', call: () => new (IovaAllocator as unknown as new (x: unknown) => unknown)(null), expect: 'TypeError' },
      { name: 'new IovaAllocator(no ranges)', call: () => new IovaAllocator({ ...info, ranges: [] }), expect: 'RangeError' },
      { name: 'new IovaAllocator(range past 2^64)', call: () => new IovaAllocator({ ...info, ranges: [{ start: 0n, last: U64 }] }), expect: 'RangeError' },
      { name: 'alloc(0n)', call: () => a.alloc(0n), expect: 'RangeError' },
      { name: 'alloc(-4096n)', call: () => a.alloc(-PAGE), expect: 'RangeError' },
      { name: 'alloc(4096) a number', call: m(a.alloc, a, 4096), expect: 'TypeError' },
      { name: 'alloc(undefined)', call: m(a.alloc, a, undefined), expect: 'TypeError' },
      { name: 'alloc(half a page)', call: () => a.alloc(0x800n), expect: 'RangeError' },
      { name: 'alloc(2^64)', call: () => a.alloc(U64), expect: 'RangeError' },
      { name: 'alloc(2^63): more than the aperture', call: () => a.alloc(1n << 63n), expect: ['VfioError:ENOMEM', 'RangeError'] },
      { name: 'alloc align 3n', call: () => a.alloc(PAGE, { align: 3n }), expect: 'RangeError' },
      { name: 'alloc align 0n', call: () => a.alloc(PAGE, { align: 0n }), expect: 'RangeError' },
      { name: 'alloc align 4096 a number', call: () => a.alloc(PAGE, { align: 4096 as unknown as bigint }), expect: ['TypeError', 'RangeError'] },
      { name: 'alloc vaddr -1n', call: () => a.alloc(PAGE, { vaddr: -1n }), expect: 'RangeError' },
      { name: 'reserve an allocated range', call: () => a.reserve(at, PAGE), expect: 'RangeError' },
      { name: 'reserve past the aperture', call: () => a.reserve(1n << 39n, PAGE), expect: 'RangeError' },
      { name: 'free a range never allocated', call: () => a.free(1n << 30n, PAGE), expect: 'RangeError' },
      { name: 'free twice', call: () => { a.free(at, 4n * PAGE); a.free(at, 4n * PAGE); }, expect: 'RangeError' },
      { name: 'free(0 bytes)', call: () => a.free(at, 0n), expect: 'RangeError' },
      { name: 'free unaligned', call: () => a.free(at + 0x800n, PAGE), expect: 'RangeError' },
      { name: 'adviseAlignment backing "huge"', call: m(adviseAlignment, null, [], info, { backing: 'huge' }), expect: 'TypeError' },
      { name: 'adviseAlignment requests null', call: m(adviseAlignment, null, null, info, { backing: '4k' }), expect: 'TypeError' },
      { name: 'MappedSet.addPlan with a count too big', call: () => ms.addPlan(new BigUint64Array(PLAN_STRIDE), 2), expect: 'RangeError' },
      { name: 'dirtyView bitmap too short', call: () => dirty.dirtyView({ pageSize: PAGE, bits }, 0n, 65n * PAGE), expect: 'RangeError' },
      { name: 'dirtyView page size 3n', call: () => dirty.dirtyView({ pageSize: 3n, bits }, 0n, PAGE), expect: 'RangeError' },
      { name: 'dirtyView page size 0n', call: () => dirty.dirtyView({ pageSize: 0n, bits }, 0n, PAGE), expect: 'RangeError' },
      { name: 'setBits past the end', call: () => dirty.setBits(bits, 60, 5), expect: 'RangeError' },
      { name: 'setBits negative start', call: () => dirty.setBits(bits, -1, 1), expect: 'RangeError' },
      { name: 'setBits start 1.5', call: () => dirty.setBits(bits, 1.5, 1), expect: 'RangeError' },
      { name: 'countBits count NaN', call: () => dirty.countBits(bits, 0, Number.NaN), expect: 'RangeError' },
      { name: 'resampleDirty page size 3n', call: () => dirty.resampleDirty(dirty.emptyDirty(0n, PAGE, PAGE), 0n, PAGE, 3n), expect: 'RangeError' },
    ];
    runTable('allocator, advisor, MappedSet, dirty', 'planner', cases);
    // The allocator still works after every refusal, and has the space the double free gave back.
    expect(a.alloc(4n * PAGE)).toBe(at);
  });
});

// DmaSpace is what the planner takes: make sure a DmaSpace-shaped sim satisfies the type here.
export type _Space = DmaSpace;
