// The plan executor's stop-at-first-failure contract, and the checks in front
// of it, through the seam against /dev/null (every ioctl there fails with
// ENOTTY, after being timed). The hot call's own memory-safety checks are in
// space-calls.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { PLAN_STRIDE } from '../../lib/backend.js';
import { Errno } from '../../lib/errors.js';
import { NativeBackendContainer } from '../../lib/native/container.js';
import { U64_MAX, addon } from './helpers.js';

let c: NativeBackendContainer;
afterEach(() => c?.close());

function nullContainer(): NativeBackendContainer {
  return new NativeBackendContainer(addon, addon.openContainer('/dev/null'));
}

function entries(...rows: Array<[bigint, bigint, bigint, bigint]>): BigUint64Array {
  return BigUint64Array.from(rows.flat());
}

describe('runPlan argument checks', () => {
  it('the addon stride matches the seam', () => {
    expect(addon.PLAN_STRIDE).toBe(PLAN_STRIDE);
  });

  it('rejects a plan that is not a BigUint64Array (TypeError)', () => {
    c = nullContainer();
    expect(() => c.runPlan('map', new BigInt64Array(4) as unknown as BigUint64Array)).toThrow(TypeError);
    expect(() => c.runPlan('map', new Float64Array(4) as unknown as BigUint64Array)).toThrow(TypeError);
    expect(() => c.runPlan('map', [0n, 0n, 0n, 0n] as unknown as BigUint64Array)).toThrow(TypeError);
  });

  it('rejects an unknown op (TypeError) and a length not a multiple of PLAN_STRIDE (RangeError)', () => {
    c = nullContainer();
    expect(() => c.runPlan('remap' as 'map', new BigUint64Array(4))).toThrow(TypeError);
    expect(() => c.runPlan('map', new BigUint64Array(5))).toThrow(RangeError);
    expect(() => c.runPlan('unmap', new BigUint64Array(3))).toThrow(/multiple of (PLAN_STRIDE|4)/);
  });

  it('checks every map entry\'s flags before executing any', () => {
    c = nullContainer();
    const plan = entries([0n, 0n, 4096n, 3n], [0n, 4096n, 4096n, 8n]);
    expect(() => c.runPlan('map', plan)).toThrow(/plan entry 1/);
    // Unmap plans ignore flags.
    expect(c.runPlan('unmap', plan).failedIndex).toBe(0);
  });
});

describe('runPlan execution', () => {
  it('an empty plan completes nothing and fails nothing', () => {
    c = nullContainer();
    const r = c.runPlan('map', new BigUint64Array(0));
    expect(r).toMatchObject({ completed: 0, failedIndex: -1, errno: 0, unmapped: 0n });
    expect(r.ns).toBeInstanceOf(Float64Array);
    expect(r.ns.length).toBe(0);
  });

  it('stops at the first kernel failure, timing it, without unwinding or throwing', () => {
    c = nullContainer();
    const r = c.runPlan('map', entries([0x1000n, 0n, 4096n, 3n], [0x2000n, 4096n, 4096n, 3n]));
    expect(r.completed).toBe(0);
    expect(r.failedIndex).toBe(0);
    expect(r.errno).toBe(Errno.ENOTTY);
    expect(r.ns.length).toBe(1);
    expect(r.ns[0]).toBeGreaterThan(0);
  });

  it('a wrapping entry fails with EINVAL and a zero time, without an ioctl', () => {
    c = nullContainer();
    const r = c.runPlan('unmap', entries([0n, U64_MAX, 2n, 0n]));
    expect(r).toMatchObject({ completed: 0, failedIndex: 0, errno: Errno.EINVAL });
    expect(Array.from(r.ns)).toEqual([0]);
  });

  it('reads the plan through its byteOffset', () => {
    c = nullContainer();
    const backing = new BigUint64Array(8);
    backing.set([0n, U64_MAX, 2n, 0n], 4); // only the second entry wraps
    const r = c.runPlan('unmap', new BigUint64Array(backing.buffer, 32, 4));
    expect(r.errno).toBe(Errno.EINVAL);
  });

  it('the Backend wrapper marks results as measured, not simulated', () => {
    c = nullContainer();
    const r = c.runPlan('map', entries([0n, 0n, 4096n, 3n]));
    expect(r.simulated).toBe(false);
    expect(c.simulated).toBe(false);
    expect(() => c.runPlan('x' as 'map', new BigUint64Array(0))).toThrow(TypeError);
  });
});
