// Shared by the native tests: the raw addon, error assertions, and what
// /proc/self/smaps says about the mapping at an address.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { expect } from 'vitest';
import { VfioError } from '../../lib/errors.js';
import { requireAddon } from '../../lib/native/load.js';
import type { NativeAddon, NativeOverheadSpace } from '../../lib/native/addon.js';
import { NativeOverheadSpaceWrapper } from '../../lib/native/overhead.js';

export const addon: NativeAddon = requireAddon();

export const U64_MAX = (1n << 64n) - 1n;

/** A stand-in DMA space through the seam, and its addon object (for the books); `opened` closes it after the test. */
export function openStandIn(opened: Array<{ close(): void }>): { space: NativeOverheadSpaceWrapper; raw: NativeOverheadSpace } {
  const raw = addon.openOverheadSpace();
  const space = new NativeOverheadSpaceWrapper(addon, raw);
  opened.push(space);
  return { space, raw };
}

/** Runs fn, expects a VfioError with this code (and op, if given); returns it. */
export function expectVfioError(fn: () => unknown, code: string, op?: string): VfioError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(VfioError);
  const e = caught as VfioError;
  expect(e.code).toBe(code);
  if (op !== undefined) expect(e.op).toBe(op);
  return e;
}

export interface SmapsEntry {
  start: bigint;
  end: bigint;
  fields: Map<string, number>; // kB values
  vmFlags: string[];
}

/** The /proc/self/smaps entry containing addr, or undefined. */
export function smapsAt(addr: bigint): SmapsEntry | undefined {
  const text = readFileSync('/proc/self/smaps', 'utf8');
  let cur: SmapsEntry | undefined;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (head) {
      if (cur && addr >= cur.start && addr < cur.end) return cur;
      cur = { start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), fields: new Map(), vmFlags: [] };
      continue;
    }
    if (!cur) continue;
    const kb = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (kb) cur.fields.set(kb[1]!, Number(kb[2]));
    else if (line.startsWith('VmFlags:')) cur.vmFlags = line.slice(8).trim().split(/\s+/);
  }
  return cur && addr >= cur.start && addr < cur.end ? cur : undefined;
}

/** How many of the 4 KiB pages in [vaddr, vaddr + size) are present (root: /proc/self/pagemap bit 63). */
export function residentPages(vaddr: bigint, size: bigint): number {
  const pages = Number(size / 4096n);
  const buf = Buffer.alloc(pages * 8);
  const fd = openSync('/proc/self/pagemap', 'r');
  try {
    readSync(fd, buf, 0, buf.length, Number((vaddr / 4096n) * 8n));
  } finally {
    closeSync(fd);
  }
  let present = 0;
  for (let i = 0; i < pages; i++) if ((buf.readBigUInt64LE(i * 8) >> 63n) === 1n) present++;
  return present;
}
