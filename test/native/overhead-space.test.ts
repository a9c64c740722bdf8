// The stand-in space `vfio bench --suite overhead` measures
// (native/overhead_space.h), through the real addon on any Linux host: it must
// take a container's arguments with a container's refusals, keep a
// container's books (pins included) and run the one plan executor, or the
// suite would be timing some other path.
import { afterEach, describe, expect, it } from 'vitest';
import { PLAN_STRIDE, PROT_RW } from '../../lib/backend.js';
import { Errno } from '../../lib/errors.js';
import type { NativeContainer, NativeOverheadSpace } from '../../lib/native/addon.js';
import { NativeBackend } from '../../lib/native/index.js';
import { NativeOverheadSpaceWrapper } from '../../lib/native/overhead.js';
import { overheadSource } from '../../lib/open.js';
import { SimBackend } from '../../lib/sim/index.js';
import { U64_MAX, addon, expectVfioError } from './helpers.js';

const PAGE = 4096n;
let s: NativeOverheadSpace | undefined;
let c: NativeContainer | undefined;
afterEach(() => {
  s?.close();
  c?.close();
  s = c = undefined;
});

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
  const bad: Array<[string, (x: NativeOverheadSpace | NativeContainer) => unknown]> = [
    ['map with a Number address', (x) => x.map(1 as unknown as bigint, 0n, PAGE, 3)],
    ['map with a negative iova', (x) => x.map(0n, -1n, PAGE, 3)],
    ['map with a size of 2^64', (x) => x.map(0n, 0n, 1n << 64n, 3)],
    ['map with flags beyond PROT_READ | PROT_WRITE', (x) => x.map(0n, 0n, PAGE, 4)],
    ['map with fractional flags', (x) => x.map(0n, 0n, PAGE, 1.5)],
    ['unmap with a string size', (x) => x.unmap(0n, '4096' as unknown as bigint)],
    ['runPlan with an unknown op', (x) => x.runPlan('remap' as 'map', new BigUint64Array(4))],
    ['runPlan with a Float64Array', (x) => x.runPlan('map', new Float64Array(4) as unknown as BigUint64Array)],
    ['runPlan with a partial entry', (x) => x.runPlan('map', new BigUint64Array(5))],
    ['runPlan with bad flags in entry 1', (x) => x.runPlan('map', BigUint64Array.from([0n, 0n, PAGE, 3n, 0n, PAGE, PAGE, 8n]))],
    ['runPlanCycles with zero reps', (x) => x.runPlanCycles(new BigUint64Array(4), 0)],
    ['runPlanCycles with a string for reps', (x) => x.runPlanCycles(new BigUint64Array(4), '1' as unknown as number)],
  ];
  for (const [what, call] of bad) {
    it(`${what}: same error as a container`, () => {
      s = addon.openOverheadSpace();
      c = addon.openContainer('/dev/null');
      const mine = refusal(() => call(s!));
      expect(mine).toMatch(/^(TypeError|RangeError): /);
      expect(mine).toBe(refusal(() => call(c!)));
    });
  }

  it('a wrapping range is EINVAL before any system call, as on a container', () => {
    s = addon.openOverheadSpace();
    expectVfioError(() => s!.map(U64_MAX, 0n, 2n, 3), 'EINVAL');
    expectVfioError(() => s!.unmap(U64_MAX, 2n), 'EINVAL');
    const r = s.runPlan('map', BigUint64Array.from([0n, U64_MAX, 2n, 3n]));
    expect(r).toMatchObject({ completed: 0, failedIndex: 0, errno: Errno.EINVAL });
    expect(Array.from(r.ns)).toEqual([0]);
    expect(s.trackedMappings).toBe(0);
  });

  it('a closed space refuses every call with EBADF', () => {
    s = addon.openOverheadSpace();
    s.close();
    expect(s.closed).toBe(true);
    expectVfioError(() => s!.map(0n, 0n, PAGE, 3), 'EBADF');
    expectVfioError(() => s!.runPlan('map', new BigUint64Array(0)), 'EBADF');
    s.close(); // idempotent
  });

  it('its methods refuse a receiver of another class', () => {
    s = addon.openOverheadSpace();
    c = addon.openContainer('/dev/null');
    expect(() => s!.map.call(c, 0n, 0n, PAGE, 3)).toThrow(/receiver is not a OverheadSpace/);
  });
});

describe('overhead space: the books and the executor', () => {
  it('map records, unmap returns the bytes the books held in the range (type1 v2 walk)', () => {
    s = addon.openOverheadSpace();
    s.map(0x1000n, 0x10000n, PAGE, 3);
    s.map(0x2000n, 0x11000n, 2n * PAGE, 3);
    expect(s.trackedMappings).toBe(2);
    // A range covering only the second mapping's head removes it whole, as v2 does.
    expect(s.unmap(0x11000n, PAGE)).toBe(2n * PAGE);
    expect(s.trackedMappings).toBe(1);
    expect(s.unmap(0x20000n, PAGE)).toBe(0n); // nothing there: success, 0 bytes
    expect(s.unmapAll()).toBe(PAGE);
    expect(s.trackedMappings).toBe(0);
  });

  it('a mapping pins the DmaBuffer it covers until unmapped', () => {
    s = addon.openOverheadSpace();
    const b = addon.allocBuffer(2n * PAGE, '4k', 0n, false);
    try {
      s.map(b.vaddr, 0x10000n, 2n * PAGE, 3);
      expect(b.mappings).toBe(1);
      s.unmap(0x10000n, 2n * PAGE);
      expect(b.mappings).toBe(0);
      s.map(b.vaddr, 0x10000n, PAGE, 3);
      s.close(); // closing releases the pins too
      expect(b.mappings).toBe(0);
    } finally {
      b.close();
    }
  });

  it('runPlan maps every entry with a real, timed system call and unmaps them', () => {
    s = addon.openOverheadSpace();
    const plan = pagesPlan(0x100000n, 0x1000n, 16);
    const m = s.runPlan('map', plan);
    expect(m).toMatchObject({ completed: 16, failedIndex: -1, errno: 0, unmapped: 0n });
    expect(m.ns.length).toBe(16);
    for (const t of m.ns) expect(t).toBeGreaterThan(0);
    expect(s.trackedMappings).toBe(16);
    const u = s.runPlan('unmap', plan);
    expect(u).toMatchObject({ completed: 16, failedIndex: -1, unmapped: 16n * PAGE });
    expect(s.trackedMappings).toBe(0);
  });

  it('runPlanCycles maps and unmaps reps times, every rep timed, and leaves nothing mapped', () => {
    s = addon.openOverheadSpace();
    const r = s.runPlanCycles(pagesPlan(0x100000n, 0x1000n, 8), 5);
    expect(r).toMatchObject({ completed: 5, failedOp: null, failedIndex: -1, errno: 0 });
    expect(r.mapNs.length).toBe(5);
    expect(r.unmapNs.length).toBe(5);
    for (const t of [...r.mapNs, ...r.unmapNs]) expect(t).toBeGreaterThan(0);
    expect(s.trackedMappings).toBe(0);
  });

  it('overheadFloor times the same call in a C loop', () => {
    const f = addon.overheadFloor(1000);
    expect(f.bareNs).toBeGreaterThan(0);
    expect(f.timedNs).toBeGreaterThan(0);
    expect(() => addon.overheadFloor(0)).toThrow(RangeError);
  });
});

describe('overhead space through the seam', () => {
  it('is a DmaSpace with the container wrapper\'s checks and result objects', () => {
    const space = new NativeOverheadSpaceWrapper(addon, addon.openOverheadSpace());
    try {
      expect(space.simulated).toBe(false);
      space.map({ vaddr: 0x1000n, iova: 0x10000n, size: PAGE });
      expect(space.unmap(0x10000n, PAGE)).toBe(PAGE);
      const r = space.runPlan('map', pagesPlan(0x10000n, 0x1000n, 2));
      expect(r).toMatchObject({ completed: 2, failedIndex: -1, simulated: false });
      expect(space.unmapAll()).toBe(2n * PAGE);
      // The seam's own checks (lib/seam/args.ts), before the addon.
      expect(() => space.map({ vaddr: 1 as unknown as bigint, iova: 0n, size: PAGE })).toThrow(TypeError);
    } finally {
      space.close();
    }
    expect(space.closed).toBe(true);
  });

  it('lib/open.ts finds it from the native backend, and from the sim where the addon loads', () => {
    expect(new NativeBackend().overheadProbe().syscall).toMatch(/FIONBIO/);
    const src = overheadSource(new SimBackend());
    expect(src.reason).toBeNull();
    expect(src.probe).not.toBeNull();
    expect(src.backend?.simulated).toBe(false);
  });
});

describe('runPlanInto (what NativeSpace.runPlan calls): the executor\'s result without a native result object', () => {
  it('refuses ns or status arrays of the wrong kind or too short, before running anything', () => {
    s = addon.openOverheadSpace();
    const plan = pagesPlan(0x10000n, 0x1000n, 2);
    expect(() => s!.runPlanInto('map', plan, new Float64Array(1), new Float64Array(4))).toThrow(RangeError);
    expect(() => s!.runPlanInto('map', plan, new Float32Array(2) as unknown as Float64Array, new Float64Array(4))).toThrow(TypeError);
    expect(() => s!.runPlanInto('map', plan, new Float64Array(2), new Float64Array(3))).toThrow(RangeError);
    expect(s.trackedMappings).toBe(0);
  });

  it('the wrapper\'s result matches the native runPlan\'s, a stopped plan included', () => {
    const space = new NativeOverheadSpaceWrapper(addon, addon.openOverheadSpace());
    c = addon.openContainer('/dev/null');
    try {
      // Entry 1 wraps 2^64: refused without a system call, so ns has two slots, the second 0.
      const plan = BigUint64Array.from([0x1000n, 0x10000n, PAGE, 3n, 0n, U64_MAX, 2n, 3n, 0n, 0x20000n, PAGE, 3n]);
      const r = space.runPlan('map', plan);
      expect(r).toMatchObject({ completed: 1, failedIndex: 1, errno: Errno.EINVAL, unmapped: 0n, simulated: false });
      expect(r.ns.length).toBe(2);
      expect(r.ns[0]).toBeGreaterThan(0);
      expect(r.ns[1]).toBe(0);
      // The same plan on a container stops at entry 0 (ENOTTY from /dev/null): same fields, same kinds.
      const raw = c.runPlan('map', plan);
      const mine = { ...r } as Record<string, unknown>;
      delete mine.simulated;
      expect(Object.keys(mine).sort()).toEqual(Object.keys(raw).sort());
      expect(space.unmap(0n, 1n << 40n)).toBe(PAGE);
    } finally {
      space.close();
    }
  });
});
