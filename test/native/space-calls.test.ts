// The hot calls of a DMA space (native/space_calls.h), raw: what the addon
// itself guarantees whatever JS writes into the block or passes, since the
// seam's checks sit in front of it only when JS goes through lib/native. It
// must stay memory-safe and keep the kernel's meaning: typed arrays of the
// right kind and size or an exception before any entry runs, no flag beyond
// PROT_READ | PROT_WRITE, "closed" once the space is closed or collected,
// and a block that outlives its space.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SPACE_CLOSED, type NativeOverheadSpace, type NativeSpaceCalls } from '../../lib/native/addon.js';
import { U64_MAX, addon } from './helpers.js';

const PAGE = 4096n;
const opened: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
});

interface Raw {
  space: NativeOverheadSpace;
  calls: NativeSpaceCalls;
  words: BigUint64Array;
  status: Float64Array;
}

function raw(): Raw {
  const space = addon.openOverheadSpace();
  opened.push(space);
  const calls = space.spaceCalls();
  return { space, calls, words: new BigUint64Array(calls.block, 0, 6), status: new Float64Array(calls.block, 48, 4) };
}

describe('the block', () => {
  it('is 720 bytes: entry, unmapped, a reserved word, the status as doubles, a 16-entry plan and its times', () => {
    const { calls, words, space } = raw();
    expect(calls.block.byteLength).toBe(720);
    words.set([0x1000n, 0x10000n, 2n * PAGE, 3n]);
    expect(calls.map()).toBe(0);
    expect(space.trackedMappings).toBe(1);
    words[1] = 0x10000n;
    words[2] = 1n << 30n;
    expect(calls.unmap()).toBe(0);
    expect(words[4]).toBe(2n * PAGE); // the bytes the books held there
    expect(space.trackedMappings).toBe(0);
  });

  it('is taken once per space: a second block over the same memory would confuse V8', () => {
    const { space } = raw();
    expect(() => space.spaceCalls()).toThrow(TypeError);
  });
});

describe('checks the addon keeps for itself', () => {
  it('a map whose flags hold more than PROT_READ | PROT_WRITE is refused before the system call', () => {
    const { calls, words, space } = raw();
    words.set([0x1000n, 0x10000n, PAGE, 4n]); // bit 2 would be VFIO_DMA_MAP_FLAG_VADDR
    expect(() => calls.map()).toThrow(RangeError);
    expect(space.trackedMappings).toBe(0);
  });

  it('runPlan: wrong kinds of array are TypeErrors, a short ns or partial entry RangeErrors, nothing run', () => {
    const { calls, space } = raw();
    const plan = BigUint64Array.from([0x1000n, 0x10000n, PAGE, 3n, 0x2000n, 0x11000n, PAGE, 3n]);
    expect(() => calls.runPlan(true, new BigInt64Array(4) as unknown as BigUint64Array, 1, new Float64Array(2))).toThrow(TypeError);
    expect(() => calls.runPlan(true, plan, 2, new Float32Array(2) as unknown as Float64Array)).toThrow(TypeError);
    expect(() => calls.runPlan(true, plan, 2, undefined as unknown as Float64Array)).toThrow(TypeError);
    expect(() => calls.runPlan(true, plan, '2' as unknown as number, new Float64Array(2))).toThrow(TypeError);
    expect(() => calls.runPlan(true, plan, 2, new Float64Array(1))).toThrow(RangeError);
    // More entries than the plan holds (a partial entry counts as none).
    expect(() => calls.runPlan(true, plan, 3, new Float64Array(3))).toThrow(RangeError);
    expect(() => calls.runPlan(true, new BigUint64Array(7), 2, new Float64Array(2))).toThrow(RangeError);
    const badFlags = plan.slice();
    badFlags[7] = 8n;
    expect(() => calls.runPlan(true, badFlags, 2, new Float64Array(2))).toThrow(/flags/);
    // Only the first `count` entries are read: entry 1's flags do not matter to a one-entry run.
    expect(calls.runPlan(true, badFlags, 1, new Float64Array(1))).toBe(0);
    expect(space.trackedMappings).toBe(1);
    expect(calls.runPlan(false, badFlags, 1, new Float64Array(1))).toBe(0);
    expect(space.trackedMappings).toBe(0);
    // An unmap plan ignores flags, as the kernel's unmap has none of the map's.
    expect(calls.runPlan(false, badFlags, 2, new Float64Array(2))).toBe(0);
  });

  it('runPlan reads the plan through its byteOffset and writes times and status', () => {
    const { calls, status, words } = raw();
    const backing = new BigUint64Array(12);
    backing.set([0x1000n, 0x10000n, PAGE, 3n, 0n, U64_MAX, 2n, 3n], 4); // entry 1 wraps
    const ns = new Float64Array(2);
    expect(calls.runPlan(true, new BigUint64Array(backing.buffer, 32, 8), 2, ns)).toBe(22); // EINVAL
    expect(Array.from(status)).toEqual([1, 1, 22, 2]);
    expect(ns[0]).toBeGreaterThan(0);
    expect(ns[1]).toBe(0);
    expect(calls.runPlan(false, new BigUint64Array(backing.buffer, 32, 4), 1, ns)).toBe(0);
    expect(words[4]).toBe(PAGE);
  });
});

describe('runSmallPlan: a plan in the block itself', () => {
  it('runs the block\'s first count entries, times into the block, and refuses more than it holds', () => {
    const { calls, space, status } = raw();
    const plan = new BigUint64Array(calls.block, 80, 64);
    const ns = new Float64Array(calls.block, 592, 16);
    for (let k = 0; k < 3; k++) plan.set([0x1000n, 0x10000n + BigInt(k) * PAGE, PAGE, 3n], k * 4);
    expect(calls.runSmallPlan(true, 3)).toBe(0);
    expect(Array.from(status)).toEqual([3, -1, 0, 3]);
    expect(Array.from(ns.subarray(0, 3)).every((t) => t > 0)).toBe(true);
    expect(space.trackedMappings).toBe(3);
    expect(() => calls.runSmallPlan(true, 17)).toThrow(RangeError);
    plan[3] = 4n;
    expect(() => calls.runSmallPlan(true, 1)).toThrow(/flags/);
    expect(calls.runSmallPlan(false, 3)).toBe(0);
    expect(space.trackedMappings).toBe(0);
  });
});

describe('after the space', () => {
  it('every call answers SPACE_CLOSED once it is closed, and runs nothing', () => {
    const { calls, words, space, status } = raw();
    space.close();
    words.set([0x1000n, 0x10000n, PAGE, 3n]);
    status.fill(7);
    expect(calls.map()).toBe(SPACE_CLOSED);
    expect(calls.unmap()).toBe(SPACE_CLOSED);
    expect(calls.runPlan(true, new BigUint64Array(4), 1, new Float64Array(1))).toBe(SPACE_CLOSED);
    expect(calls.runSmallPlan(true, 1)).toBe(SPACE_CLOSED);
    expect(Array.from(status)).toEqual([7, 7, 7, 7]);
  });

  it('the calls and the block outlive a collected space (a child with --expose-gc)', () => {
    const child = fileURLToPath(new URL('./children/space-calls-gc.cjs', import.meta.url));
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const out = execFileSync(process.execPath, ['--expose-gc', child, root], { encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ collected: true, map: SPACE_CLOSED, unmap: SPACE_CLOSED, blockWritable: true });
  });
});
