// The C reference: input format, output parsing, and that ref.c builds and
// fails cleanly (exit 1, a message) where there is no /dev/vfio.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRef, parseRefOutput, refInput, runRef } from '../../lib/bench/ref.js';
import type { KeptPlan } from '../../lib/bench/runner.js';

const cache = mkdtempSync(join(tmpdir(), 'vfio-ref-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

const plan: KeptPlan = {
  backing: 'thp', bufferSize: 0x40_0000n, bufferVaddr: 0x7f00_0000_0000n, iovaBase: 0x20_0000n, count: 2, op: 'map',
  entries: BigUint64Array.from([0x7f00_0000_0000n, 0x20_0000n, 0x1000n, 3n, 0x7f00_0000_1000n, 0x20_1000n, 0x1000n, 3n]),
};

describe('C reference (bench --ref)', () => {
  it('writes the plan as buffer offsets, in hex', () => {
    expect(refInput(7, [['matrix/x', plan]], 30, 3)).toBe(
      'group 7\ncell 0 thp 400000 map 1e 3 2\n0 200000 1000\n1000 201000 1000\n');
  });

  it('parses per-cell samples and errors', () => {
    const r = parseRefOutput('cell 0 100 200 300\nerror 1 12 MAP_DMA\n', ['a', 'b']);
    expect(r.samples.get('a')).toEqual([100, 200, 300]);
    expect(r.errors).toEqual(['C reference, b: MAP_DMA failed, errno 12']);
  });

  it.skipIf(!existsSync('/usr/bin/cc') && !process.env.CC)('builds once per source and reports a missing /dev/vfio as an error', () => {
    const bin = buildRef(cache);
    expect(existsSync(bin)).toBe(true);
    expect(buildRef(cache)).toBe(bin); // cached by source hash
    const r = runRef(bin, 4242, new Map([['matrix/x', plan]]), 1, 0);
    expect(r.samples.size).toBe(0);
    expect(r.errors.join('\n')).toMatch(/exited with 1: vfio-ref: \/dev\/vfio/);
  });
});
