// The kernel's own pin path (iommufd_access_pin_pages through an IOMMUFD_TEST
// access object) on the real kernel: on the lane's "built" kernel it runs and
// the bench prints its table beside the review thread's figures; on a kernel
// without CONFIG_IOMMUFD_TEST (the Debian one) it must say "unavailable" and
// why, and never show a figure.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../lib/backend.js';
import { formatKernelPin, runKernelPin } from '../../lib/bench/kernel-pin.js';
import { kernelPinAvailability, kernelPinRun, nativeKernelPinner } from '../../lib/native/kernel-pin.js';
import { main } from '../../lib/cli/run.js';
import { onVfioHost, SKIP_REASON } from './lane.js';
import { nativeBackend } from './native-backend.js';

const kernel = process.env.VFIO_HIL_KERNEL ?? 'unknown';

function pinnedKiB(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s*(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return kb('VmLck') + kb('VmPin');
}

function captureIo() {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: { write: (s: string) => { out += s; return true; } },
      stderr: { write: (s: string) => { err += s; return true; }, isTTY: false },
    },
    out: () => out,
    err: () => err,
  };
}

describe.skipIf(!onVfioHost)(`kernel pin path, IOMMUFD_TEST access (${SKIP_REASON})`, () => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await nativeBackend();
  });

  const avail = onVfioHost ? kernelPinAvailability() : { available: false, reason: SKIP_REASON };

  it.skipIf(kernel !== 'debian')('says unavailable, and why, on the Debian kernel (no CONFIG_IOMMUFD_TEST)', async () => {
    expect(avail.available).toBe(false);
    expect(avail.reason).toMatch(/IOMMUFD_TEST|\/dev\/iommu/);
    const r = runKernelPin({ reps: 5, warmup: 1, backend, pinner: nativeKernelPinner });
    expect(r.available).toBe(false);
    expect(r.cells).toEqual([]);
    const c = captureIo();
    const code = await main(['bench', '--suite', 'kernel-pin'], c.io as never);
    expect(code, c.err()).toBe(0);
    expect(c.out()).toMatch(/Kernel pin path.*\n\s+unavailable: .*(IOMMUFD_TEST|\/dev\/iommu)/);
    expect(c.out()).not.toMatch(/\d,\d{3}/);
  });

  describe.skipIf(!avail.available)(`on a kernel with IOMMUFD_TEST (${avail.reason ?? 'available'})`, () => {
    let base: number;
    beforeAll(() => {
      base = pinnedKiB();
    });
    afterAll(() => {
      // Every repetition unpins, and closing the access releases the rest.
      expect(pinnedKiB()).toBe(base);
    });

    it('pins and unpins through the access, one call per page and one call for the run', () => {
      const buf = backend.allocBuffer({ size: 512n * 4096n, backing: '4k', prefault: true });
      try {
        const each = kernelPinRun(buf, 512, true, 3, 1);
        const run = kernelPinRun(buf, 512, false, 3, 1);
        expect(each.calls).toBe(512);
        expect(run.calls).toBe(1);
        for (const t of [each, run]) {
          expect(t.pinNs.length).toBe(3);
          for (const v of [...t.pinNs, ...t.unpinNs]) expect(v).toBeGreaterThan(0);
        }
        expect(pinnedKiB()).toBe(base);
      } finally {
        buf.close();
      }
    });

    it('refuses memory the addon does not own, before any system call', () => {
      const buf = backend.allocBuffer({ size: 4096n, backing: '4k' });
      try {
        expect(() => kernelPinRun(buf, 2, false, 1)).toThrow(RangeError);
      } finally {
        buf.close();
      }
      expect(() => kernelPinRun(buf, 1, false, 1)).toThrow(/inside one open DmaBuffer/);
    });

    it('vfio bench --suite kernel-pin prints the table beside the kernel thread\'s figures', async () => {
      const c = captureIo();
      const code = await main(['bench', '--suite', 'kernel-pin', '--reps', '51', '--warmup', '3'], c.io as never);
      expect(code, c.err()).toBe(0);
      console.log(c.out());
      const text = c.out();
      expect(text).toContain('iommufd_access_pin_pages');
      expect(text).toContain(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
      expect(text).toContain('kernel thread');
      expect(text).not.toContain('unavailable');
      // 1 page x 3 backings + 512 pages x 3 backings x 2 modes, each row a figure or a named skip.
      const json = captureIo();
      expect(await main(['bench', '--suite', 'kernel-pin', '--reps', '5', '--json'], json.io as never)).toBe(0);
      const r = JSON.parse(json.out()) as ReturnType<typeof runKernelPin>;
      expect(r.available).toBe(true);
      expect(r.cells).toHaveLength(9);
      for (const cell of r.cells) {
        if (cell.skipped) continue;
        expect(cell.samples).toHaveLength(5);
        expect(cell.median).toBeGreaterThan(0);
        expect(cell.calls).toBe(cell.mode === 'per-page' ? cell.pages : 1);
      }
      expect(formatKernelPin(r)).toContain('speed-up');
    });
  });
});
