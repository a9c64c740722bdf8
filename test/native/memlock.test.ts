// The locked-memory budget: RLIMIT_MEMLOCK from getrlimit, VmLck + VmPin from
// /proc/self/status, CAP_IPC_LOCK from CapEff.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CAP_IPC_LOCK, parseProcStatus, readMemlock, readMemlockAsync } from '../../lib/native/memlock.js';
import { addon } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const child = fileURLToPath(new URL('./children/memlock-limit.cjs', import.meta.url));

function limitUnder(ulimit: string): string {
  return execFileSync('/bin/sh', ['-c', `ulimit -l ${ulimit} && exec "$0" "$1" "$2"`, process.execPath, child, root],
    { encoding: 'utf8' }).trim();
}

describe('parseProcStatus', () => {
  const status = (capEff: string, lck = '0', pin = '0') =>
    `Name:\tnode\nVmLck:\t    ${lck} kB\nVmPin:\t    ${pin} kB\nVmRSS:\t  5000 kB\nCapEff:\t${capEff}\n`;

  it('adds VmLck and VmPin, in bytes', () => {
    expect(parseProcStatus(status('0', '12', '2048')).locked).toBe((12n + 2048n) * 1024n);
  });

  it('reads CAP_IPC_LOCK as bit 14 of CapEff', () => {
    expect(CAP_IPC_LOCK).toBe(14);
    expect(parseProcStatus(status('0000000000004000')).exempt).toBe(true);
    expect(parseProcStatus(status('000001fffeffbfff')).exempt).toBe(false); // everything but bit 14
    expect(parseProcStatus(status('000001ffffffffff')).exempt).toBe(true);
  });

  it('treats missing fields as nothing locked and no capability', () => {
    expect(parseProcStatus('Name:\tx\n')).toEqual({ locked: 0n, exempt: false });
  });
});

describe('memlock on this process', () => {
  it('the limit is the soft RLIMIT_MEMLOCK /proc/self/limits shows', () => {
    const line = /^Max locked memory\s+(\S+)\s+(\S+)\s+bytes/m.exec(readFileSync('/proc/self/limits', 'utf8'))!;
    const soft = line[1] === 'unlimited' ? null : BigInt(line[1]!);
    expect(addon.memlockLimit()).toBe(soft);
    const m = readMemlock(() => addon.memlockLimit());
    expect(m.limit).toBe(soft);
    expect(m.locked).toBeGreaterThanOrEqual(0n);
    const capEff = /^CapEff:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!;
    expect(m.exempt).toBe(((BigInt(`0x${capEff}`) >> 14n) & 1n) === 1n);
  });

  it('reads the same off the event loop (what mapBatchAsync reads), for type1 and each iommufd mode', async () => {
    // Nothing locks or pins in between, so the two readings must agree field by field.
    for (const mode of [undefined, 'user', 'mm'] as const) {
      const limit = () => addon.memlockLimit();
      expect(await readMemlockAsync(limit, mode)).toEqual(readMemlock(limit, mode));
    }
  });

  it('follows ulimit -l (lowering needs no privilege)', () => {
    expect(limitUnder('64')).toBe(String(64 * 1024));
    expect(limitUnder('100')).toBe(String(100 * 1024));
  });
});
