// The stand-in space `vfio bench --suite overhead` measures
// (native/overhead_space.h), through the real addon on any Linux host: it must
// go the container's whole way (the seam's checks, the hot calls of
// native/space_calls.h, the one executor, the container's books with their
// pins) with a container's refusals, or the suite would be timing some other path.
import { afterEach, describe, expect, it } from 'vitest';
import { PLAN_STRIDE, PROT_RW, type DmaSpace } from '../../lib/backend.js';
import { Errno } from '../../lib/errors.js';
import type { NativeContainer } from '../../lib/native/addon.js';
import { NativeBackendContainer } from '../../lib/native/container.js';
import { NativeBackend } from '../../lib/native/index.js';
import { overheadSource } from '../../lib/open.js';
import { SimBackend } from '../../lib/sim/index.js';
import { U64_MAX, addon, expectVfioError, openStandIn } from './helpers.js';

const PAGE = 4096n;
const opened: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
});

const standIn = () => openStandIn(opened);

/** A container over /dev/null through the seam: its ioctls answer ENOTTY. */
function nullContainer(): { space: NativeBackendContainer; raw: NativeContainer } {
  const raw = addon.openContainer('/dev/null');
  const space = new NativeBackendContainer(addon, raw);
  opened.push(space);
  return { space, raw };
}

function pagesPlan(iova: bigint, vaddr: bigint, n: number): BigUint64Array {
  const p = new BigUint64Array(n * PLAN_STRIDE);
  for (let k = 0; k < n; k++) p.set([vaddr + BigInt(k) * PAGE, iova + BigInt(k) * PAGE, PAGE, BigInt(PROT_RW)], k * PLAN_STRIDE);
  return p;
}

/** The error class and message a call throws, to compare two objects' refusals. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return `${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
  return 'no error';
}

describe('overhead space: the argument checks are the container\'s own', () => {
  const bad: Array<[string, (x: DmaSpace) => unknown]> = [
    ['map with a Number address', (x) => x.map({ vaddr: 1 as unknown as bigint, iova: 0n, size: PAGE })],
    ['map with a negative iova', (x) => x.map({ vaddr: 0n, iova: -1n, size: PAGE })],
    ['map with a size of 2^64', (x) => x.map({ vaddr: 0n, iova: 0n, size: 1n << 64n })],
    ['map with prot beyond PROT_READ | PROT_WRITE', (x) => x.map({ vaddr: 0n, iova: 0n, size: PAGE, prot: 4 })],
    ['map with a fractional prot', (x) => x.map({ vaddr: 0n, iova: 0n, size: PAGE, prot: 1.5 })],
    ['unmap with a string size', (x) => x.unmap(0n, '4096' as unknown as bigint)],
    ['runPlan with an unknown op', (x) => x.runPlan('remap' as 'map', new BigUint64Array(4))],
    ['runPlan with a Float64Array', (x) => x.runPlan('map', new Float64Array(4) as unknown as BigUint64Array)],
    ['runPlan with a partial entry', (x) => x.runPlan('map', new BigUint64Array(5))],
    ['runPlan with bad flags in entry 1', (x) => x.runPlan('map', BigUint64Array.from([0n, 0n, PAGE, 3n, 0n, PAGE, PAGE, 8n]))],
    ['runPlanCycles with zero reps', (x) => x.runPlanCycles!(new BigUint64Array(4), 0)],
    ['runPlanCycles with a string for reps', (x) => x.runPlanCycles!(new BigUint64Array(4), '1' as unknown as number)],
  ];
  for (const [what, call] of bad) {
    it(`${what}: same error as a container`, () => {
      const mine = refusal(() => call(standIn().space));
      expect(mine).toMatch(/^(TypeError|RangeError): /);
      expect(mine).toBe(refusal(() => call(nullContainer().space)));
    });
  }

  it('a wrapping range is EINVAL before any system call, as on a container', () => {
    const { space, raw } = standIn();
    expectVfioError(() => space.map({ vaddr: U64_MAX, iova: 0n, size: 2n }), 'EINVAL', 'overhead map (FIONBIO)');
    expectVfioError(() => space.unmap(U64_MAX, 2n), 'EINVAL', 'overhead unmap (FIONBIO)');
    const r = space.runPlan('map', BigUint64Array.from([0n, U64_MAX, 2n, 3n]));
    expect(r).toMatchObject({ completed: 0, failedIndex: 0, errno: Errno.EINVAL });
    expect(Array.from(r.ns)).toEqual([0]);
    expect(raw.trackedMappings).toBe(0);
    // The container says the same, with its own op names and args.
    const e = expectVfioError(() => nullContainer().space.map({ vaddr: 0n, iova: U64_MAX - 4095n, size: 8192n }), 'EINVAL', 'VFIO_IOMMU_MAP_DMA');
    expect(e.args).toEqual({ vaddr: 0n, iova: U64_MAX - 4095n, size: 8192n, flags: 3 });
    expect(e.hint).toMatch(/wrap/);
  });

  it('a closed space refuses every call with EBADF, naming itself', () => {
    const { space } = standIn();
    space.close();
    expect(space.closed).toBe(true);
    expect(expectVfioError(() => space.map({ vaddr: 0n, iova: 0n, size: PAGE }), 'EBADF').hint).toBe('the overhead space is closed');
    expectVfioError(() => space.unmap(0n, PAGE), 'EBADF');
    expectVfioError(() => space.runPlan('map', new BigUint64Array(0)), 'EBADF', 'plan');
    space.close(); // idempotent
  });
});

describe('overhead space: the books and the executor', () => {
  it('map records, unmap returns the bytes the books held in the range (type1 v2 walk)', () => {
    const { space, raw } = standIn();
    space.map({ vaddr: 0x1000n, iova: 0x10000n, size: PAGE });
    space.map({ vaddr: 0x2000n, iova: 0x11000n, size: 2n * PAGE });
    expect(raw.trackedMappings).toBe(2);
    // A range covering only the second mapping's head removes it whole, as v2 does.
    expect(space.unmap(0x11000n, PAGE)).toBe(2n * PAGE);
    expect(raw.trackedMappings).toBe(1);
    expect(space.unmap(0x20000n, PAGE)).toBe(0n); // nothing there: success, 0 bytes
    expect(space.unmapAll()).toBe(PAGE);
    expect(raw.trackedMappings).toBe(0);
  });

  it('a mapping pins the DmaBuffer it covers until unmapped', () => {
    const { space } = standIn();
    const b = addon.allocBuffer(2n * PAGE, '4k', 0n, false);
    try {
      space.map({ vaddr: b.vaddr, iova: 0x10000n, size: 2n * PAGE });
      expect(b.mappings).toBe(1);
      space.unmap(0x10000n, 2n * PAGE);
      expect(b.mappings).toBe(0);
      space.map({ vaddr: b.vaddr, iova: 0x10000n, size: PAGE });
      space.close(); // closing releases the pins too
      expect(b.mappings).toBe(0);
    } finally {
      b.close();
    }
  });

  it('runPlan maps every entry with a real, timed system call and unmaps them', () => {
    const { space, raw } = standIn();
    const plan = pagesPlan(0x100000n, 0x1000n, 16);
    const m = space.runPlan('map', plan);
    expect(m).toMatchObject({ completed: 16, failedIndex: -1, errno: 0, unmapped: 0n, simulated: false });
    expect(m.ns.length).toBe(16);
    for (const t of m.ns) expect(t).toBeGreaterThan(0);
    expect(raw.trackedMappings).toBe(16);
    const u = space.runPlan('unmap', plan);
    expect(u).toMatchObject({ completed: 16, failedIndex: -1, unmapped: 16n * PAGE });
    expect(raw.trackedMappings).toBe(0);
  });

  it('a plan stopped at a wrapping entry: the times of the entries attempted, the failed one 0', () => {
    const { space } = standIn();
    const plan = BigUint64Array.from([0x1000n, 0x10000n, PAGE, 3n, 0n, U64_MAX, 2n, 3n, 0n, 0x20000n, PAGE, 3n]);
    const r = space.runPlan('map', plan);
    expect(r).toMatchObject({ completed: 1, failedIndex: 1, errno: Errno.EINVAL, unmapped: 0n, simulated: false });
    expect(r.ns.length).toBe(2);
    expect(r.ns[0]).toBeGreaterThan(0);
    expect(r.ns[1]).toBe(0);
    expect(space.unmap(0n, 1n << 40n)).toBe(PAGE);
    // A container reports a stopped plan the same way (entry 0: ENOTTY from /dev/null).
    const c = nullContainer().space.runPlan('map', plan);
    expect(c).toMatchObject({ completed: 0, failedIndex: 0, errno: Errno.ENOTTY, unmapped: 0n, simulated: false });
    expect(c.ns.length).toBe(1);
  });

  it('runPlanCycles maps and unmaps reps times, every rep timed, and leaves nothing mapped', () => {
    const { space, raw } = standIn();
    const r = space.runPlanCycles(pagesPlan(0x100000n, 0x1000n, 8), 5);
    expect(r).toMatchObject({ completed: 5, failedOp: null, failedIndex: -1, errno: 0 });
    expect(r.mapNs.length).toBe(5);
    expect(r.unmapNs.length).toBe(5);
    for (const t of [...r.mapNs, ...r.unmapNs]) expect(t).toBeGreaterThan(0);
    expect(raw.trackedMappings).toBe(0);
  });

  it('runBareCycles (the C reference\'s loop) times the same reps and never touches the books', () => {
    const { space, raw } = standIn();
    const r = space.runBareCycles(pagesPlan(0x100000n, 0x1000n, 8), 5);
    expect(r).toMatchObject({ completed: 5, failedOp: null, failedIndex: -1, errno: 0 });
    expect([r.mapNs.length, r.unmapNs.length]).toEqual([5, 5]);
    for (const t of [...r.mapNs, ...r.unmapNs]) expect(t).toBeGreaterThan(0);
    expect(raw.trackedMappings).toBe(0);
    expect(() => space.runBareCycles(BigUint64Array.from([0n, 0n, 4096n, 8n]), 1)).toThrow(/plan entry 0: flags/);
  });

  it('overheadFloor times the same call in a C loop', () => {
    const f = addon.overheadFloor(1000);
    expect(f.bareNs).toBeGreaterThan(0);
    expect(f.timedNs).toBeGreaterThan(0);
    // The wall time holds the timed windows and the clock reads between them.
    expect(f.timedWallNs).toBeGreaterThanOrEqual(f.timedNs);
    expect(() => addon.overheadFloor(0)).toThrow(RangeError);
  });
});

describe('overhead space from lib/open.ts', () => {
  it('is found from the native backend, and from the sim where the addon loads', () => {
    expect(new NativeBackend().overheadProbe().syscall).toMatch(/FIONBIO/);
    const src = overheadSource(new SimBackend());
    expect(src.reason).toBeNull();
    expect(src.probe).not.toBeNull();
    expect(src.backend?.simulated).toBe(false);
  });
});
