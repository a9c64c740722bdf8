// runPlanCycles (native/plan.h): reps x (map the plan, unmap it) in one native
// call; bare, the C reference's loop (no books) in the same call. Argument checks and the stop-at-first-failure contract run anywhere
// (/dev/null stands in for the container: every ioctl on it is ENOTTY); the
// real cycles need VFIO (type1) or /dev/iommu (an IOAS needs no device).
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { PLAN_STRIDE, SZ_4K } from '../../lib/backend.js';
import { Errno } from '../../lib/errors.js';
import type { NativeContainer, NativeDmaBuffer, NativeIoas } from '../../lib/native/addon.js';
import { NativeBackendContainer } from '../../lib/native/container.js';
import { NativeBackendIoas } from '../../lib/native/ioas.js';
import { U64_MAX, addon } from './helpers.js';

const IOVA = 0x10_0000n;
const cleanup: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of cleanup.splice(0).reverse()) o.close();
});

function pagesPlan(vaddr: bigint, n: number, iova = IOVA): BigUint64Array {
  const plan = new BigUint64Array(n * PLAN_STRIDE);
  for (let i = 0; i < n; i++) plan.set([vaddr + BigInt(i) * SZ_4K, iova + BigInt(i) * SZ_4K, SZ_4K, 3n], i * PLAN_STRIDE);
  return plan;
}

function nullContainer(): NativeContainer {
  const c = addon.openContainer('/dev/null');
  cleanup.push(c);
  return c;
}

describe('runPlanCycles without VFIO', () => {
  it('checks its arguments before any ioctl', () => {
    const c = nullContainer();
    expect(() => c.runPlanCycles(new BigInt64Array(4) as unknown as BigUint64Array, 1)).toThrow(TypeError);
    expect(() => c.runPlanCycles(new BigUint64Array(5), 1)).toThrow(/multiple of PLAN_STRIDE/);
    expect(() => c.runPlanCycles(BigUint64Array.from([0n, 0n, 4096n, 4n]), 1)).toThrow(/plan entry 0/);
    expect(() => c.runPlanCycles(new BigUint64Array(4), 0)).toThrow(RangeError);
    expect(() => c.runPlanCycles(new BigUint64Array(4), 1.5)).toThrow(RangeError);
    expect(() => c.runPlanCycles(new BigUint64Array(4), '1' as unknown as number)).toThrow(TypeError);
    c.close();
    expect(() => c.runPlanCycles(new BigUint64Array(4), 1)).toThrow(/EBADF|closed/);
  });

  it('stops at the first failed map, reporting where, with no rep completed', () => {
    const r = nullContainer().runPlanCycles(pagesPlan(0x1000n, 2), 3);
    expect(r).toMatchObject({ completed: 0, failedOp: 'map', failedIndex: 0, errno: Errno.ENOTTY });
    expect(r.mapNs).toBeInstanceOf(Float64Array);
    expect([r.mapNs.length, r.unmapNs.length]).toEqual([0, 0]);
  });

  it('a wrapping entry fails with EINVAL without an ioctl, as in runPlan (bare too)', () => {
    const r = nullContainer().runPlanCycles(BigUint64Array.from([0n, U64_MAX, 2n, 3n]), 2);
    expect(r).toMatchObject({ completed: 0, failedOp: 'map', failedIndex: 0, errno: Errno.EINVAL });
    // /dev/null answers every ioctl ENOTTY: EINVAL means the entry never reached one.
    const b = nullContainer().runPlanCycles(BigUint64Array.from([0n, U64_MAX, 2n, 3n]), 2, true);
    expect(b).toMatchObject({ completed: 0, failedOp: 'map', failedIndex: 0, errno: Errno.EINVAL });
  });

  it('bare (the C reference\'s loop): the same arguments, the same first failure', () => {
    const c = nullContainer();
    expect(() => c.runPlanCycles(BigUint64Array.from([0n, 0n, 4096n, 4n]), 1, true)).toThrow(/plan entry 0/);
    const r = c.runPlanCycles(pagesPlan(0x1000n, 2), 3, true);
    expect(r).toMatchObject({ completed: 0, failedOp: 'map', failedIndex: 0, errno: Errno.ENOTTY });
    expect(c.runPlanCycles(new BigUint64Array(0), 2, true)).toMatchObject({ completed: 2, failedOp: null });
  });

  it('an empty plan completes every rep in no time', () => {
    const r = nullContainer().runPlanCycles(new BigUint64Array(0), 4);
    expect(r).toMatchObject({ completed: 4, failedOp: null, failedIndex: -1, errno: 0 });
    expect(Array.from(r.mapNs)).toEqual([0, 0, 0, 0]);
    expect(Array.from(r.unmapNs)).toEqual([0, 0, 0, 0]);
  });
});

function buffer(pages: number): NativeDmaBuffer {
  const b = addon.allocBuffer(BigInt(pages) * SZ_4K, '4k', 0n, true);
  cleanup.unshift(b); // closed last, after the DMA space let go of it
  return b;
}

// The same contract on both kinds of DMA space: every rep maps and unmaps the
// whole plan, the books end empty and the buffer unpinned; a failed map
// leaves the entries before it mapped (and tracked) for the caller.
function cycles(space: NativeContainer | NativeIoas, mapOne: (vaddr: bigint, iova: bigint) => void): void {
  const b = buffer(4);
  const plan = pagesPlan(b.vaddr, 4);
  const r = space.runPlanCycles(plan, 5);
  expect(r).toMatchObject({ completed: 5, failedOp: null, failedIndex: -1, errno: 0 });
  expect([r.mapNs.length, r.unmapNs.length]).toEqual([5, 5]);
  for (const t of [...r.mapNs, ...r.unmapNs]) expect(t).toBeGreaterThan(0);
  expect([space.trackedMappings, b.mappings]).toEqual([0, 0]);

  // The C reference's loop: the same reps, every ioctl timed, nothing left mapped or tracked.
  const bare = space.runPlanCycles(plan, 5, true);
  expect(bare).toMatchObject({ completed: 5, failedOp: null, failedIndex: -1, errno: 0 });
  for (const t of [...bare.mapNs, ...bare.unmapNs]) expect(t).toBeGreaterThan(0);
  expect([space.trackedMappings, b.mappings]).toEqual([0, 0]);

  mapOne(b.vaddr + 2n * SZ_4K, IOVA + 2n * SZ_4K); // entry 2's IOVA taken: its map is EEXIST
  // Bare, like ref.c, unmaps what it mapped before the failure: only mapOne's mapping stays.
  expect(space.runPlanCycles(plan, 5, true)).toMatchObject({ completed: 0, failedOp: 'map', failedIndex: 2, errno: Errno.EEXIST });
  expect(space.trackedMappings).toBe(1);
  const f = space.runPlanCycles(plan, 5);
  expect(f).toMatchObject({ completed: 0, failedOp: 'map', failedIndex: 2, errno: Errno.EEXIST });
  expect(space.trackedMappings).toBe(3);
  expect(space.unmapAll()).toBe(3n * SZ_4K);
  expect([space.trackedMappings, b.mappings]).toEqual([0, 0]);
}

describe.skipIf(!process.env.VFIO_TEST_GROUP)('runPlanCycles on a type1 container (needs VFIO_TEST_GROUP)', () => {
  it('maps and unmaps the plan reps times; a failure stops it where it happened', () => {
    const container = addon.openContainer();
    cleanup.push(container);
    const group = addon.openGroup(Number(process.env.VFIO_TEST_GROUP));
    cleanup.push(group);
    group.setContainer(container);
    container.setIommu(3); // VFIO_TYPE1v2_IOMMU
    const space = new NativeBackendContainer(addon, container);
    cycles(container, (vaddr, iova) => space.map({ vaddr, iova, size: SZ_4K }));
  });
});

describe.skipIf(!existsSync('/dev/iommu'))('runPlanCycles on an iommufd IOAS (needs /dev/iommu)', () => {
  it('maps and unmaps the plan reps times; a failure stops it where it happened', () => {
    const fd = addon.openIommufd();
    cleanup.push(fd);
    const ioas = fd.allocIoas();
    cleanup.push(ioas);
    const space = new NativeBackendIoas(addon, ioas);
    cycles(ioas, (vaddr, iova) => space.map({ vaddr, iova, size: SZ_4K }));
  });
});
