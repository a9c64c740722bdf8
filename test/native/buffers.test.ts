// DMA buffer backings and lifetimes, checked against what the kernel reports
// for the mapping in /proc/self/smaps.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SZ_1G, SZ_2M, SZ_4K, type DmaBuffer } from '../../lib/backend.js';
import { VfioError } from '../../lib/errors.js';
import { NativeBackend } from '../../lib/native/index.js';
import { addon, expectVfioError, residentPages, smapsAt } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const backend = new NativeBackend();

function readNumber(path: string): number | null {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return null;
  }
}

describe('4k backing', () => {
  it('maps read/write memory, 4 KiB aligned, with huge pages turned off', () => {
    using b = backend.allocBuffer({ size: 3 * 4096, backing: '4k' });
    expect(b.size).toBe(3n * SZ_4K);
    expect(b.pageSize).toBe(SZ_4K);
    expect(b.backing).toBe('4k');
    expect(b.vaddr % SZ_4K).toBe(0n);
    expect(b.bytes.byteLength).toBe(3 * 4096);
    b.bytes.fill(0x5a);
    expect(b.bytes[3 * 4096 - 1]).toBe(0x5a);
    expect(smapsAt(b.vaddr)!.vmFlags).toContain('nh'); // MADV_NOHUGEPAGE
  });

  it('rounds a size up to whole pages, as the simulated backend does', () => {
    using b = backend.allocBuffer({ size: 5000, backing: '4k' });
    expect(b.size).toBe(2n * SZ_4K);
  });

  it('prefault leaves every page resident before any mapping', () => {
    const size = 64 * 4096;
    using cold = backend.allocBuffer({ size, backing: '4k' });
    using warm = backend.allocBuffer({ size, backing: '4k', prefault: true });
    expect(residentPages(cold.vaddr, cold.size)).toBe(0);
    expect(residentPages(warm.vaddr, warm.size)).toBe(64);
    cold.bytes[4096] = 1;
    expect(residentPages(cold.vaddr, cold.size)).toBe(1);
  });
});

describe('thp backing', () => {
  const thp = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
  const defrag = readFileSync('/sys/kernel/mm/transparent_hugepage/defrag', 'utf8');

  it('is 2 MiB aligned and advised MADV_HUGEPAGE', () => {
    using b = backend.allocBuffer({ size: SZ_2M * 2n, backing: 'thp' });
    expect(b.pageSize).toBe(SZ_2M);
    expect(b.vaddr % SZ_2M).toBe(0n);
    const s = smapsAt(b.vaddr)!;
    expect(s.vmFlags).toContain('hg');
    expect(s.end).toBeGreaterThanOrEqual(b.vaddr + b.size);
    // The alignment slack was given back: no advised memory just outside the buffer.
    expect(smapsAt(b.vaddr - SZ_4K)?.vmFlags ?? []).not.toContain('hg');
    expect(smapsAt(b.vaddr + b.size)?.vmFlags ?? []).not.toContain('hg');
  });

  it.skipIf(/\[never\]/.test(thp) || !/\[(always|madvise|defer\+madvise)\]/.test(defrag))(
    'prefaulted, it is backed by huge pages (THP enabled, direct compaction for madvised memory)', () => {
      using b = backend.allocBuffer({ size: SZ_2M * 2n, backing: 'thp', prefault: true });
      expect(smapsAt(b.vaddr)!.fields.get('AnonHugePages')).toBeGreaterThan(0);
    });
});

describe('hugetlb backing', () => {
  const free1G = readNumber('/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages');

  it.skipIf(free1G !== 0)('with no free pages of the size asked for: VfioError ENOMEM with the nr_hugepages hint', () => {
    const e = expectVfioError(() => backend.allocBuffer({ size: SZ_1G, backing: 'hugetlb', hugePageSize: SZ_1G }),
      'ENOMEM', 'mmap MAP_HUGETLB');
    expect(e.args).toMatchObject({ size: SZ_1G, hugePageSize: SZ_1G, backing: 'hugetlb' });
    expect(e.hint).toMatch(/nr_hugepages/);
  });

  describe('with 2 MiB pages reserved', () => {
    const path = '/proc/sys/vm/nr_hugepages';
    const before = readNumber(path);
    let reserved = false;
    beforeAll(() => {
      if (before === null || process.getuid?.() !== 0) return;
      try {
        writeFileSync(path, String(before + 2));
        reserved = (readNumber('/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages') ?? 0) >= 2;
      } catch {
        reserved = false;
      }
    });
    afterAll(() => {
      if (before !== null && process.getuid?.() === 0) writeFileSync(path, String(before));
    });

    it('allocates from the pool, 2 MiB aligned (skips unless root could reserve two pages)', (ctx) => {
      if (!reserved) ctx.skip();
      using b = backend.allocBuffer({ size: SZ_2M, backing: 'hugetlb', prefault: true });
      expect(b.pageSize).toBe(SZ_2M);
      expect(b.vaddr % SZ_2M).toBe(0n);
      expect(smapsAt(b.vaddr)!.vmFlags).toContain('ht');
      b.bytes[2 * 1024 * 1024 - 1] = 7;
      expect(b.bytes[2 * 1024 * 1024 - 1]).toBe(7);
    });
  });
});

describe('buffer lifetimes', () => {
  it('close() detaches the view, unmaps, and is harmless twice', () => {
    const b: DmaBuffer = backend.allocBuffer({ size: 8192, backing: '4k' });
    const view = b.bytes;
    const alias = new Uint32Array(view.buffer);
    view[0] = 1;
    const vaddr = b.vaddr;
    b.close();
    expect(b.closed).toBe(true);
    expect(view.byteLength).toBe(0);
    expect(alias.length).toBe(0);
    expect(b.bytes.byteLength).toBe(0);
    expect(smapsAt(vaddr)?.start).not.toBe(vaddr);
    b.close();
  });

  it('using a closed buffer through the addon is an EBADF VfioError', () => {
    const raw = addon.allocBuffer(4096n, '4k', 0n, false);
    raw.close();
    expectVfioError(() => raw.bytes(), 'EBADF', 'DmaBuffer.bytes');
    expect(raw.vaddr).toBeTypeOf('bigint'); // metadata stays readable
  });

  it('bytes is one stable view while open', () => {
    using b = backend.allocBuffer({ size: 4096, backing: '4k' });
    expect(b.bytes).toBe(b.bytes);
    expect(b.bytes.buffer).toBe(b.bytes.buffer);
  });

  it('a collected wrapper leaves a live view intact; the pages go with the view', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(new URL('./children/gc-view.cjs', import.meta.url)), root],
      { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ sum: 0xab * 256, pages: 256, stillMapped: true, unmappedAfter: true });
  });

  it('workers and the main thread may exit with objects open', () => {
    const out = execFileSync(process.execPath, [fileURLToPath(new URL('./children/worker-teardown.cjs', import.meta.url)), root],
      { cwd: root, encoding: 'utf8' });
    expect(out.trim().split('\n').sort()).toEqual(['main done', 'worker done', 'worker done']);
  });

  it('buffer errors are VfioErrors, argument misuse is not', () => {
    expect(() => backend.allocBuffer({ size: 4096, backing: 'huge' as '4k' })).toThrow(TypeError);
    expect(() => backend.allocBuffer({ size: 0, backing: '4k' })).toThrow(RangeError);
    expect(() => backend.allocBuffer({ size: 1.5, backing: '4k' })).toThrow(RangeError);
    expect(() => backend.allocBuffer({ size: 4096, backing: 'hugetlb', hugePageSize: SZ_4K })).toThrow(RangeError);
    expect(() => backend.allocBuffer({ size: 1n << 50n, backing: '4k' })).toThrow(VfioError);
  });
});
